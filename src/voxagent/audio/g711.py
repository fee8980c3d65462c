"""G.711 μ-law (PCMU) and A-law (PCMA) codecs built on numpy lookup tables.

Phone audio arrives 50 times a second per call, so the per-frame cost must stay in the
microseconds: every byte→sample and sample→byte mapping is precomputed once at import
(256 entries to decode, 65536 to encode) and a frame is converted with a single numpy
gather. The stdlib ``audioop`` module is gone in Python 3.13, so we do not rely on it.

The tables follow ITU-T G.711 scaled to 16-bit PCM (the 14-bit μ-law and 13-bit A-law
reference values shifted left by 2 and 3 bits): μ-law decodes to ±32124 at most and
A-law to ±32256. As in the ITU G.191 reference software, negative samples are encoded
from their ones' complement (``~x``), which maps int16's asymmetric range onto
0..32767 without overflow and makes the encoders exactly mirror-symmetric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "G711Codec",
    "UnsupportedEncoding",
    "alaw_decode",
    "alaw_encode",
    "codec_for",
    "ulaw_decode",
    "ulaw_encode",
]

Int16Array = npt.NDArray[np.int16]

_ULAW_BIAS = 0x84  # 132: the 16-bit-scaled bias that makes μ-law segments powers of two
_ULAW_CLIP = 32635  # largest magnitude that still fits after adding the bias


def _build_ulaw_decode() -> Int16Array:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF  # μ-law bytes are sent inverted
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


def _build_alaw_decode() -> Int16Array:
    codes = np.arange(256, dtype=np.int32) ^ 0x55  # A-law flips alternate bits on the wire
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    # In A-law a set sign bit means *positive*.
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


def _all_int16() -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Every int16 value laid out by its uint16 bit pattern, plus its ones'-complement magnitude."""
    x = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    return x, np.where(x < 0, ~x, x)


def _segment(value: npt.NDArray[np.int32], lowest_bit: int) -> npt.NDArray[np.int32]:
    """Index of the highest set bit above ``lowest_bit`` (0..7): the G.711 segment number."""
    highest = np.frexp(np.maximum(value, 1))[1] - 1  # exact, unlike floor(log2(...))
    segment: npt.NDArray[np.int32] = np.clip(highest - lowest_bit, 0, 7).astype(np.int32)
    return segment


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    x, magnitude = _all_int16()
    biased = np.minimum(magnitude, _ULAW_CLIP) + _ULAW_BIAS
    exponent = _segment(biased, 7)
    mantissa = (biased >> (exponent + 3)) & 0x0F
    sign = np.where(x < 0, 0x80, 0x00)
    table: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return table


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    x, magnitude = _all_int16()
    exponent = _segment(magnitude, 7)
    mantissa = np.where(exponent == 0, magnitude >> 4, magnitude >> (exponent + 3)) & 0x0F
    sign = np.where(x < 0, 0x00, 0x80)
    table: npt.NDArray[np.uint8] = ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8)
    return table


_ULAW_TO_PCM = _build_ulaw_decode()
_ALAW_TO_PCM = _build_alaw_decode()
_PCM_TO_ULAW = _build_ulaw_encode()
_PCM_TO_ALAW = _build_alaw_encode()


def _pcm_index(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.uint16]:
    """Reinterpret int16 samples as uint16 table indices (no copy for 1-D input)."""
    if pcm.dtype != np.int16:
        raise TypeError(f"expected int16 PCM samples, got dtype {pcm.dtype}")
    return pcm.reshape(-1).view(np.uint16)


def ulaw_decode(data: bytes) -> Int16Array:
    """Decode μ-law bytes (one sample per byte) to int16 PCM."""
    return _ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Encode int16 PCM to μ-law bytes."""
    return _PCM_TO_ULAW[_pcm_index(pcm)].tobytes()


def alaw_decode(data: bytes) -> Int16Array:
    """Decode A-law bytes (one sample per byte) to int16 PCM."""
    return _ALAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """Encode int16 PCM to A-law bytes."""
    return _PCM_TO_ALAW[_pcm_index(pcm)].tobytes()


class UnsupportedEncoding(ValueError):
    """The stream announced a codec we cannot decode (only G.711 is handled here)."""


@dataclass(frozen=True)
class G711Codec:
    """One G.711 variant, chosen once per call from the stream's ``media_format``.

    ``silence_byte`` is what the codec sends for digital silence; it is used to pad
    frames and to generate comfort silence without encoding zeros each time.
    """

    name: str
    decode: Callable[[bytes], Int16Array]
    encode: Callable[[npt.NDArray[np.int16]], bytes]
    silence_byte: int


PCMU = G711Codec(name="PCMU", decode=ulaw_decode, encode=ulaw_encode, silence_byte=0xFF)
PCMA = G711Codec(name="PCMA", decode=alaw_decode, encode=alaw_encode, silence_byte=0xD5)

_CODECS: dict[str, G711Codec] = {
    "PCMU": PCMU,
    "PCMA": PCMA,
    "AUDIO/X-MULAW": PCMU,  # Twilio's spelling
}


def codec_for(encoding: str) -> G711Codec:
    """Return the codec for a stream encoding name such as ``"PCMU"`` (case-insensitive)."""
    codec = _CODECS.get(encoding.strip().upper())
    if codec is None:
        raise UnsupportedEncoding(
            f"unsupported audio encoding {encoding!r}: expected PCMU (μ-law) or PCMA (A-law); "
            "set the stream codec to PCMU or PCMA"
        )
    return codec
