"""What pages report about themselves (``POST /api/sandra/metrics``), kept for the dashboard:
the last reports' timings, and their percentiles over a window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from voxagent.telemetry.overview import spread

__all__ = ["ClientReports"]

KEPT = 10_000
TIMINGS = {
    "token_ms": "token",
    "connect_ms": "connect",
    "first_audio_heard_ms": "first_audio_heard",
}


class ClientReports:
    def __init__(self, kept: int = KEPT) -> None:
        self._timings: deque[tuple[float, str, float]] = deque(maxlen=kept)
        self._underruns: deque[tuple[float, int]] = deque(maxlen=kept)

    def add(self, timings: Mapping[str, float], underruns: int, at: float | None = None) -> None:
        now = time.time() if at is None else at
        for name, ms in timings.items():
            if name in TIMINGS:
                self._timings.append((now, TIMINGS[name], float(ms)))
        if underruns:
            self._underruns.append((now, underruns))

    def figures(self, since: float) -> dict[str, Any]:
        """p50/p95/p99 of each timing reported since then (epoch seconds), and the underruns."""
        out: dict[str, Any] = {
            name: spread([ms for at, n, ms in self._timings if n == name and at >= since])
            for name in TIMINGS.values()
        }
        out["underruns"] = sum(n for at, n in self._underruns if at >= since)
        return out
