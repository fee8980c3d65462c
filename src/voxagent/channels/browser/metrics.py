"""What ``/api/socket-server/metrics`` reports: traffic by event, audio both ways, barge-ins,
refusals, and each turn stage's p50/p95 over the last five minutes."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["BrowserMetrics"]

WINDOW_S = 300.0
STAGES = ("stt_final_ms", "agent_first_text_ms", "tts_first_audio_ms", "first_audio_sent_ms")
MAX_TURNS = 10_000
"""Turns kept for the window (an upper bound: at most this many in five minutes)."""


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 1)


@dataclass
class BrowserMetrics:
    events_in: Counter[str] = field(default_factory=Counter)
    events_out: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    """Refused client events, by error code."""
    audio_in_s: float = 0.0
    audio_out_s: float = 0.0
    barge_ins: int = 0
    client_latency: Counter[str] = field(default_factory=Counter)
    _turns: deque[tuple[float, dict[str, float | None]]] = field(default_factory=deque)

    def turn(self, stages: dict[str, float | None], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._turns.append((now, stages))
        if len(self._turns) > MAX_TURNS:
            self._turns.popleft()

    def stage_percentiles(self, now: float | None = None) -> dict[str, dict[str, float | None]]:
        now = time.monotonic() if now is None else now
        while self._turns and self._turns[0][0] < now - WINDOW_S:
            self._turns.popleft()
        out: dict[str, dict[str, float | None]] = {}
        for stage in STAGES:
            values = [v for _, s in self._turns if (v := s.get(stage)) is not None]
            out[stage] = {"p50": _percentile(values, 0.5), "p95": _percentile(values, 0.95)}
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "events_in": dict(self.events_in),
            "events_out": dict(self.events_out),
            "audio_seconds_in": round(self.audio_in_s, 1),
            "audio_seconds_out": round(self.audio_out_s, 1),
            "barge_ins": self.barge_ins,
            "rejected_events": dict(self.rejected),
            "client_latency_reports": dict(self.client_latency),
            "turn_stages_last_5_min": self.stage_percentiles(),
        }
