"""What audio looks like on a wire: an encoding and a sample rate, and the one way to convert.

A call's format is declared by its channel (a phone line: μ-law or A-law at 8 kHz; a browser:
16-bit PCM at 16 kHz) and everything inside the call moves bytes in that format. Providers
that can speak it natively get it untouched; the others go through exactly one
:class:`AudioConverter` (decode → resample → encode, each step only when needed), so no audio
is ever resampled twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

import numpy as np
import numpy.typing as npt

from voxagent.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voxagent.audio.resample import Quality, StreamResampler

__all__ = ["PCM16_16K", "PCMA_8K", "PCMU_8K", "AudioConverter", "AudioFormat", "Encoding"]

Int16Array = npt.NDArray[np.int16]


class Encoding(StrEnum):
    PCM16 = "pcm16"
    """Signed 16-bit little-endian samples."""
    MULAW = "mulaw"
    """G.711 μ-law (PCMU), one byte per sample."""
    ALAW = "alaw"
    """G.711 A-law (PCMA), one byte per sample."""


_SILENCE_BYTE = {Encoding.PCM16: 0x00, Encoding.MULAW: 0xFF, Encoding.ALAW: 0xD5}


@dataclass(frozen=True, slots=True)
class AudioFormat:
    encoding: Encoding
    sample_rate: int

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")
        if self.encoding is not Encoding.PCM16 and self.sample_rate != 8000:
            raise ValueError(f"G.711 {self.encoding} is 8 kHz only, got {self.sample_rate} Hz")

    def __str__(self) -> str:
        return f"{self.encoding}/{self.sample_rate}"

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding is Encoding.PCM16 else 1

    def bytes_for_ms(self, ms: float) -> int:
        """Whole samples' worth of bytes for ``ms`` milliseconds (20 ms at 8 kHz μ-law: 160)."""
        return int(self.sample_rate * ms / 1000) * self.bytes_per_sample

    def seconds(self, nbytes: int) -> float:
        return nbytes / self.bytes_per_sample / self.sample_rate

    def silence(self, nbytes: int) -> bytes:
        """Digital silence in this encoding (μ-law silence is 0xFF, not zero)."""
        return bytes([_SILENCE_BYTE[self.encoding]]) * nbytes

    def decode(self, data: bytes) -> Int16Array:
        """Samples as int16 (for VAD, levels, recordings). PCM is a view, not a copy."""
        match self.encoding:
            case Encoding.PCM16:
                usable = len(data) - len(data) % 2
                return np.frombuffer(data, dtype="<i2", count=usable // 2).astype(
                    np.int16, copy=False
                )
            case Encoding.MULAW:
                return ulaw_decode(data)
            case Encoding.ALAW:
                return alaw_decode(data)
            case _:
                assert_never(self.encoding)

    def encode(self, pcm: Int16Array) -> bytes:
        match self.encoding:
            case Encoding.PCM16:
                return pcm.astype("<i2", copy=False).tobytes()
            case Encoding.MULAW:
                return ulaw_encode(pcm)
            case Encoding.ALAW:
                return alaw_encode(pcm)
            case _:
                assert_never(self.encoding)


PCMU_8K = AudioFormat(Encoding.MULAW, 8000)
PCMA_8K = AudioFormat(Encoding.ALAW, 8000)
PCM16_16K = AudioFormat(Encoding.PCM16, 16000)


class AudioConverter:
    """A stream of bytes in ``source`` → bytes in ``target``, with state across chunks.

    Equal formats pass bytes through untouched (the same object). Otherwise: decode, resample
    once if the rates differ, encode. A 16-bit stream cut at an odd byte keeps the stray byte
    for the next chunk instead of shifting every later sample.
    """

    def __init__(self, source: AudioFormat, target: AudioFormat, *, quality: Quality = "HQ"):
        self.source = source
        self.target = target
        self.passthrough = source == target
        self._resampler = (
            StreamResampler(source.sample_rate, target.sample_rate, quality=quality)
            if source.sample_rate != target.sample_rate
            else None
        )
        self._carry = b""

    def convert(self, data: bytes) -> bytes:
        if self.passthrough:
            return data
        if self.source.encoding is Encoding.PCM16:
            data = self._carry + data
            usable = len(data) - len(data) % 2
            data, self._carry = data[:usable], data[usable:]
        pcm = self.source.decode(data)
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        return self.target.encode(pcm) if len(pcm) else b""

    def flush(self) -> bytes:
        """What the resampler still holds, at the end of a stream (then ready for a new one)."""
        self._carry = b""
        if self._resampler is None:
            return b""
        tail = self._resampler.flush()
        return self.target.encode(tail) if len(tail) else b""
