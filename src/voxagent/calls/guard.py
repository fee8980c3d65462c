"""Every outbound call passes here first: where it may go, how often, and how many at once.

The guard stands between an API key and the phone bill. A number outside the allowed prefixes
is refused before anything is dialled; a key placing calls faster than ``CALLS_PER_MINUTE`` is
told when to retry; and at most ``MAX_CONCURRENT_CALLS`` outbound calls are in progress, counted
from the session store, so single calls and batches share one budget. A single call over the
budget is refused at once (429); a batch waits for a slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from voxagent.calls.sessions import Session, SessionStore
from voxagent.security.dial_policy import DialPolicy
from voxagent.security.rate_limit import RateLimiter

__all__ = ["AtCapacity", "OutboundGuard"]

CAPACITY_POLL_S = 0.25


class AtCapacity(Exception):
    """``MAX_CONCURRENT_CALLS`` outbound calls are already in progress."""


class OutboundGuard:
    def __init__(
        self,
        policy: DialPolicy,
        sessions: SessionStore,
        *,
        max_concurrent: int,
        calls_per_minute: int,
    ) -> None:
        self.policy = policy
        self.sessions = sessions
        self.max_concurrent = max_concurrent
        self.limiter = RateLimiter(calls_per_minute, 60.0)
        self._lock = asyncio.Lock()

    def refusal(self, number: str) -> str | None:
        """Why ``number`` may not be dialled (toll-fraud guard), or None."""
        return self.policy.refusal(number)

    def wait_for_rate(self, key_id: str) -> float | None:
        """Count one placement for ``key_id``; the seconds to wait when over its rate."""
        return self.limiter.check(key_id)

    async def in_progress(self) -> int:
        return sum(1 for s in await self.sessions.active() if s.direction == "outbound")

    async def admit(self, create: Callable[[], Awaitable[Session]], *, wait: bool) -> Session:
        """Create the call's session once there is room for one more call in progress.

        Counting and creating happen under one lock, so two requests cannot both take the last
        slot. ``wait=False`` raises :class:`AtCapacity` instead of waiting.
        """
        while True:
            async with self._lock:
                if await self.in_progress() < self.max_concurrent:
                    return await create()
            if not wait:
                raise AtCapacity(
                    f"{self.max_concurrent} outbound calls are in progress (MAX_CONCURRENT_CALLS)"
                )
            await asyncio.sleep(CAPACITY_POLL_S)
