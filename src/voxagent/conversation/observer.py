"""What a call tells whoever watches it live (a browser page): words, state, turns, cuts.

The engine calls these as things happen; a phone call has nobody watching
(:class:`NoObserver`). Callbacks are synchronous and must not block: an observer queues its
own work (the browser session has one writer task per connection).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from voxagent.conversation.timeline import TurnTimeline

__all__ = ["CallObserver", "NoObserver"]


class CallObserver(Protocol):
    def user_text(self, text: str, *, final: bool, turn: int | None) -> None:
        """What the caller is saying (interim) or said (final, with its turn)."""
        ...

    def agent_text(self, text: str, turn: int) -> None:
        """The agent's words as they are produced, before they are spoken."""
        ...

    def state_changed(self, state: str) -> None:
        """``listening``, ``user_speaking``, ``thinking``, ``speaking`` or ``ended``."""
        ...

    def turn_finished(self, turn: TurnTimeline) -> None:
        """A turn is over (answered, or cut by a barge-in): its latencies are final."""
        ...

    def interrupted(self, turn: TurnTimeline, heard: str, reason: str) -> None:
        """The agent stopped mid-reply; ``heard`` is what the history keeps."""
        ...

    def tool_used(self, name: str, arguments: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """The agent ran a tool."""
        ...


class NoObserver:
    def user_text(self, text: str, *, final: bool, turn: int | None) -> None:
        pass

    def agent_text(self, text: str, turn: int) -> None:
        pass

    def state_changed(self, state: str) -> None:
        pass

    def turn_finished(self, turn: TurnTimeline) -> None:
        pass

    def interrupted(self, turn: TurnTimeline, heard: str, reason: str) -> None:
        pass

    def tool_used(self, name: str, arguments: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        pass
