"""The shipped load-balancer configuration does its job: two real ``voxagent serve`` processes
(offline default providers) behind the real haproxy running ``deploy/haproxy.cfg``, on the
real Redis and a PostgreSQL database of their own, with the fake Telnyx.

One cluster serves the whole module (a process takes seconds to start); the last test kills
instance b, so it stays last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from fakes.cluster import Cluster, cluster
from voxagent.simulator.browser import BrowserCaller, get_token
from voxagent.simulator.fake_telnyx import FakeTelnyx

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.postgres,
    pytest.mark.timeout(180),
]

MARKERS = {"a": 11, "b": 12}
"""A public setting that differs per instance, so an answer tells which instance gave it
(WEBRTC_MAX_PEERS, shown by /api/socket-server/health to key holders)."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake() -> AsyncIterator[FakeTelnyx]:
    async with FakeTelnyx(api_key="KEY_FAKE", callee_script=["no thank you goodbye"]) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeTelnyx
) -> AsyncIterator[Cluster]:
    async with cluster(
        tmp_path_factory.mktemp("cluster"),
        fake,
        settings={"use_media_streams": True},
        per_instance={name: {"webrtc_max_peers": n} for name, n in MARKERS.items()},
    ) as running:
        yield running


async def served_by(http: httpx.AsyncClient) -> str:
    """Which instance answered a request through the balancer."""
    response = await http.get("/api/socket-server/health")
    assert response.status_code == 200, response.text
    peers = response.json()["webrtc"]["max_peers"]
    return next(name for name, n in MARKERS.items() if n == peers)


async def test_requests_through_the_balancer_reach_both_instances(pair: Cluster) -> None:
    async with pair.http() as http:
        seen = [await served_by(http) for _ in range(8)]
    assert set(seen) == {"a", "b"}, seen


async def test_a_phone_call_runs_through_the_balancer_webhooks_and_media_stream(
    pair: Cluster, fake: FakeTelnyx
) -> None:
    async with pair.http() as http:
        placed = await http.post(
            "/api/call/initiate", json={"phone": "+15557770101", "name": "Ana"}
        )
        assert placed.status_code == 200, placed.text
        call_id = placed.json()["call_control_id"]
        deadline = time.monotonic() + 90
        while True:
            details = (await http.get(f"/api/calls/{call_id}")).json()
            if details.get("session", {}).get("status") in ("ended", "failed"):
                break
            assert time.monotonic() < deadline, f"the call did not end: {details}\n{pair.logs()}"
            await asyncio.sleep(0.5)
    call = fake.calls[call_id]
    assert call.stream is not None and call.stream["stream_url"] == pair.ws_url
    assert any(e.event_type == "streaming.started" for e in call.events), call.stream_error
    assert call.webhook_url == f"{pair.url}/webhook/telnyx"
    assert details["session"]["status"] == "ended", f"{details}\n{pair.logs()}"
    assert details["mode"] == "media_stream"
    roles = {turn["role"] for turn in details["transcript"]}
    assert {"assistant", "user"} <= roles, details["transcript"]


async def test_a_browser_connects_over_socketio_websocket_through_the_balancer(
    pair: Cluster,
) -> None:
    token = await get_token(pair.url, "guest-balanced", api_key=pair.api_key)
    caller = BrowserCaller(pair.url, token)
    await caller.connect()
    try:
        await caller.start()
        assert caller.session_id
    finally:
        await caller.close()


async def test_a_killed_instance_leaves_rotation_and_every_request_succeeds(
    pair: Cluster,
) -> None:
    assert pair.balancer is not None
    await pair.b.kill()
    failures: list[int] = []
    async with pair.http() as http:
        # Until the checks notice (two failures a second apart), requests sent to b are
        # refused and redispatched to a: none fails.
        deadline = time.monotonic() + 3
        while (await pair.balancer.server_states())["b"] != "DOWN":
            assert time.monotonic() < deadline, f"b is still in rotation\n{pair.logs()}"
            response = await http.get("/health")
            if response.status_code != 200:
                failures.append(response.status_code)
            await asyncio.sleep(0.05)
        seen = [await served_by(http) for _ in range(6)]
    assert not failures
    assert seen == ["a"] * 6
