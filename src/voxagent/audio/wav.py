"""Read and write 16-bit PCM WAV files with the stdlib ``wave`` module.

Used for call recordings, test fixtures and simulator prompts. Only 16-bit PCM is
supported because every audio path in voxagent is int16; anything else fails loudly here
rather than producing noise further down.
"""

from __future__ import annotations

import io
import os
import wave

import numpy as np
import numpy.typing as npt

__all__ = ["read_wav", "wav_bytes", "write_wav"]

Int16Array = npt.NDArray[np.int16]
StrPath = str | os.PathLike[str]

_LE_INT16 = np.dtype("<i2")  # WAV samples are little-endian regardless of the host


def wav_bytes(pcm: npt.NDArray[np.int16], rate: int) -> bytes:
    """The bytes of a WAV file holding ``pcm`` (for storage and HTTP, not the disk)."""
    buffer = io.BytesIO()
    write_wav(buffer, pcm, rate)
    return buffer.getvalue()


def write_wav(path: StrPath | io.BytesIO, pcm: npt.NDArray[np.int16], rate: int) -> None:
    """Write int16 samples: shape ``(n,)`` is mono, ``(n, channels)`` is interleaved."""
    if pcm.dtype != np.int16:
        raise ValueError(f"write_wav expects int16 samples, got dtype {pcm.dtype}")
    if pcm.ndim == 1:
        channels = 1
    elif pcm.ndim == 2 and pcm.shape[1] >= 1:
        channels = pcm.shape[1]
    else:
        raise ValueError(f"write_wav expects shape (n,) or (n, channels), got {pcm.shape}")
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    with wave.open(path if isinstance(path, io.BytesIO) else os.fspath(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.ascontiguousarray(pcm, dtype=_LE_INT16).tobytes())


def read_wav(path: StrPath) -> tuple[Int16Array, int]:
    """Return ``(samples, rate)``: mono as shape ``(n,)``, otherwise ``(n, channels)``."""
    try:
        with wave.open(os.fspath(path), "rb") as wav:
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            rate = wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except wave.Error as exc:  # e.g. float or compressed WAV ("unknown format: 3")
        raise ValueError(f"{os.fspath(path)}: not a 16-bit PCM WAV file ({exc})") from exc
    if width != 2:
        raise ValueError(f"{os.fspath(path)}: expected 16-bit PCM WAV, got {8 * width}-bit samples")
    # astype gives a writable copy in native byte order (frombuffer's view is read-only).
    samples = np.frombuffer(frames, dtype=_LE_INT16).astype(np.int16)
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    return samples, rate
