"""Sample-rate conversion for int16 PCM, built on libsoxr.

Convert only where two ends differ (Piper at 22.05 kHz → phone at 8 kHz, phone → a 16 kHz
recogniser). A call keeps one :class:`StreamResampler` per direction because resampling
20 ms frames independently would reset the filter every frame and click at the seams.

Latency note (measured with soxr 1.1): soxr processes in internal blocks, so the streaming
output arrives in bursts rather than frame by frame, e.g. 8 k→16 k at ``"HQ"`` yields
nothing for the first ~100 ms and then ~100 ms at a time; ``"LQ"`` bursts every ~60 ms;
``"QQ"`` (cubic, no anti-alias filter) is frame-by-frame. Pick the quality per use: speech
recognition tolerates burstiness, a paced outbox should buffer anyway.

libsoxr dithers int16 output, so two streaming runs over the same input may differ by a
couple of LSBs; compare resampled audio with a tolerance, never bit for bit.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import soxr

__all__ = ["Quality", "StreamResampler", "float_to_int16", "resample"]

Int16Array = npt.NDArray[np.int16]
Quality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]

_EMPTY = np.zeros(0, dtype=np.int16)


def _as_int16(pcm: npt.NDArray[np.int16]) -> Int16Array:
    if pcm.dtype != np.int16:
        raise TypeError(f"expected int16 PCM samples, got dtype {pcm.dtype}")
    if pcm.ndim != 1:
        raise ValueError(f"expected mono PCM of shape (n,), got shape {pcm.shape}")
    return np.ascontiguousarray(pcm)  # soxr's binding rejects strided views


class StreamResampler:
    """Stateful mono int16 resampler: feed consecutive chunks, then :meth:`flush` once.

    The filter state carries across :meth:`process` calls so chunk boundaries are
    inaudible. When the rates are equal the input is returned unchanged (no copy), which
    lets callers always hold a resampler instead of special-casing matching rates.
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: Quality = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} → {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)

    @property
    def passthrough(self) -> bool:
        """True when no conversion happens (equal rates)."""
        return self._stream is None

    def process(self, pcm: npt.NDArray[np.int16]) -> Int16Array:
        """Resample the next chunk; may return fewer (even zero) samples while soxr buffers."""
        pcm = _as_int16(pcm)
        if self._stream is None:
            return pcm
        out: Int16Array = self._stream.resample_chunk(pcm)
        return out

    def flush(self) -> Int16Array:
        """Return the samples still held in the filter and reset for a new, unrelated stream.

        Call it at the end of an utterance or file, never mid-stream: resetting drops the
        filter history and would cut audio (a known pitfall of clearing soxr on a timer).
        """
        if self._stream is None:
            return _EMPTY.copy()
        tail: Int16Array = self._stream.resample_chunk(_EMPTY, last=True)
        self._stream.clear()
        return tail


def resample(
    pcm: npt.NDArray[np.int16], in_rate: int, out_rate: int, *, quality: Quality = "HQ"
) -> Int16Array:
    """Resample a whole int16 signal at once (mono ``(n,)`` or multichannel ``(n, ch)``)."""
    if pcm.dtype != np.int16:
        raise TypeError(f"expected int16 PCM samples, got dtype {pcm.dtype}")
    if in_rate <= 0 or out_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {in_rate} → {out_rate}")
    if in_rate == out_rate or len(pcm) == 0:
        return pcm.copy()
    out: Int16Array = soxr.resample(np.ascontiguousarray(pcm), in_rate, out_rate, quality=quality)
    return out


def float_to_int16(x: npt.NDArray[np.floating[Any]]) -> Int16Array:
    """Convert float audio in [-1.0, 1.0] to int16, clipping overs instead of wrapping.

    Models (TTS, resamplers in float) overshoot full scale slightly; a plain ``astype``
    would wrap +1.01 to a loud negative click.
    """
    scaled = np.clip(x, -1.0, 1.0) * 32767.0
    pcm: Int16Array = np.rint(scaled).astype(np.int16)
    return pcm
