"""What the conversation engine needs from an agent, whatever drives it (script or LLM).

An agent turns what the caller said into things to do: words to speak, and at most
one call action (end the call, transfer it). It streams, so the engine can start
speaking the first sentence while later ones are still being produced.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
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


class Agent(Protocol):
    """A conversational brain. One instance serves one call.

    Besides talking, an agent declares what the engine may ask of it: whether it can start
    thinking on an interim transcript (``can_prefetch``), and who is answering now
    (``provider_name``, which changes when an LLM agent falls back).
    """

    @property
    def provider_name(self) -> str:
        """Who produces the replies now, for telemetry (``scripted``, a model's provider…)."""
        ...

    @property
    def can_prefetch(self) -> bool:
        """Whether :meth:`prefetch` does anything (speculative replies need it)."""
        ...

    @property
    def last_reply_speculative(self) -> bool:
        """The latest reply was started from a prefetch that the final transcript confirmed."""
        ...

    def greeting(self) -> AsyncGenerator[AgentAction, None]:
        """What to say when the call connects."""
        ...

    def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        """Respond to one final caller turn."""
        ...

    def prefetch(self, transcript: str) -> None:
        """Start thinking about a stable interim transcript; kept only if the final transcript
        has the same words. A no-op for agents that cannot (``can_prefetch`` is False)."""
        ...

    def interrupted(self, heard_text: str) -> None:
        """The caller cut the agent off; only ``heard_text`` of the last reply was heard."""
        ...
