"""Batch progress in Redis, so that any instance answers ``GET /api/call/batch/{id}``.

A batch runs on the instance that accepted it; while it runs, that instance rewrites the
batch's summary at ``{prefix}batch:{batch_id}`` every ``interval_s`` and once more at the end.
Another instance asked about the batch reads the summary from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.calls.batch import Batch

__all__ = ["SharedBatches"]

log = logging.getLogger(__name__)


class SharedBatches:
    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int, interval_s: float = 1.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.interval_s = interval_s

    def key(self, batch_id: str) -> str:
        return f"{self.prefix}batch:{batch_id}"

    async def save(self, batch: Batch) -> None:
        summary = json.dumps(batch.summary(), separators=(",", ":"))
        await self.redis.set(self.key(batch.batch_id), summary, ex=self.ttl_s)

    async def load(self, batch_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(self.key(batch_id))
        if raw is None:
            return None
        summary: dict[str, Any] = json.loads(raw)
        return summary

    async def follow(self, batch: Batch) -> None:
        """Publish the batch's progress until it has finished (run as a task)."""
        task = batch.task
        while task is not None and not task.done():
            await self._save_quietly(batch)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), self.interval_s)
        await self._save_quietly(batch)

    async def _save_quietly(self, batch: Batch) -> None:
        try:
            await self.save(batch)
        except (RedisError, OSError) as exc:
            log.debug("batch %s: progress not shared (%s)", batch.batch_id, exc)
