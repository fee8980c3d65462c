"""``/metrics``, the dashboard's JSON and the browser's own reports, against a real server in
this process: after simulated calls (one barging in, every one with a voice that fails and
falls back), the Prometheus text parses and counts what the call records say happened."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from fakes.instances import free_port, switching_voice_settings
from fakes.live_server import LiveServer, live_server
from voxagent.settings import load_settings
from voxagent.simulator.caller import simulate_call
from voxagent.telemetry.dashboard import percentile

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

KEY = "metrics-test-key"
AUTH = {"X-API-Key": KEY}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("metrics")
    settings = switching_voice_settings(tmp, KEY, "j" * 40)
    async with live_server(settings) as running:
        yield running


def parse(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def total(samples: list[tuple[str, dict[str, str], float]], **labels: str) -> float:
    return sum(
        value
        for name, have, value in samples
        if not name.endswith("_created") and all(have.get(k) == v for k, v in labels.items())
    )


async def test_the_metrics_and_the_dashboard_count_the_calls(server: LiveServer) -> None:
    ws = f"ws://127.0.0.1:{server.port}/stream/media"
    results = await asyncio.gather(
        simulate_call(ws, ["hello", "no thank you goodbye"], transcribe=False, hangup_after_s=1.0),
        simulate_call(
            ws,
            ["i would like to book an appointment", "no thank you goodbye"],
            barge_in=True,
            barge_in_turn=1,
            transcribe=False,
            hangup_after_s=1.0,
        ),
    )
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as http:
        records: list[dict[str, Any]] = []
        for result in results:
            for _ in range(100):
                record = (await http.get(f"/api/calls/{result.call_control_id}")).json()
                if record.get("state") == "ended":
                    break
                await asyncio.sleep(0.1)
            records.append(record)
        text = (await http.get("/metrics")).text
        numbers = (await http.get("/api/metrics/dashboard")).json()
        alias = (await http.get("/metrics/dashboard")).json()
        assert (await http.get("/metrics", headers={"X-API-Key": "wrong"})).status_code == 401

    found = parse(text)
    calls = found["voxagent_calls"]
    assert total(calls, channel="media_stream") == 2
    barge_ins = sum(r["counters"]["barge_ins"] for r in records)
    assert barge_ins >= 1, [r["turns"] for r in records]
    assert total(found["voxagent_barge_ins"], channel="media_stream") == barge_ins
    switches = total(found["voxagent_provider_switches"], stage="tts", failed="elevenlabs")
    assert switches == 2, "each call's voice failed over once"
    replies = [
        t for r in records for t in r["turns"]
        if t["kind"] == "reply" and t["first_audio_sent_ms"] is not None
    ]  # fmt: skip
    counted = [
        s for s in found["voxagent_turn_stage_seconds"]
        if s[0].endswith("_count") and s[1]["stage"] == "first_audio_sent"
    ]  # fmt: skip
    assert sum(s[2] for s in counted) == len(replies) > 0
    assert all(s[1]["instance"] == server.services.instance_id for s in counted)
    assert found["voxagent_event_loop_lag_seconds"], "the loop's lag is measured"

    assert numbers == alias
    assert numbers["realtime"]["activeCalls"] == 0
    assert numbers["last1h"]["totalCalls"] == 2
    assert numbers["last1h"]["errorsCount"] == 2  # the two switches, no dropped call
    expected = percentile([t["first_audio_sent_ms"] for t in replies], 95)
    assert numbers["realtime"]["p95Latency"] == pytest.approx(expected, abs=0.1)
    assert numbers["realtime"]["memoryAvg"] > 50


async def test_a_page_reports_its_timings_within_its_limit(server: LiveServer) -> None:
    token = server.services.browser.issuer.issue("metrics-page")
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        sent = await http.post(
            "/api/sandra/metrics",
            json={"token_ms": 40, "connect_ms": 180, "first_audio_heard_ms": 720},
            headers=bearer,
        )
        assert sent.status_code == 202, sent.text
        assert sent.json()["accepted"] == ["connect_ms", "first_audio_heard_ms", "token_ms"]
        assert (await http.post("/api/sandra/metrics", json={"connect_ms": 1})).status_code == 401
        for bad in ({"connect_ms": -5}, {"connect_ms": "fast"}, {"surprise": 1}):
            answer = await http.post("/api/sandra/metrics", json=bad, headers=bearer)
            assert answer.status_code == 422, bad
        statuses = [
            (await http.post("/api/sandra/metrics", json={"connect_ms": 100}, headers=bearer))
            for _ in range(100)
        ]
        refused = [r for r in statuses if r.status_code == 429]
        assert len(refused) == 1 and int(refused[0].headers["Retry-After"]) >= 1
        other = server.services.browser.issuer.issue("another-page")
        fine = await http.post(
            "/api/sandra/metrics",
            json={"connect_ms": 90},
            headers={"Authorization": f"Bearer {other}"},
        )
        assert fine.status_code == 202, "the limit is per session"
        text = (await http.get("/metrics", headers=AUTH)).text
        stream = await http.get("/api/metrics/stream?events=1", headers=AUTH)
    event = json.loads(next(ln for ln in stream.text.splitlines() if ln.startswith("data: "))[6:])
    client = event["client"]
    assert client["connect"]["count"] == 101 and client["token"]["count"] == 1
    assert client["first_audio_heard"]["p95"] == 720.0, "the dashboard shows what pages saw"
    found = parse(text)
    heard = total(
        [s for s in found["voxagent_client_timing_seconds"] if s[0].endswith("_count")],
        metric="connect",
        source="client",
    )
    assert heard == 1 + 99 + 1


async def test_metrics_port_serves_the_scrape_off_the_public_port(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings(
        _env_file=None,
        api_keys=KEY,
        metrics_port=port,
        host="127.0.0.1",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}",
        media_dir=str(tmp_path / "media"),
        stt_workers=1,
        tts_workers=1,
    )
    async with (
        live_server(settings) as running,
        httpx.AsyncClient(timeout=10) as http,
    ):
        scraped = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200 and "voxagent_calls_active" in scraped.text
        assert scraped.headers["content-type"].startswith("text/plain")
        assert (await http.get(f"http://127.0.0.1:{port}/other")).status_code == 404
        public = await http.get(f"{running.url}/metrics", headers=AUTH)
        assert public.status_code == 404, "not on the public port then"
