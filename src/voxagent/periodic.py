"""Background work that runs every few seconds for the life of the server (heartbeats, rescue
sweeps, heap trims): one task, started once, cancelled and awaited on stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]


class Periodic:
    def __init__(
        self,
        interval_s: float,
        tick: Callable[[], Awaitable[object]],
        *,
        name: str,
        at_once: bool = False,
    ) -> None:
        """``tick`` runs every ``interval_s`` (first at once with ``at_once``); it handles
        its own failures: one that escapes ends the loop."""
        self.interval_s = interval_s
        self._tick = tick
        self._name = name
        self._at_once = at_once
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self._at_once:
            await self._tick()
        while True:
            await asyncio.sleep(self.interval_s)
            await self._tick()
