"""Which instances of this deployment are alive, so that a draining one knows whether it has
anywhere to hand its calls to.

Every ``interval_s`` an instance rewrites ``{prefix}instance:{instance_id}`` (how many calls it
serves, and whether it is draining), expiring after ``ttl_s``: an instance that died drops out
within seconds. Listing is a ``SCAN``, fine for the handful of instances of a deployment.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.periodic import Periodic

__all__ = ["InstanceRegistry", "LiveInstance"]

log = logging.getLogger(__name__)

INSTANCE_TTL_S = 5


@dataclass(frozen=True, slots=True)
class LiveInstance:
    instance_id: str
    calls: int
    draining: bool


class InstanceRegistry:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        instance_id: str,
        load: Callable[[], int],
        draining: Callable[[], bool],
        interval_s: float = 1.0,
        ttl_s: int = INSTANCE_TTL_S,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.instance_id = instance_id
        self._load = load
        self._draining = draining
        self.ttl_s = ttl_s
        self._loop = Periodic(interval_s, self._beat_quietly, name="instance-beat", at_once=True)

    def key(self, instance_id: str) -> str:
        return f"{self.prefix}instance:{instance_id}"

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stop beating and leave the registry at once (others stop counting on us)."""
        await self._loop.stop()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.key(self.instance_id))

    async def beat(self) -> None:
        value = json.dumps({"calls": self._load(), "draining": self._draining()})
        await self.redis.set(self.key(self.instance_id), value, ex=self.ttl_s)

    async def others(self) -> list[LiveInstance]:
        """The other live instances that take calls, least loaded first."""
        keys = [k async for k in self.redis.scan_iter(match=self.key("*"), count=100)]
        if not keys:
            return []
        values = await self.redis.mget(keys)
        found = []
        start = len(self.key(""))
        for key, value in zip(keys, values, strict=True):
            instance_id = str(key)[start:]
            if value is None or instance_id == self.instance_id:
                continue
            try:
                data = json.loads(value)
                live = LiveInstance(instance_id, int(data["calls"]), bool(data["draining"]))
            except (ValueError, KeyError, TypeError):
                continue
            if not live.draining:
                found.append(live)
        return sorted(found, key=lambda i: i.calls)

    async def _beat_quietly(self) -> None:
        try:
            await self.beat()
        except (RedisError, OSError):
            log.debug("instance heartbeat failed", exc_info=True)
