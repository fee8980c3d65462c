"""Each call's conversation history in Redis, so an instance that picks up a call another one
lost goes on from what was said (the last 50 messages, as the call itself keeps).

``{prefix}history:{call_id}`` holds the messages as JSON, rewritten after every turn and
expiring ``ttl_s`` after the last. A failed write costs the next instance at most the turns
since the last good one; it never stops the call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.conversation.history import DEFAULT_MAX_MESSAGES, Message

__all__ = ["SharedHistory", "history_key", "messages_from_json", "messages_to_json"]

log = logging.getLogger(__name__)


def history_key(prefix: str, call_id: str) -> str:
    return f"{prefix}history:{call_id}"


def messages_to_json(messages: Iterable[Message]) -> str:
    kept = list(messages)[-DEFAULT_MAX_MESSAGES:]
    return json.dumps(
        [{"role": m.role, "text": m.text, "interrupted": m.interrupted} for m in kept],
        ensure_ascii=False,
    )


def messages_from_json(raw: str | bytes) -> list[Message]:
    """The messages of a :func:`messages_to_json` document; ValueError when damaged."""
    try:
        items = json.loads(raw)
        out = []
        for item in items:
            if item["role"] not in ("user", "assistant"):
                raise ValueError(f"role {item['role']!r}")
            out.append(Message(item["role"], str(item["text"]), bool(item["interrupted"])))
        return out
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"not a stored history: {exc}") from None


class SharedHistory:
    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.failed_writes = 0

    async def save(self, call_id: str, messages: Iterable[Message]) -> None:
        try:
            await self.redis.set(
                history_key(self.prefix, call_id), messages_to_json(messages), ex=self.ttl_s
            )
        except (RedisError, OSError) as exc:
            self.failed_writes += 1
            if self.failed_writes == 1:
                log.warning("call history cannot reach Redis (%s): kept in memory only", exc)

    async def load(self, call_id: str) -> list[Message]:
        raw = await self.redis.get(history_key(self.prefix, call_id))
        return messages_from_json(raw) if raw else []
