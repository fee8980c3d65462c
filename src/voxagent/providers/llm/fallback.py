"""A brain over a per-call chain of brains: when a model fails, the next serves the call.

The switch happens only before anything was streamed from the failing model, within the
same request, so the caller never hears half an answer twice; a model that breaks mid-answer
is switched away from for the following turns (the agent apologizes for the broken one).
The last model in the chain is never given up: it is still the best bet for the next turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

from voxagent.providers.errors import ProviderError
from voxagent.providers.fallback import ProviderChain
from voxagent.providers.llm.base import Brain, BrainEvent, Message, ToolSchema

__all__ = ["FallbackBrain"]


class FallbackBrain:
    def __init__(self, chain: ProviderChain[Brain]) -> None:
        self.chain = chain

    @property
    def name(self) -> str:
        return self.chain.name

    @property
    def model(self) -> str:
        current = self.chain.current
        return current.model if current is not None else ""

    async def stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> AsyncGenerator[BrainEvent, None]:
        while (brain := self.chain.current) is not None:
            started = False
            try:
                async with aclosing(brain.stream(system, messages, tools)) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                following = self.chain.fail(brain, exc, keep_last=True)
                if started or following is brain or following is None:
                    raise
        raise ProviderError(self.chain.stage, "no model left")

    async def close(self) -> None:
        """The brains are shared between calls; whoever built them closes them."""
