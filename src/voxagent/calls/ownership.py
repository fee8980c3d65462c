"""Which instance owns which call, kept alive by heartbeats, so that the calls of an instance
that died can be found by the others.

Every ``interval_s`` an instance renews ``{prefix}owner:{call_id}`` (its instance id) for
every call it serves, each expiring after ``ttl_s``. A call that is still active in the shared
sessions but whose owner key has expired lost its instance; :meth:`CallOwnership.take_over`
lets exactly one survivor claim it (``SET NX``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.periodic import Periodic

__all__ = ["CallOwnership", "owner_key"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.5
OWNER_TTL_S = 2
"""A call's owner is presumed dead this long after its last heartbeat."""

_TAKE_FROM = """
local owner = redis.call('get', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def owner_key(prefix: str, call_id: str) -> str:
    return f"{prefix}owner:{call_id}"


class CallOwnership:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        instance_id: str | None = None,
        interval_s: float = HEARTBEAT_S,
        ttl_s: int = OWNER_TTL_S,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self.beats = 0
        self._loop: Periodic | None = None
        self._owned: Callable[[], Iterable[str]] = list
        self._failing = False
        self._claims: set[asyncio.Task[None]] = set()

    def start(self, owned: Callable[[], Iterable[str]]) -> None:
        """Heartbeat, every ``interval_s``, for the calls ``owned()`` names at that moment."""
        if self._loop is None:
            self._owned = owned
            self._loop = Periodic(
                self.interval_s, self._beat_owned, name="call-heartbeats", at_once=True
            )
            self._loop.start()

    async def beat(self, call_ids: Iterable[str]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.set(owner_key(self.prefix, call_id), self.instance_id, ex=self.ttl_s)
            await pipe.execute()
        self.beats += 1

    def claim(self, call_id: str) -> None:
        """A call just started here: say so now rather than at the next heartbeat, so that
        a command for it finds its instance from the first moment."""
        task = asyncio.create_task(self._beat_quietly([call_id]), name="call-claim")
        self._claims.add(task)
        task.add_done_callback(self._claims.discard)

    async def _beat_quietly(self, call_ids: list[str]) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.beat(call_ids)

    async def owner(self, call_id: str) -> str | None:
        value = await self.redis.get(owner_key(self.prefix, call_id))
        return str(value) if value is not None else None

    async def orphans(self, call_ids: Iterable[str]) -> list[str]:
        """Of these calls (the active ones), those whose owner stopped beating."""
        ids = list(call_ids)
        if not ids:
            return []
        owners = await self.redis.mget([owner_key(self.prefix, c) for c in ids])
        return [c for c, owner in zip(ids, owners, strict=True) if owner is None]

    async def take_over(self, call_id: str) -> bool:
        """Claim an orphaned call; True for exactly one of the instances that try."""
        key = owner_key(self.prefix, call_id)
        return bool(await self.redis.set(key, self.instance_id, nx=True, ex=self.ttl_s))

    async def take_from(self, call_id: str, previous: str) -> bool:
        """Take a call ``previous`` hands over (its key still names it, or has expired) in one
        step, so that no rescue sweep sees the call ownerless in between."""
        key = owner_key(self.prefix, call_id)
        taken = await self.redis.eval(_TAKE_FROM, 1, key, previous, self.instance_id, self.ttl_s)
        return bool(taken)

    async def release(self, call_id: str) -> None:
        """The call ended here: forget its owner (only if that is still this instance)."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.eval(_RELEASE, 1, owner_key(self.prefix, call_id), self.instance_id)

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
            self._loop = None

    async def _beat_owned(self) -> None:
        try:
            await self.beat(self._owned())
            if self._failing:
                log.warning("call heartbeats reach Redis again")
            self._failing = False
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning("call heartbeats cannot reach Redis (%s); retrying", exc)
            self._failing = True
