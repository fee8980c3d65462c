"""The live dashboard's stream (``GET /api/metrics/stream``) and the pages, against a real server in
this process: the stream answers at once and then every interval, follows simulated phone
calls while they run and after they end (one barging in, each voice failing over to Piper), and
its figures are the call records' own; a browser session's tool runs are kept in its record."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from fakes.instances import switching_voice_settings
from fakes.live_server import LiveServer, live_server
from voxagent.simulator.browser import BrowserCaller, get_token
from voxagent.simulator.caller import simulate_call
from voxagent.telemetry.dashboard import percentile

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

KEY = "dashboard-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
STAGES = ("stt_final", "agent_first_text", "tts_first_audio", "first_audio_sent")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("dashboard")
    settings = switching_voice_settings(tmp, KEY, "d" * 40)
    async with live_server(settings) as running:
        yield running


class Stream:
    """Reads the event stream in the background: each event's name, body and arrival."""

    def __init__(self, url: str, **params: Any) -> None:
        self.url = url
        self.params = params
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.status: int | None = None
        self.content_type = ""
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async with (
            httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=30) as http,
            http.stream("GET", "/api/metrics/stream", params=self.params) as response,
        ):
            self.status = response.status_code
            self.content_type = response.headers.get("content-type", "")
            name, data = "message", []
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    name = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data.append(line.partition(":")[2].strip())
                elif not line and data:
                    self.events.append((name, json.loads("\n".join(data)), time.monotonic()))
                    name, data = "message", []

    def __enter__(self) -> Stream:
        self._task = asyncio.create_task(self._read())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def wait(self, predicate: Any, within_s: float = 60.0) -> dict[str, Any]:
        """The first dashboard event (from now on) that satisfies ``predicate``."""
        seen = len(self.events)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            for name, body, _ in self.events[seen:]:
                if name == "dashboard" and predicate(body):
                    return body
            assert self._task is not None
            if self._task.done():
                self._task.result()
                raise AssertionError("the stream ended")
            await asyncio.sleep(0.05)
        raise AssertionError(f"no such event within {within_s} s: {self.events[-1:]}")


