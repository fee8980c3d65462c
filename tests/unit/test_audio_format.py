"""Audio formats and the one converter between them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxagent.audio.format import (
    PCM16_16K,
    PCMA_8K,
    PCMU_8K,
    AudioConverter,
    AudioFormat,
    Encoding,
)
from voxagent.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

FORMATS = [PCMU_8K, PCMA_8K, AudioFormat(Encoding.PCM16, 8000), PCM16_16K]


def tone(rate: int, seconds: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


def test_g711_is_8k_only() -> None:
    with pytest.raises(ValueError, match="8 kHz"):
        AudioFormat(Encoding.MULAW, 16000)


def test_sizes_and_silence() -> None:
    assert PCMU_8K.bytes_for_ms(20) == 160
    assert PCM16_16K.bytes_for_ms(20) == 640
    assert PCM16_16K.seconds(32000) == 1.0
    assert PCMU_8K.silence(3) == b"\xff\xff\xff"
    assert PCMA_8K.silence(1) == b"\xd5"
    assert not any(PCM16_16K.silence(4))
    assert PCMU_8K.decode(PCMU_8K.silence(160)).max() == 0


def test_decode_and_encode_use_the_g711_tables() -> None:
    data = bytes(range(256))
    assert np.array_equal(PCMU_8K.decode(data), ulaw_decode(data))
    assert np.array_equal(PCMA_8K.decode(data), alaw_decode(data))
    pcm = tone(8000)
    assert PCMU_8K.encode(pcm) == ulaw_encode(pcm)
    assert PCMA_8K.encode(pcm) == alaw_encode(pcm)
    assert np.array_equal(PCM16_16K.decode(PCM16_16K.encode(pcm)), pcm)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_equal_formats_pass_the_same_bytes_through(fmt: AudioFormat) -> None:
    converter = AudioConverter(fmt, fmt)
    data = bytes(range(256)) * 3  # every μ-law/A-law code, both zeros included
    assert converter.passthrough
    assert converter.convert(data) is data
    assert converter.flush() == b""


def test_mulaw_to_alaw_is_one_table_step_with_no_resampler() -> None:
    pcm = tone(8000)
    out = AudioConverter(PCMU_8K, PCMA_8K).convert(ulaw_encode(pcm))
    assert out == alaw_encode(ulaw_decode(ulaw_encode(pcm)))


def test_resampling_conversion_keeps_length_and_pitch() -> None:
    source = AudioFormat(Encoding.PCM16, 22050)
    converter = AudioConverter(source, PCMU_8K)
    pcm = tone(22050, 1.0)
    chunks = [converter.convert(source.encode(pcm[i : i + 1000])) for i in range(0, len(pcm), 1000)]
    out = PCMU_8K.decode(b"".join(chunks) + converter.flush())
    assert abs(len(out) - 8000) <= 8
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * 8000 / len(out)
    assert abs(peak_hz - 440) < 5


def test_an_odd_pcm_byte_waits_for_the_next_chunk() -> None:
    source = AudioFormat(Encoding.PCM16, 8000)
    converter = AudioConverter(source, PCMU_8K)
    assert converter.convert(b"\x01") == b""
    assert converter.convert(b"\x02\x03") == ulaw_encode(np.array([0x0201], dtype=np.int16))
    assert converter.convert(b"\x04") == ulaw_encode(np.array([0x0403], dtype=np.int16))


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=8))
def test_conversion_does_not_depend_on_chunking(data: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    for source, target in [
        (AudioFormat(Encoding.PCM16, 8000), PCMU_8K),
        (PCMU_8K, PCMA_8K),
        (PCMA_8K, AudioFormat(Encoding.PCM16, 8000)),
    ]:
        whole = AudioConverter(source, target).convert(data)
        converter = AudioConverter(source, target)
        pieces = [converter.convert(data[a:b]) for a, b in itertools.pairwise(bounds)]
        assert b"".join(pieces) == whole
