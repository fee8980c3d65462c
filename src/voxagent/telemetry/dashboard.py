"""The numbers of ``GET /api/metrics/dashboard``, computed from plain data (no I/O): the calls
live now and the records of the last hour.

Definitions (also in the README):

* ``activeCalls``: calls in progress now (dialled, ringing or talking; with Redis, on every
  instance).
* ``p95Latency``: the 95th percentile, in ms, of the agent's response time (the caller's end
  of speech → the first audio of the answer sent) over the answers of the last hour, live
  calls included; ``None`` with no answer yet.
* ``dropRate``: of the calls that ended in the last hour, the share that ended on our side's
  failure (a dial Telnyx refused, no provider left, a lost instance, a server shutdown).
* ``memoryAvg``: this process's resident memory, in MB, averaged over the last hour's samples.
* ``natSuccessRate``: of the browsers' pre-call network checks, the share whose STUN check got
  a public (server-reflexive) address back; ``None`` with no check yet.
* ``totalCalls``: calls started in the last hour. ``successRate``: the share of those that
  ended that were answered and ended normally (not dropped, not busy, not unanswered,
  not rejected). ``avgDuration``: seconds, over the calls that ended. ``errorsCount``: the
  dropped calls plus the provider failures (fallback switches) of the last hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["DROPPED", "NOT_REACHED", "CallSummary", "dashboard", "percentile"]

DROPPED = frozenset(
    {"dial_failed", "provider_failure", "failed", "instance_lost", "server_shutdown"}
)
NOT_REACHED = frozenset({"busy", "no_answer", "rejected"})


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What the dashboard needs of one call's record."""

    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    response_ms: Sequence[float]
    """The agent's response time of each answer in the call."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n·q/100), at least the first
    return float(ordered[int(rank) - 1])


def _family(outcome: str | None) -> str:
    """``failed: instance_lost`` → ``instance_lost``; ``failed`` stays ``failed``."""
    if not outcome:
        return ""
    head, _, detail = (part.strip() for part in outcome.partition(":"))
    if head == "failed" and detail:
        return detail
    return head


def dashboard(
    *,
    now: datetime,
    active_calls: int,
    records: Iterable[CallSummary],
    live_response_ms: Iterable[float],
    rss_mb_samples: Sequence[float],
    network_checks: int,
    network_stun_ok: int,
    provider_switches: int,
) -> dict[str, dict[str, float | int | None]]:
    since = now - timedelta(hours=1)
    recent = [r for r in records if r.started_at >= since or (r.ended_at and r.ended_at >= since)]
    started = [r for r in recent if r.started_at >= since]
    ended = [r for r in recent if r.ended_at is not None and r.ended_at >= since]
    dropped = [r for r in ended if _family(r.outcome) in DROPPED]
    ended_started = [r for r in started if r.ended_at is not None]
    succeeded = [
        r
        for r in ended_started
        if _family(r.outcome) not in DROPPED and _family(r.outcome) not in NOT_REACHED
    ]
    responses = [ms for r in recent for ms in r.response_ms]
    responses += list(live_response_ms)
    durations = [
        (r.ended_at - r.started_at).total_seconds() for r in ended if r.ended_at is not None
    ]
    p95 = percentile(responses, 95)
    return {
        "realtime": {
            "activeCalls": active_calls,
            "p95Latency": round(p95, 1) if p95 is not None else None,
            "dropRate": round(len(dropped) / len(ended), 4) if ended else 0.0,
            "memoryAvg": round(sum(rss_mb_samples) / len(rss_mb_samples), 1)
            if rss_mb_samples
            else None,
            "natSuccessRate": round(network_stun_ok / network_checks, 4)
            if network_checks
            else None,
        },
        "last1h": {
            "totalCalls": len(started),
            "successRate": round(len(succeeded) / len(ended_started), 4) if ended_started else 0.0,
            "avgDuration": round(sum(durations) / len(durations), 1) if durations else 0.0,
            "errorsCount": len(dropped) + provider_switches,
        },
    }
