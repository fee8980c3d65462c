"""Sessions in Redis that survive Redis going away: calls go on from memory, and what changed
meanwhile is written back when Redis returns.

Every session this instance reads or writes through Redis is also kept in a local
:class:`~voxagent.calls.sessions.MemorySessionStore`. When a Redis command fails (refused,
reset, timed out), the store says so once in the log, serves every call from that memory, and
notes which sessions changed. A background task pings Redis every ``retry_s``; when it
answers, the changed sessions are written back (never moving a session that another instance
advanced further) and the store is shared again, which the log also says once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from voxagent.calls.info import Direction
from voxagent.calls.redis_sessions import RedisSessionStore
from voxagent.calls.sessions import MemorySessionStore, Session, SessionStatus

__all__ = ["ResilientSessionStore"]

log = logging.getLogger(__name__)

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
T = TypeVar("T")


class _Away:
    """What a Redis command gives while Redis is away."""


AWAY = _Away()


class ResilientSessionStore:
    def __init__(
        self,
        shared: RedisSessionStore,
        local: MemorySessionStore | None = None,
        *,
        retry_s: float = 1.0,
    ) -> None:
        self.shared = shared
        self.local = local or MemorySessionStore()
        self.retry_s = retry_s
        self.state: Literal["ok", "degraded"] = "ok"
        self.outages = 0
        self.written_back = 0
        self._changed: set[str] = set()
        self._recovery: asyncio.Task[None] | None = None

    # -------------------------------------------------------------------- the contract
    async def create(
        self, direction: Direction, from_number: str, to_number: str, **fields: Any
    ) -> Session:
        """A new session (``fields`` as :func:`~voxagent.calls.sessions.new_session` takes),
        kept here and, when Redis answers, there."""
        session = await self.local.create(direction, from_number, to_number, **fields)
        if isinstance(await self._shared(lambda: self.shared.put(session)), _Away):
            self._changed.add(session.session_id)
        return session

    async def get(self, session_id: str | None) -> Session | None:
        return await self._session(
            lambda: self.shared.get(session_id), lambda: self.local.get(session_id)
        )

    async def by_call(self, call_control_id: str | None) -> Session | None:
        return await self._session(
            lambda: self.shared.by_call(call_control_id),
            lambda: self.local.by_call(call_control_id),
        )

    async def attach_call(self, session_id: str, call_control_id: str) -> Session | None:
        return await self._session(
            lambda: self.shared.attach_call(session_id, call_control_id),
            lambda: self.local.attach_call(session_id, call_control_id),
            changing=session_id,
        )

    async def new_stream_token(self, session_id: str) -> str:
        async def shared() -> Session | None:
            await self.shared.new_stream_token(session_id)
            return await self.shared.get(session_id)

        async def local() -> Session | None:
            await self.local.new_stream_token(session_id)
            return await self.local.get(session_id)

        session = await self._session(shared, local, changing=session_id)
        if session is None or session.stream_token is None:
            raise KeyError(session_id)
        return session.stream_token

    async def update(
        self, session_id: str, *, status: SessionStatus | None = None, **changes: object
    ) -> Session | None:
        return await self._session(
            lambda: self.shared.update(session_id, status=status, **changes),
            lambda: self.local.update(session_id, status=status, **changes),
            changing=session_id,
        )

    async def active(self) -> list[Session]:
        found = await self._shared(self.shared.active)
        return await self.local.active() if isinstance(found, _Away) else found

    async def check(self) -> None:
        """At start: a Redis that does not answer means memory until it does (logged)."""
        await self._shared(self.shared.redis.ping)

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery

    # -------------------------------------------------------------------- the plumbing
    async def _shared(self, command: Callable[[], Awaitable[T]]) -> T | _Away:
        """Run a Redis command; ``AWAY`` (and degraded from now on) when Redis is away."""
        if self.state != "ok":
            return AWAY
        try:
            return await command()
        except _UNREACHABLE as exc:
            self._lost(exc)
            return AWAY

    async def _session(
        self,
        shared: Callable[[], Awaitable[Session | None]],
        local: Callable[[], Awaitable[Session | None]],
        *,
        changing: str | None = None,
    ) -> Session | None:
        """The shared session (a copy kept here); with Redis away, the copy, and a change to
        it (``changing``: its id) is remembered for the write-back."""
        found = await self._shared(shared)
        if not isinstance(found, _Away):
            if found is not None:
                await self.local.put(found)
            return found
        result = await local()
        if changing is not None and result is not None:
            self._changed.add(changing)
        return result

    def _lost(self, exc: BaseException) -> None:
        if self.state == "degraded":
            return
        self.state = "degraded"
        self.outages += 1
        log.warning(
            "Redis is unreachable (%s): sessions are kept in this instance's memory until it "
            "returns",
            exc,
        )
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.create_task(self._recover(), name="redis-recovery")

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            try:
                await self.shared.redis.ping()
                count = await self._write_back()
            except _UNREACHABLE:
                continue
            self.state = "ok"
            log.warning("Redis is back: %d session(s) written back", count)
            return

    async def _write_back(self) -> int:
        count = 0
        for session_id in sorted(self._changed):
            session = await self.local.get(session_id)
            if session is not None and await self.shared.put_unless_further(session):
                count += 1
            self._changed.discard(session_id)
        self.written_back += count
        return count
