"""What a call needs from the line it is on (Telnyx stream, browser socket, test double).

The channel declares the call's audio format once (:attr:`Channel.audio_format`); the engine
then moves bytes in exactly that format both ways, so a phone's μ-law reaches the recognizer
and a μ-law voice reaches the phone untouched.
"""

from __future__ import annotations

from typing import Protocol

from voxagent.audio.format import AudioFormat


class Channel(Protocol):
    @property
    def audio_format(self) -> AudioFormat:
        """The line's own format, in both directions."""
        ...

    @property
    def echo_margin_db(self) -> float | None:
        """How much louder than the agent's own audio the caller must be, while the agent
        speaks, to count as speech; None for a line with echo cancellation (a phone)."""
        ...

    def played_bytes(self) -> int | None:
        """How much of the agent's audio the far end reports it has played (bytes since the
        call began), or None when it cannot tell (the engine then goes by the clock)."""
        ...

    async def send_audio(self, frame: bytes) -> None:
        """Send one frame (20 ms, in :attr:`audio_format`) to the caller."""
        ...

    async def send_mark(self, name: str) -> None:
        """Ask to be told (via ``Call.mark_played``) when audio sent so far has been played."""
        ...

    async def clear(self) -> None:
        """Drop audio the far end has buffered but not yet played (barge-in)."""
        ...

    async def hangup(self, reason: str) -> None: ...

    async def transfer(self, to: str | None) -> None: ...
