"""One writer per connection: everything sent to a page leaves through one queue, in order.

python-socketio would let two concurrent emits to one client interleave (and audio chunks
arrive out of order); a single writer task per connection keeps the order the call produced.
The queue is bounded: a page that stops reading loses its oldest audio, not the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Emitter"]

log = logging.getLogger(__name__)

MAX_QUEUED = 500
"""Messages waiting for one page (about 10 s of agent audio at 40 ms a chunk)."""

Send = Callable[[str, Any, str, str], Awaitable[None]]
"""``send(event, data, to, sid)``: the namespace's emit to ``to`` (a room, or the connection
``sid`` this emitter writes for)."""


class Emitter:
    def __init__(self, send: Send, sid: str, *, on_sent: Callable[[str], None]) -> None:
        self._send = send
        self.sid = sid
        self._on_sent = on_sent
        self._queue: asyncio.Queue[tuple[str, Any, str] | None] = asyncio.Queue()
        self.dropped = 0
        self._held: list[tuple[str, Any, str]] | None = None
        self._task = asyncio.create_task(self._run(), name=f"emit-{sid}")
        self.mirror: Callable[[str, Any], object] | None = None
        """Also given every event but audio (the WebRTC data channel, once it is open)."""

    def emit(self, event: str, data: Any, to: str | None = None) -> None:
        """Queue ``event`` for this connection (or for ``to``, a room); never blocks."""
        if self.mirror is not None and event != "audio" and self._held is None:
            self.mirror(event, data)
        if self._held is not None:
            self._held.append((event, data, to or self.sid))
            return
        if self._queue.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.put_nowait((event, data, to or self.sid))

    def hold(self) -> None:
        """Keep what is emitted from now on until :meth:`release` (a session being opened:
        its first words must not overtake the event that says it started)."""
        self._held = []

    def release(self, first: tuple[str, Any]) -> None:
        """Send ``first``, then everything held, in order."""
        held, self._held = self._held or [], None
        self.emit(*first)
        for event, data, to in held:
            self.emit(event, data, to)

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            event, data, to = item
            try:
                await self._send(event, data, to, self.sid)
            except Exception:  # a broken socket must not end the writer for others' sake
                log.debug("emit %s to %s failed", event, to, exc_info=True)
                continue
            self._on_sent(event)

    async def close(self) -> None:
        """Send what is queued, then stop (bounded: a dead socket cannot hold us up)."""
        self._queue.put_nowait(None)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), 2.0)
        self._task.cancel()
