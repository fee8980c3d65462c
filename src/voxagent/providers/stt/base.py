"""The shape every speech recognizer has, so the engine never knows which one it drives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

InterimCallback = Callable[[str], None]


class TranscriptionStream(Protocol):
    """One caller utterance being recognized while it is spoken."""

    def feed(self, pcm: np.ndarray) -> None:
        """Queue int16 audio at the stream's sample rate; never blocks."""
        ...

    async def finish(self) -> str:
        """The caller stopped: return the final transcript ('' when nothing was recognized)."""
        ...

    def abort(self) -> None:
        """Forget this utterance (call ended, or the audio was not speech after all)."""
        ...


class SpeechToText(Protocol):
    name: str
    languages: frozenset[str]

    def open_stream(self, sample_rate: int, on_interim: InterimCallback) -> TranscriptionStream: ...

    async def close(self) -> None: ...
