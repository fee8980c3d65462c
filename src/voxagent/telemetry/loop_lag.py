"""Event-loop lag, measured: how late a timer fires. A blocked loop delays every call's audio,
so this is the first number to look at when latency rises and CPU does not."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["LoopLagMonitor"]

INTERVAL_S = 0.5


class LoopLagMonitor:
    def __init__(self, observe: Callable[[float], None], interval_s: float = INTERVAL_S) -> None:
        self.observe = observe
        self.interval_s = interval_s
        self.last_s = 0.0
        self.max_s = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, loop.time() - due)
            self.last_s = lag
            self.max_s = max(self.max_s, lag)
            self.observe(lag)
