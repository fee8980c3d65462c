"""G.711 tables checked against the standard's formulas, exhaustively where the domain allows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from voxagent.audio.g711 import (
    G711Codec,
    UnsupportedEncoding,
    alaw_decode,
    alaw_encode,
    codec_for,
    ulaw_decode,
    ulaw_encode,
)

Decode = Callable[[bytes], np.ndarray]
Encode = Callable[[np.ndarray], bytes]

ALL_CODES = bytes(range(256))
ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)


# Scalar references written from the G.711 definitions (14-bit μ-law, 13-bit A-law),
# deliberately in a different form from the module's vectorised tables.
def ref_ulaw_decode(code: int) -> int:
    u = ~code & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 7, u & 0x0F
    value14 = ((2 * mantissa + 33) << exponent) - 33
    return -4 * value14 if sign else 4 * value14


def ref_alaw_decode(code: int) -> int:
    a = code ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 7, a & 0x0F
    value13 = 2 * mantissa + 1 if exponent == 0 else (2 * mantissa + 33) << (exponent - 1)
    return 8 * value13 if sign else -8 * value13


def test_decode_tables_match_the_standard_formulas() -> None:
    assert ulaw_decode(ALL_CODES).tolist() == [ref_ulaw_decode(c) for c in range(256)]
    assert alaw_decode(ALL_CODES).tolist() == [ref_alaw_decode(c) for c in range(256)]


@pytest.mark.parametrize(
    ("decode", "code", "value"),
    [
        (ulaw_decode, 0xFF, 0),
        (ulaw_decode, 0x7F, 0),  # "negative zero"
        (ulaw_decode, 0x00, -32124),
        (ulaw_decode, 0x80, 32124),
        (ulaw_decode, 0xFE, 8),
        (ulaw_decode, 0x7E, -8),
        (alaw_decode, 0xD5, 8),
        (alaw_decode, 0x55, -8),
        (alaw_decode, 0xAA, 32256),
        (alaw_decode, 0x2A, -32256),
    ],
)
def test_known_decode_values(decode: Decode, code: int, value: int) -> None:
    out = decode(bytes([code]))
    assert out.dtype == np.int16
    assert out.tolist() == [value]


@pytest.mark.parametrize(
    ("encode", "sample", "code"),
    [
        (ulaw_encode, 0, 0xFF),
        (ulaw_encode, -1, 0x7F),
        (ulaw_encode, 32767, 0x80),
        (ulaw_encode, -32768, 0x00),
        (alaw_encode, 0, 0xD5),
        (alaw_encode, -1, 0x55),
        (alaw_encode, 32767, 0xAA),
        (alaw_encode, -32768, 0x2A),
    ],
)
def test_known_encode_values(encode: Encode, sample: int, code: int) -> None:
    assert encode(np.array([sample], dtype=np.int16)) == bytes([code])


def test_ulaw_byte_round_trip_except_negative_zero() -> None:
    """Every μ-law code survives decode→encode, except 0x7F which decodes to 0 → 0xFF."""
    back = ulaw_encode(ulaw_decode(ALL_CODES))
    changed = [c for c in range(256) if back[c] != c]
    assert changed == [0x7F]
    assert back[0x7F] == 0xFF


def test_alaw_byte_round_trip_is_exact() -> None:
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


def _half_step_ulaw(decoded: np.ndarray) -> np.ndarray:
    # Decoded μ-law values sit mid-interval; an interval in segment e is 8 << e wide.
    segment = (np.frombuffer(ulaw_encode(decoded), np.uint8) ^ 0xFF) >> 4 & 7
    return (4 << segment.astype(np.int64)).astype(np.int64)


def _half_step_alaw(decoded: np.ndarray) -> np.ndarray:
    segment = (np.frombuffer(alaw_encode(decoded), np.uint8) ^ 0x55) >> 4 & 7
    return np.where(segment == 0, 8, 4 << segment.astype(np.int64))


def test_ulaw_quantisation_error_is_within_half_a_step_for_every_sample() -> None:
    x = ALL_PCM.astype(np.int64)
    y = ulaw_decode(ulaw_encode(ALL_PCM)).astype(np.int64)
    in_range = np.abs(x) <= 32635  # above this μ-law clips to its largest code
    # +1 because negatives are encoded from ~x (G.191), shifting decision points by one.
    assert np.all(np.abs(x - y)[in_range] <= _half_step_ulaw(y.astype(np.int16))[in_range] + 1)
    assert np.all(np.abs(y[~in_range]) == 32124)
    assert np.all(np.diff(y) >= 0), "quantiser must be monotonic"


def test_alaw_quantisation_error_is_within_half_a_step_for_every_sample() -> None:
    x = ALL_PCM.astype(np.int64)
    y = alaw_decode(alaw_encode(ALL_PCM)).astype(np.int64)
    assert np.all(np.abs(x - y) <= _half_step_alaw(y.astype(np.int16)) + 1)
    assert np.all(np.diff(y) >= 0), "quantiser must be monotonic"


def test_encoders_are_mirror_symmetric_under_ones_complement() -> None:
    positive = ALL_PCM[ALL_PCM >= 0]
    for encode in (ulaw_encode, alaw_encode):
        a = np.frombuffer(encode(positive), np.uint8)
        b = np.frombuffer(encode(~positive), np.uint8)
        assert np.array_equal(a ^ 0x80, b)


@given(st.binary(max_size=400))
def test_byte_strings_round_trip(data: bytes) -> None:
    assert alaw_encode(alaw_decode(data)) == data
    assert ulaw_encode(ulaw_decode(data)) == data.replace(b"\x7f", b"\xff")
    assert len(ulaw_decode(data)) == len(data)


@given(hnp.arrays(np.int16, hnp.array_shapes(max_dims=2, max_side=64)))
def test_encode_handles_any_shape_and_strided_views(pcm: np.ndarray) -> None:
    flat = np.ascontiguousarray(pcm.reshape(-1))
    for encode in (ulaw_encode, alaw_encode):
        assert encode(pcm) == encode(flat)
        assert encode(pcm.reshape(-1)[::2]) == encode(flat)[::2]


def test_encode_rejects_non_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        ulaw_encode(np.zeros(4, dtype=np.float32))
    with pytest.raises(TypeError, match="int16"):
        alaw_encode(np.zeros(4, dtype=np.int32))


def test_decode_empty() -> None:
    assert ulaw_decode(b"").shape == (0,)
    assert alaw_decode(b"").dtype == np.int16


@pytest.mark.parametrize(
    ("name", "codec_name", "silence"),
    [
        ("PCMU", "PCMU", 0xFF),
        ("pcmu", "PCMU", 0xFF),
        ("audio/x-mulaw", "PCMU", 0xFF),
        ("PCMA", "PCMA", 0xD5),
        ("pcma", "PCMA", 0xD5),
    ],
)
def test_codec_for(name: str, codec_name: str, silence: int) -> None:
    codec = codec_for(name)
    assert isinstance(codec, G711Codec)
    assert codec.name == codec_name
    assert codec.silence_byte == silence
    frame = bytes([codec.silence_byte]) * 160
    assert np.all(np.abs(codec.decode(frame)) <= 8)
    assert codec.encode(np.zeros(160, dtype=np.int16)) == frame


@pytest.mark.parametrize("name", ["G722", "OPUS", "L16", "", "PCM", "ulaw"])
def test_codec_for_rejects_other_encodings(name: str) -> None:
    with pytest.raises(UnsupportedEncoding, match="unsupported audio encoding") as info:
        codec_for(name)
    assert isinstance(info.value, ValueError)
    assert repr(name) in str(info.value)
