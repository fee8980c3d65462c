"""Sessions in Redis, so that every instance behind a load balancer sees every call.

The same :class:`~voxagent.calls.sessions.SessionStore` as the memory store, and the same
decisions: an update is read, decided by :func:`~voxagent.calls.sessions.apply_update` and
written back in one optimistic transaction (``WATCH``/``MULTI``), retried when another instance
changed the session in between, so two instances can never both move a call's status.

Keys (``prefix`` is ``REDIS_KEY_PREFIX``, ``voxagent:`` by default):

- ``{prefix}session:{session_id}``: the session as JSON; expires ``ttl_s`` after its last change;
- ``{prefix}call:{call_control_id}``: the session id of a Telnyx call; same expiry;
- ``{prefix}sessions:active``: the ids of live sessions (a set; ids whose session expired are
  dropped when it is read).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from voxagent.calls.info import Direction
from voxagent.calls.sessions import (
    Session,
    SessionStatus,
    apply_update,
    further_or_same,
    new_session,
    session_from_json,
    session_to_json,
)

__all__ = ["RedisSessionStore", "active_key", "call_key", "session_key"]


def session_key(prefix: str, session_id: str) -> str:
    return f"{prefix}session:{session_id}"


def call_key(prefix: str, call_control_id: str) -> str:
    return f"{prefix}call:{call_control_id}"


def active_key(prefix: str) -> str:
    return f"{prefix}sessions:active"


class RedisSessionStore:
    """Sessions shared by every instance that uses the same Redis and prefix. The client must
    decode responses (``Redis.from_url(url, decode_responses=True)``)."""

    def __init__(self, redis: Redis, *, prefix: str = "voxagent:", ttl_s: int = 3600) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, session_id: str) -> str:
        return session_key(self.prefix, session_id)

    async def create(
        self, direction: Direction, from_number: str, to_number: str, **fields: Any
    ) -> Session:
        """A new session (``fields`` as :func:`~voxagent.calls.sessions.new_session` takes)."""
        session = new_session(direction, from_number, to_number, **fields)
        await self.put(session)
        return session

    async def put(self, session: Session) -> None:
        """Write a whole session (a new one, or one kept in memory while Redis was away)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(session.session_id), session_to_json(session), ex=self.ttl_s)
            if session.call_control_id:
                pipe.set(
                    call_key(self.prefix, session.call_control_id),
                    session.session_id,
                    ex=self.ttl_s,
                )
            if session.active:
                pipe.sadd(active_key(self.prefix), session.session_id)
            else:
                pipe.srem(active_key(self.prefix), session.session_id)
            await pipe.execute()

    async def put_unless_further(self, session: Session) -> bool:
        """Write back a session kept in memory while Redis was away, unless another instance
        moved it further meanwhile. True when written."""
        if (
            await self._change(
                session.session_id,
                lambda stored: session if further_or_same(session, stored) else None,
            )
            is not None
        ):
            return True
        if await self.get(session.session_id) is not None:
            return False
        await self.put(session)
        return True

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        raw = await self.redis.get(self._key(session_id))
        return session_from_json(raw) if raw is not None else None

    async def by_call(self, call_control_id: str | None) -> Session | None:
        if not call_control_id:
            return None
        session_id = await self.redis.get(call_key(self.prefix, call_control_id))
        return await self.get(str(session_id) if session_id else None)

    async def attach_call(self, session_id: str, call_control_id: str) -> Session | None:
        def attach(session: Session) -> Session:
            return dataclasses.replace(session, call_control_id=call_control_id)

        session = await self._change(session_id, attach)
        if session is not None:
            await self.redis.set(call_key(self.prefix, call_control_id), session_id, ex=self.ttl_s)
        return session

    async def new_stream_token(self, session_id: str) -> str:
        token = secrets.token_urlsafe(24)

        def with_token(session: Session) -> Session:
            return dataclasses.replace(session, stream_token=token)

        if await self._change(session_id, with_token) is None:
            raise KeyError(session_id)
        return token

    async def update(
        self, session_id: str, *, status: SessionStatus | None = None, **changes: object
    ) -> Session | None:
        def decide(session: Session) -> Session | None:
            return apply_update(session, status, changes, time.time())

        return await self._change(session_id, decide)

    async def active(self) -> list[Session]:
        key = active_key(self.prefix)
        ids = [str(member) for member in await self.redis.smembers(key)]
        if not ids:
            return []
        raws = await self.redis.mget([self._key(i) for i in ids])
        gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if gone:
            await self.redis.srem(key, *gone)
        sessions = [session_from_json(raw) for raw in raws if raw is not None]
        return [s for s in sessions if s.active]

    async def _change(
        self, session_id: str, decide: Callable[[Session], Session | None]
    ) -> Session | None:
        """Read, decide, write, as one transaction; again if another instance got there first."""
        key = self._key(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        return None
                    before = session_from_json(raw)
                    after = decide(before)
                    if after is None:
                        return None
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, session_to_json(after), ex=self.ttl_s)
                    if before.active and not after.active:
                        pipe.srem(active_key(self.prefix), session_id)
                    await pipe.execute()
                    return after
                except WatchError:
                    continue
