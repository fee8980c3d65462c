"""Browser sessions that can be resumed on any instance, even after theirs died.

When a session opens, ``{prefix}browser:{session_id}`` records whose it is and how to go on
(call id, user, persona, language), expiring ``ttl_s`` later; the words said live in the
call's shared history (:class:`~voxagent.calls.shared_history.SharedHistory`), rewritten
after every turn. A page that reconnects through the balancer to another instance is resumed
from the two. While Redis is away, resuming elsewhere is not possible, and nothing else breaks.
"""

from __future__ import annotations

import json
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.calls.shared_history import SharedHistory
from voxagent.channels.browser.session import Resumable

__all__ = ["SharedResume", "browser_key"]

log = logging.getLogger(__name__)


def browser_key(prefix: str, session_id: str) -> str:
    return f"{prefix}browser:{session_id}"


class SharedResume:
    def __init__(self, redis: Redis, history: SharedHistory, *, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.history = history
        self.prefix = prefix
        self.ttl_s = ttl_s

    async def opened(
        self, session_id: str, call_id: str, user_id: str, persona: str, language: str
    ) -> None:
        document = {
            "call_id": call_id,
            "user_id": user_id,
            "persona": persona,
            "language": language,
        }
        try:
            await self.redis.set(
                browser_key(self.prefix, session_id), json.dumps(document), ex=self.ttl_s
            )
        except (RedisError, OSError) as exc:
            log.debug("browser session %s not shared: %s", session_id, exc)

    async def find(self, session_id: str) -> Resumable | None:
        """The session as another instance left it (None: unknown, expired, Redis away)."""
        try:
            raw = await self.redis.get(browser_key(self.prefix, session_id))
            if raw is None:
                return None
            document = json.loads(raw)
            history = await self.history.load(str(document["call_id"]))
            return Resumable(
                session_id=session_id,
                call_id=str(document["call_id"]),
                user_id=str(document["user_id"]),
                persona=str(document["persona"]),
                language=str(document["language"]),
                history=tuple(history),
                expires_at=time.time() + self.ttl_s,
            )
        except (RedisError, OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("browser session %s cannot be resumed from Redis: %s", session_id, exc)
            return None
