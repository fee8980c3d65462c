"""What the conversation engine needs from an agent, whatever drives it (script or LLM).

An agent turns what the caller said into things to do: words to speak, and at most
one call action (end the call, transfer it). It streams, so the engine can start
speaking the first sentence while later ones are still being produced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Say:
    """Text to speak. May be a fragment; the engine splits it into sentences."""

    text: str


@dataclass(frozen=True, slots=True)
class EndCall:
    """Hang up after the words already produced have been spoken."""

    reason: str = "completed"


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the caller to a person after the words already produced have been spoken."""

    to: str | None = None


AgentAction = Say | EndCall | Transfer


@dataclass(frozen=True, slots=True)
class CallContext:
    """Facts about the call an agent may use (who called, which call it is)."""

    call_id: str
    caller: str = ""
    callee: str = ""
    language: str = "en"


class Agent(Protocol):
    """A conversational brain. One instance serves one call."""

    def greeting(self) -> AsyncIterator[AgentAction]:
        """What to say when the call connects."""
        ...

    def reply(self, transcript: str) -> AsyncIterator[AgentAction]:
        """Respond to one final caller turn."""
        ...

    def interrupted(self, heard_text: str) -> None:
        """The caller cut the agent off; only ``heard_text`` of the last reply was heard."""
        ...