async def test_the_stream_wants_a_key_in_a_header_not_in_the_url(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        bare = await http.get("/api/metrics/stream", params={"events": 1})
        in_url = await http.get("/api/metrics/stream", params={"events": 1, "api_key": KEY})
        wrong = await http.get(
            "/api/metrics/stream", params={"events": 1}, headers={"X-API-Key": "nope"}
        )
        keyed = await http.get("/api/metrics/stream", params={"events": 2, "interval_s": 0.5},
                               headers={"X-API-Key": KEY})  # fmt: skip
    assert [bare.status_code, in_url.status_code, wrong.status_code] == [401, 401, 401]
    assert bare.headers["www-authenticate"] == "Bearer"
    assert keyed.status_code == 200
    assert keyed.headers["content-type"].startswith("text/event-stream")
    assert keyed.headers["cache-control"] == "no-store"
    blocks = [b for b in keyed.text.split("\n\n") if b.strip()]
    assert blocks[0] == "retry: 500"
    assert [b.splitlines()[:2] for b in blocks[1:]] == [
        ["id: 1", "event: dashboard"],
        ["id: 2", "event: dashboard"],
    ], "events=2 ends the stream after two events"


async def test_the_stream_follows_calls_and_agrees_with_their_records(
    server: LiveServer,
) -> None:
    ws = f"ws://127.0.0.1:{server.port}/stream/media"
    with Stream(server.url) as stream:  # the default: an event every 2 s
        first = await stream.wait(lambda body: True, within_s=5)
        assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
        assert first["active"]["total"] == 0 and first["recent"] == []
        assert first["latency"]["response"] == {"count": 0, "p50": None, "p95": None, "p99": None}
        assert set(first["dashboard"]) == {"realtime", "last1h"}
        calls = asyncio.gather(
            simulate_call(
                ws, ["hello", "no thank you goodbye"], transcribe=False, hangup_after_s=1.0
            ),
            simulate_call(
                ws,
                ["i would like to book an appointment", "no thank you goodbye"],
                barge_in=True,
                barge_in_turn=1,
                transcribe=False,
                hangup_after_s=1.0,
            ),
        )
        during = await stream.wait(lambda body: body["active"]["total"] == 2, within_s=20)
        assert during["active"]["by_channel"] == {"media_stream": 2}
        assert [r["live"] for r in during["recent"]] == [True, True]
        assert during["dashboard"]["realtime"]["activeCalls"] == 2
        results = await calls
        ids = {r.call_control_id for r in results}
        last = await stream.wait(
            lambda body: (
                body["active"]["total"] == 0
                and {r["call_id"] for r in body["recent"]} == ids
                and all(r["outcome"] and not r["live"] for r in body["recent"])
            ),
            within_s=30,
        )
        arrivals = [at for name, _, at in stream.events if name == "dashboard"]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(gaps) >= 3 and max(gaps) < 2.9, gaps  # "an event at least every 2 s"

    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as http:
        records = {cid: (await http.get(f"/api/calls/{cid}")).json() for cid in ids}
        numbers = (await http.get("/api/metrics/dashboard")).json()
    replies = [
        t for r in records.values() for t in r["turns"]
        if t["kind"] == "reply" and t["first_audio_sent_ms"] is not None
    ]  # fmt: skip
    assert replies, "the calls were answered"
    response = last["latency"]["response"]
    assert response["count"] == len(replies)
    for q in (50, 95, 99):
        expected = percentile([t["first_audio_sent_ms"] for t in replies], q)
        assert response[f"p{q}"] == pytest.approx(expected, abs=0.1)
    for stage in STAGES:
        values = [t[f"{stage}_ms"] for t in replies if t[f"{stage}_ms"] is not None]
        assert last["latency"]["stages"][stage]["count"] == len(values)
        assert last["latency"]["stages"][stage]["p95"] == pytest.approx(
            percentile(values, 95), abs=0.1
        )
    assert last["dashboard"] == numbers, "the stream carries GET /api/metrics/dashboard's numbers"
    assert response["p95"] == pytest.approx(numbers["realtime"]["p95Latency"], abs=0.1)

    barge_ins = sum(r["counters"]["barge_ins"] for r in records.values())
    assert barge_ins >= 1
    assert last["barge_ins"]["count"] == barge_ins
    assert last["barge_ins"]["turns_cut"] == sum(
        1 for r in records.values() for t in r["turns"] if t["interrupted"]
    )
    assert last["errors"]["switches"] == 2, "each call's voice failed over once"
    assert last["errors"]["switches_by_kind"] == {"tts:elevenlabs->piper": 2}
    assert last["errors"]["failed_calls"] == 0 and last["errors"]["rate"] == 0.0

    for row in last["recent"]:
        record = records[row["call_id"]]
        assert row["url"] == f"/calls/{row['call_id']}"
        assert row["channel"] == "media_stream" and row["persona"] == record["persona"]
        assert row["outcome"] == record["outcome"] and row["turns"] == len(record["turns"])
        assert row["duration_s"] > 1
        own = [
            t["first_audio_sent_ms"] for t in record["turns"]
            if t["kind"] == "reply" and t["first_audio_sent_ms"] is not None
        ]  # fmt: skip
        assert row["p95_ms"] == pytest.approx(percentile(own, 95), abs=0.1)


async def test_a_browser_session_s_tool_runs_are_kept_in_its_record(server: LiveServer) -> None:
    token = await get_token(server.url, "dash-guest", persona="sandra", language="en", api_key=KEY)
    caller = BrowserCaller(server.url, token)
    await caller.connect()
    try:
        await caller.start(persona="sandra", language="en")
        mark = len(caller.events)
        await caller.emit("text", {"text": "what time is check in"})
        shown = await caller.wait_for("tool_result", after=mark, within_s=20)
        await caller.wait_for("metrics", after=mark, within_s=20)
        await caller.emit("end", {})
        await caller.wait_for("session_ended", within_s=10)
    finally:
        await caller.close()
    # A browser call's id is its own (not the session's): the dashboard lists it.
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as http:
        for _ in range(50):
            board = await http.get("/api/metrics/stream", params={"events": 1})
            body = json.loads(board.text.split("data: ", 1)[1].split("\n", 1)[0])
            rows = [r for r in body["recent"] if r["channel"] == "browser" and not r["live"]]
            if rows:
                break
            await asyncio.sleep(0.1)
        assert rows, body["recent"]
        record = (await http.get(rows[0]["url"].replace("/calls/", "/api/calls/"))).json()
    assert record["state"] == "ended" and record["persona"] == "sandra"
    tools = [(t["turn"], tool) for t in record["turns"] for tool in t.get("tools", [])]
    assert tools, record
    (turn, tool), *_ = tools
    answered = next(t for t in record["turns"] if t["turn"] == turn)
    assert answered["kind"] == "reply" and answered["user_text"] == "what time is check in"
    assert tool["name"] == shown["name"]
    assert tool["result"]["ok"] is True and tool["result"] == shown["result"]
    assert isinstance(tool["arguments"], dict)
    assert all(t["tools"] == [] for t in record["turns"] if t["turn"] != turn)


async def test_the_pages_and_their_files_are_served_without_a_key(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        board = await http.get("/dashboard")
        call = await http.get("/calls/v3:some-call")
        files = {
            path: await http.get(path)
            for path in (
                "/static/dashboard.js",
                "/static/call.js",
                "/static/api-key.js",
                "/static/dashboard.css",
                "/static/vendor/uPlot.iife.min.js",
                "/static/vendor/uPlot.min.css",
            )
        }
    for page in (board, call):
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "https://" not in page.text, "nothing from another site"
    assert '<script src="/static/vendor/uPlot.iife.min.js">' in board.text
    assert all(r.status_code == 200 for r in files.values()), {
        p: r.status_code for p, r in files.items()
    }
    assert files["/static/vendor/uPlot.iife.min.js"].text.startswith(
        "/*! https://github.com/leeoniya/uPlot (v1.6.32) */"
    )
