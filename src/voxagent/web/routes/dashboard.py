"""Seeing every call: the live dashboard's data stream and the two pages that show it.

* ``GET /api/metrics/stream`` (🔑): Server-Sent Events (``text/event-stream``), one
  ``dashboard`` event at once and then every ``interval_s`` (2 s by default, 0.5–10): the
  numbers of ``/api/metrics/dashboard``, active calls by channel, response and per-stage
  p50/p95/p99, failed calls and provider switches, barge-ins, and the recent calls (see
  :mod:`voxagent.telemetry.overview`). ``events=N`` ends the stream after N events (for scripts
  and ``curl``); it also ends when the server drains.

  **How the key travels.** Like every other keyed route, in a header (``Authorization: Bearer``
  or ``X-API-Key``), never in the query string: URLs end up in access logs, proxies and the
  browser's history. ``EventSource`` cannot send headers, so the ``/dashboard`` page reads the
  stream with ``fetch()`` and a ``ReadableStream`` and parses the events itself. (Without
  ``API_KEYS`` the route is open, and a plain ``EventSource`` works too.)

* ``GET /dashboard`` and ``GET /calls/{call_id}``: the pages (open, like ``/console``: they hold
  no data; they ask for the API key when the server wants one and send it as a header to the
  stream and to ``/api/calls/{call_id}``).

One snapshot is computed at most every half second per window, whatever the number of pages
watching, and the database is read once per snapshot (the last hour's calls and the latest).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from voxagent.calls.conversation import Conversation
from voxagent.security.access import require_api_key
from voxagent.services import Services
from voxagent.state.call_records import CallRecord
from voxagent.telemetry.dashboard import dashboard
from voxagent.telemetry.overview import CallView, overview, reply_ms, summaries

__all__ = ["Feed", "pages", "router", "snapshot"]

log = logging.getLogger(__name__)

STATIC_DIR = resources.files("voxagent") / "web" / "static"
RECENT_CALLS = 20
FRESH_FOR_S = 0.5

router = APIRouter()
pages = APIRouter(include_in_schema=False)


def _view(record: CallRecord, live: Conversation | None) -> CallView:
    """A call's record; when it runs here, its turns, counters and outcome as they are now."""
    turns: list[dict[str, Any]] = list(record.turns)
    counters: dict[str, int] = dict(record.counters)
    outcome = record.outcome
    if live is not None:
        turns = [t.as_record() for t in live.turns if t.first_audio_sent or t.interrupted]
        counters = dict(live.counters.as_dict())
        outcome = live.outcome
    return CallView(
        call_id=record.call_id,
        started_at=record.started_at,
        ended_at=record.ended_at,
        channel=record.mode,
        direction=record.direction,
        persona=record.persona,
        outcome=outcome,
        turns=turns,
        counters=counters,
        live=live is not None and not live.ended,
    )


async def snapshot(services: Services, window_s: float) -> dict[str, Any]:
    """Everything one dashboard event carries, as of now."""
    calls = services.calls
    store = calls.records.store
    now = datetime.now(UTC)
    hour_ago = now - timedelta(hours=1)
    since = now - timedelta(seconds=max(window_s, 3600.0))
    records = {r.call_id: r for r in await store.active_since(since)}
    latest = await store.list_recent(RECENT_CALLS)
    live = {cid: c for cid in calls.call_ids() if (c := calls.get(cid)) is not None}
    for call_id in live.keys() - records.keys():  # live, but started before the window
        if (record := await store.get(call_id)) is not None:
            records[call_id] = record
    views = [_view(r, live.get(r.call_id)) for r in records.values()]
    sessions = await calls.sessions.active()
    by_channel = Counter(str(s.mode) for s in sessions)
    webrtc = services.webrtc.counters if services.webrtc is not None else {}
    numbers = dashboard(  # exactly as GET /api/metrics/dashboard counts
        now=now,
        active_calls=len(sessions),
        records=summaries(
            v if not v.live else CallView(v.call_id, v.started_at, v.ended_at, outcome=v.outcome)
            for v in views
        ),
        live_response_ms=[ms for v in views if v.live for ms in reply_ms(v)],
        rss_mb_samples=list(services.rss_samples),
        network_checks=int(webrtc.get("network_checks", 0)),
        network_stun_ok=int(webrtc.get("network_stun_ok", 0)),
        provider_switches=services.switches_since(hour_ago),
    )
    figures = overview(
        now=now,
        calls=views,
        active_by_channel=by_channel,
        switches_in_window=services.switches_since(now - timedelta(seconds=window_s)),
        switches_by_kind=services.stats.provider_switches,
        recent=[_view(r, live.get(r.call_id)) for r in latest],
        window_s=window_s,
        recent_limit=RECENT_CALLS,
    )
    figures["client"] = services.client_reports.figures(now.timestamp() - window_s)
    return {"instance": services.instance_id, "dashboard": numbers, **figures}


class Feed:
    """Snapshots shared by every page watching (one computation per window and half second)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = asyncio.Lock()
        self._cache: dict[float, tuple[float, dict[str, Any]]] = {}

    async def get(self, window_s: float) -> dict[str, Any]:
        async with self._lock:
            cached = self._cache.get(window_s)
            if cached is not None and time.monotonic() - cached[0] < FRESH_FOR_S:
                return cached[1]
            body = await snapshot(self.services, window_s)
            self._cache[window_s] = (time.monotonic(), body)
            return body


def _feed(request: Request) -> Feed:
    feed: Feed | None = getattr(request.app.state, "dashboard_feed", None)
    if feed is None:
        feed = request.app.state.dashboard_feed = Feed(request.app.state.services)
    return feed


def _event(name: str, seq: int, body: dict[str, Any]) -> str:
    data = json.dumps(body, separators=(",", ":"), default=str)
    return f"id: {seq}\nevent: {name}\ndata: {data}\n\n"


@router.get(
    "/api/metrics/stream",
    dependencies=[Depends(require_api_key)],
    summary="The live dashboard as Server-Sent Events (an event at once, then every 2 s)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`dashboard` events"},
        401: {"description": "No valid API key (send it as a header, not in the URL)"},
    },
)
async def metrics_stream(
    request: Request,
    interval_s: Annotated[float, Query(ge=0.5, le=10.0)] = 2.0,
    window_s: Annotated[int, Query(ge=60, le=86_400)] = 3600,
    events: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> StreamingResponse:
    feed = _feed(request)
    calls = request.app.state.services.calls

    async def produce() -> AsyncIterator[str]:
        yield f"retry: {int(interval_s * 1000)}\n\n"
        seq = 0
        while True:
            seq += 1
            try:
                yield _event("dashboard", seq, await feed.get(float(window_s)))
            except Exception as exc:  # a database hiccup: say so, and try again next time
                log.exception("the dashboard stream could not read the calls")
                yield _event("problem", seq, {"detail": f"could not read the calls: {exc}"})
            if (events is not None and seq >= events) or calls.draining:
                return
            await asyncio.sleep(interval_s)

    return StreamingResponse(
        produce(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _page(name: str) -> FileResponse:
    return FileResponse(str(STATIC_DIR / name), media_type="text/html")


@pages.get("/dashboard")
async def dashboard_page() -> FileResponse:
    """Every call, live: active calls, latency percentiles, errors, barge-ins, recent calls."""
    return _page("dashboard.html")


@pages.get("/calls/{call_id}")
async def call_page(call_id: str) -> FileResponse:
    """One call: transcript, per-turn waterfall, providers, tools, recording."""
    return _page("call.html")


router.include_router(pages)
