"""The shape every speech recognizer has, so the engine never knows which one it drives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from voxagent.audio.format import AudioFormat

InterimCallback = Callable[[str], None]


class TranscriptionStream(Protocol):
    """One caller utterance being recognized while it is spoken."""

    def feed(self, audio: bytes) -> None:
        """Queue audio in the stream's format; never blocks."""
        ...

    async def finish(self) -> str:
        """The caller stopped: return the final transcript ('' when nothing was recognized)."""
        ...

    def abort(self) -> None:
        """Forget this utterance (call ended, or the audio was not speech after all)."""
        ...


class SpeechToText(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def languages(self) -> frozenset[str]: ...

    def open_stream(self, fmt: AudioFormat, on_interim: InterimCallback) -> TranscriptionStream:
        """A stream fed with audio in ``fmt`` (the call's own format). A recognizer that needs
        another format converts it once, inside the stream."""
        ...

    async def close(self) -> None: ...
