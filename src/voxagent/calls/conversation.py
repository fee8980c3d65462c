"""What the call layer needs from a conversation, whatever carries it.

A media-stream call (:class:`voxagent.conversation.call.Call`), a webhook-mode call and, later,
a browser session all offer this, so one registry can drain, record and close them alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from voxagent.calls.info import CallInfo
from voxagent.conversation.counters import CallCounters
from voxagent.conversation.history import History
from voxagent.conversation.timeline import TurnTimeline

__all__ = ["Conversation"]


class Conversation(Protocol):
    info: CallInfo
    history: History
    counters: CallCounters
    outcome: str

    @property
    def call_id(self) -> str: ...

    @property
    def turns(self) -> Iterable[TurnTimeline]: ...

    @property
    def ended(self) -> bool: ...

    async def end(self, outcome: str) -> None:
        """Stop at once (the line is gone)."""
        ...

    def say_and_end(self, line: str, outcome: str) -> None:
        """Say ``line`` (cutting in if need be), then hang up: a polite end for a drain."""
        ...
