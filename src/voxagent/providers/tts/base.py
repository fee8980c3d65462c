"""The shape every voice has: text in, audio bytes out, in the voice's own format."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from voxagent.audio.format import AudioFormat


class TextToSpeech(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def output_format(self) -> AudioFormat:
        """What :meth:`synthesize` yields. A voice instance speaks one format; a call gets
        the instance whose format is closest to its own (see ``calls.factory``)."""
        ...

    def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Stream the audio of ``text`` (one sentence, usually) as chunks of bytes."""
        ...

    async def close(self) -> None: ...
