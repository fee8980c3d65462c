"""The shape every voice has: text in, int16 audio chunks out, at the voice's own rate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np


class TextToSpeech(Protocol):
    name: str
    sample_rate: int

    def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        """Stream the audio of ``text`` (one sentence, usually) as int16 chunks."""
        ...

    async def close(self) -> None: ...
