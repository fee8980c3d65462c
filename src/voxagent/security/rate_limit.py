"""Sliding-window rate limits, per key (an API key's id, a session, an IP).

``check`` answers with how long to wait when the limit is reached, which becomes the
``Retry-After`` of a 429. The windows of idle keys are forgotten, so memory follows the number
of active callers, not the number ever seen.
"""

from __future__ import annotations

import math
import time
from collections import deque

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, limit: int, window_s: float = 60.0, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def check(self, key: str, *, now: float | None = None) -> float | None:
        """Count one hit for ``key``; None when allowed, else the seconds to wait."""
        if self.limit <= 0:
            return None
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self._max_keys:
                self._forget_idle(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(0.0, hits[0] + self.window_s - now)
        hits.append(now)
        return None

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window_s]:
            del self._hits[key]
