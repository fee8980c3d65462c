"""What the live dashboard (``GET /api/metrics/stream``, the ``/dashboard`` page) shows, computed
from plain data (no I/O): the calls of a recent window (their records, with the live calls'
turns and counters taken from memory), the active sessions by channel, and the provider
switches.

Definitions:

* ``latency.response``: p50/p95/p99 (nearest rank, ms) of the agent's response time (the
  caller's end of speech → the first audio of the answer sent, ``first_audio_sent_ms``) over
  the answers (``reply`` turns) of the calls active in the window.
* ``latency.stages``: the same percentiles for each stage's mark, counted from the caller's end
  of speech: ``stt_final`` (final transcript), ``agent_first_text``, ``tts_first_audio``,
  ``first_audio_sent``.
* ``errors.rate``: of the calls that ended in the window, the share that failed on our side
  (the dashboard's ``DROPPED`` outcomes). ``errors.switches``: provider fallbacks in the window.
* ``barge_ins``: the callers' interruptions in the window's calls (their counters), the turns
  they cut, and how many calls had one.
* ``recent``: the latest calls, newest first, with their duration, turns, outcome and p95.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from voxagent.telemetry.dashboard import DROPPED, CallSummary, percentile

__all__ = [
    "STAGES",
    "CallView",
    "overview",
    "reply_ms",
    "spread",
    "summaries",
]

STAGES = ("stt_final", "agent_first_text", "tts_first_audio", "first_audio_sent")
"""The stages whose percentiles are shown, in the order they happen in a turn."""


@dataclass(frozen=True, slots=True)
class CallView:
    """One call as the dashboard sees it: its record, or its live state when it runs here."""

    call_id: str
    started_at: datetime
    ended_at: datetime | None = None
    channel: str = ""
    direction: str = "inbound"
    persona: str = ""
    outcome: str | None = None
    turns: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    """Each turn's record (``TurnTimeline.as_record()``)."""
    counters: Mapping[str, int] = field(default_factory=dict)
    live: bool = False


def reply_ms(call: CallView, stage: str = "first_audio_sent") -> list[float]:
    """``stage``'s ms of every answer (``reply`` turn) of the call that has one."""
    return [
        float(ms)
        for t in call.turns
        if t.get("kind") == "reply"
        and isinstance(ms := t.get(f"{stage}_ms"), int | float)
        and not isinstance(ms, bool)
    ]


def spread(values: Sequence[float]) -> dict[str, float | int | None]:
    """How many values, and their p50, p95 and p99 (None without values)."""

    def rounded(q: float) -> float | None:
        value = percentile(values, q)
        return None if value is None else round(value, 1)

    return {"count": len(values), "p50": rounded(50), "p95": rounded(95), "p99": rounded(99)}


def _family(outcome: str | None) -> str:
    head, _, detail = (part.strip() for part in (outcome or "").partition(":"))
    return detail if head == "failed" and detail else head


def _in_window(call: CallView, since: datetime) -> bool:
    return (
        call.live
        or call.started_at >= since
        or (call.ended_at is not None and call.ended_at >= since)
    )


def summaries(calls: Iterable[CallView]) -> list[CallSummary]:
    """The calls in the shape of the dashboard's numbers (``telemetry.dashboard``)."""
    return [CallSummary(c.started_at, c.ended_at, c.outcome, reply_ms(c)) for c in calls]


def _row(call: CallView, now: datetime) -> dict[str, Any]:
    end = call.ended_at or now
    p95 = percentile(reply_ms(call), 95)
    return {
        "call_id": call.call_id,
        "started_at": call.started_at.isoformat(),
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "channel": call.channel,
        "direction": call.direction,
        "persona": call.persona,
        "duration_s": round(max(0.0, (end - call.started_at).total_seconds()), 1),
        "turns": len(call.turns),
        "outcome": call.outcome,
        "live": call.live,
        "barge_ins": int(call.counters.get("barge_ins", 0)),
        "p95_ms": None if p95 is None else round(p95, 1),
        "url": f"/calls/{call.call_id}",
    }


def overview(
    *,
    now: datetime,
    calls: Iterable[CallView],
    active_by_channel: Mapping[str, int],
    switches_in_window: int,
    switches_by_kind: Mapping[str, int],
    recent: Sequence[CallView] = (),
    window_s: float = 3600.0,
    recent_limit: int = 20,
) -> dict[str, Any]:
    """The dashboard's live figures (see the module's definitions). ``calls`` may hold calls
    outside the window (they are left out); ``recent``, the latest calls whatever their age
    (the table's rows; the window's calls when empty)."""
    since = now - timedelta(seconds=window_s)
    window = [c for c in calls if _in_window(c, since)]
    ended = [c for c in window if c.ended_at is not None and c.ended_at >= since]
    failed = [c for c in ended if _family(c.outcome) in DROPPED]
    cut_turns = sum(1 for c in window for t in c.turns if t.get("interrupted"))
    barge_ins = [int(c.counters.get("barge_ins", 0)) for c in window]
    live = {c.call_id: c for c in window if c.live}
    rows: dict[str, CallView] = {}
    for call in [*(recent or window), *live.values()]:
        rows.setdefault(call.call_id, live.get(call.call_id, call))
    latest = sorted(rows.values(), key=lambda c: c.started_at, reverse=True)
    return {
        "at": now.isoformat(),
        "window_s": window_s,
        "active": {
            "total": sum(active_by_channel.values()),
            "by_channel": dict(sorted(active_by_channel.items())),
        },
        "latency": {
            "response": spread([ms for c in window for ms in reply_ms(c)]),
            "stages": {
                stage: spread([ms for c in window for ms in reply_ms(c, stage)]) for stage in STAGES
            },
        },
        "calls": {
            "in_window": len(window),
            "ended": len(ended),
            "by_outcome": dict(Counter(c.outcome or "in_progress" for c in window)),
        },
        "errors": {
            "failed_calls": len(failed),
            "rate": round(len(failed) / len(ended), 4) if ended else 0.0,
            "switches": switches_in_window,
            "switches_by_kind": dict(switches_by_kind),
        },
        "barge_ins": {
            "count": sum(barge_ins),
            "turns_cut": cut_turns,
            "calls_with": sum(1 for n in barge_ins if n > 0),
        },
        "recent": [_row(c, now) for c in latest[: max(0, recent_limit)]],
    }
