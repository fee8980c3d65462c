"""What a call needs from the line it is on (Telnyx stream, browser socket, test double).

The engine speaks in int16 PCM at ``sample_rate``; the channel owns the wire format.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Channel(Protocol):
    sample_rate: int

    async def send_audio(self, pcm: np.ndarray) -> None:
        """Send one frame (normally 20 ms) to the caller."""
        ...

    async def send_mark(self, name: str) -> None:
        """Ask to be told (via ``Call.mark_played``) when audio sent so far has been played."""
        ...

    async def clear(self) -> None:
        """Drop audio the far end has buffered but not yet played (barge-in)."""
        ...

    async def hangup(self, reason: str) -> None: ...

    async def transfer(self, to: str | None) -> None: ...
