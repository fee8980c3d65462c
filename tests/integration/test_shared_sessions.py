"""Two instances on one Redis (the real one at 127.0.0.1:6379, a key prefix of the test's own)
see the same calls; an instance whose Redis is away at start runs from memory and says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from fakes.instances import API_KEY, REDIS_URL, free_port, instance, redis_for_test
from fakes.live_server import live_server
from voxagent.calls.ownership import CallOwnership
from voxagent.channels.telnyx.controller import SharedEventDeduplicator
from voxagent.settings import Settings, load_settings
from voxagent.simulator.browser import BrowserCaller, get_token
from voxagent.simulator.fake_telnyx import FakeTelnyx

KEY = API_KEY


def browser_instance(tmp_path: Path, name: str, prefix: str, persona: str) -> Settings:
    """An instance's settings for browser sessions: its own database, the shared Redis, and
    the JWT secret every instance must share."""
    return load_settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db",
        media_dir=str(tmp_path / name),
        jwt_secret="s" * 40,
        browser_persona=persona,
        redis_url=REDIS_URL,
        redis_key_prefix=prefix,
        stt_workers=1,
        tts_workers=1,
    )


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[Redis, str]]:
    async with redis_for_test() as found:
        yield found


async def test_a_call_placed_on_one_instance_is_known_to_the_other(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    client, prefix = redis_prefix
    port_a, port_b = free_port(), free_port()
    async with FakeTelnyx(
        webhook_url=f"http://127.0.0.1:{port_a}/webhook/telnyx", api_key="KEY_FAKE"
    ) as fake:
        fake.behaviour["+15557770001"] = "no_answer"
        async with (
            instance(tmp_path / "a", fake, port_a, REDIS_URL, prefix) as a,
            instance(tmp_path / "b", fake, port_b, REDIS_URL, prefix) as b,
        ):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port_a}",
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=10,
            ) as http:
                placed = await http.post(
                    "/api/call/initiate", json={"nombre": "Ana", "telefono": "+15557770001"}
                )
                assert placed.status_code == 200, placed.text
                body = placed.json()
                health = (await http.get("/health")).json()
            session_id = body.get("session_id") or body["sessionId"]
            seen_by_b = await b.calls.sessions.get(session_id)
            assert seen_by_b is not None and seen_by_b.name == "Ana"
            assert seen_by_b.call_control_id, "the Telnyx call id is shared too"
            assert await b.calls.sessions.by_call(seen_by_b.call_control_id) == seen_by_b
            assert health["redis"] == "ok" and a.health()["redis"] == "ok"
            ttl = await client.ttl(f"{prefix}session:{session_id}")
            assert 0 < ttl <= 120


async def test_without_redis_at_start_calls_run_from_memory_and_health_says_degraded(
    tmp_path: Path,
) -> None:
    port = free_port()
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with FakeTelnyx(
        webhook_url=f"http://127.0.0.1:{port}/webhook/telnyx", api_key="KEY_FAKE"
    ) as fake:
        fake.behaviour["+15557770002"] = "no_answer"
        async with instance(tmp_path, fake, port, nowhere, "test:none:") as services:
            assert services.health()["redis"] == "degraded"
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=10,
            ) as http:
                placed = await http.post(
                    "/api/call/initiate", json={"name": "Eva", "phone": "+15557770002"}
                )
            assert placed.status_code == 200, placed.text
            assert len(await services.calls.sessions.active()) == 1


async def test_a_webhook_retried_to_the_other_instance_is_handled_once(
    redis_prefix: tuple[Redis, str],
) -> None:
    client, prefix = redis_prefix
    other = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        a = SharedEventDeduplicator(client, prefix=prefix, ttl_s=60)
        b = SharedEventDeduplicator(other, prefix=prefix, ttl_s=60)
        assert await a.claim("evt-1") is True
        assert await b.claim("evt-1") is False, "B knows A handled it"
        assert await a.claim("evt-1") is False
        assert await b.claim("evt-2") is True and await a.claim("evt-2") is False
        assert 0 < await client.ttl(f"{prefix}webhook:evt-1") <= 60
    finally:
        await other.aclose()
    away = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    alone = SharedEventDeduplicator(away, prefix=prefix, ttl_s=60)
    assert await alone.claim("evt-3") is True, "with Redis away, memory decides"
    assert await alone.claim("evt-3") is False
    await away.aclose()


async def test_a_users_tabs_on_two_instances_share_the_transcript(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    """Socket.IO through Redis: a room emit on A reaches the user's tab on B; the audio of
    A's session stays on A (it never goes through the queue)."""
    _, prefix = redis_prefix

    a_settings, b_settings = (browser_instance(tmp_path, n, prefix, "sandra") for n in "ab")
    async with live_server(a_settings) as a, live_server(b_settings) as b:
        first = BrowserCaller(a.url, await get_token(a.url, "guest-two-instances"))
        second = BrowserCaller(b.url, await get_token(a.url, "guest-two-instances"))
        stranger = BrowserCaller(b.url, await get_token(b.url, "guest-stranger"))
        for caller in (first, second, stranger):
            await caller.connect()
        try:
            await first.start()
            await first.emit("text", {"text": "hello from the tab on A"})
            seen = await second.wait_for("transcript_final", within_s=10)
            assert seen["text"] == "hello from the tab on A"
            assert (await first.wait_for("transcript_final"))["text"] == seen["text"]
            await first.wait_for("audio", within_s=20)
            await asyncio.sleep(0.3)
            assert not second.count("audio"), "audio goes to the tab that talks only"
            assert not stranger.count("transcript_final"), "rooms are per user"
        finally:
            for caller in (first, second, stranger):
                await caller.close()


async def test_the_calls_of_an_instance_that_stops_beating_are_found_and_taken_once(
    redis_prefix: tuple[Redis, str],
) -> None:
    client, prefix = redis_prefix
    a = CallOwnership(client, prefix=prefix, instance_id="a", interval_s=0.05, ttl_s=1)
    b = CallOwnership(client, prefix=prefix, instance_id="b", interval_s=0.05, ttl_s=1)
    c = CallOwnership(client, prefix=prefix, instance_id="c", interval_s=0.05, ttl_s=1)
    served_by_a = ["call-1", "call-2"]
    a.start(lambda: served_by_a)
    b.start(lambda: ["call-3"])
    try:
        await asyncio.sleep(0.3)
        everything = ["call-1", "call-2", "call-3"]
        assert await b.orphans(everything) == []
        assert await b.owner("call-1") == "a"
        await a.stop()  # A dies: its heartbeats stop, and nobody releases its calls
        await asyncio.sleep(1.3)
        assert await b.orphans(everything) == ["call-1", "call-2"]
        won = await asyncio.gather(b.take_over("call-1"), c.take_over("call-1"))
        assert sorted(won) == [False, True], "exactly one survivor takes the call"
        await b.stop()
        await c.release("call-3")
        assert await c.owner("call-3") == "b", "only its owner releases a call"
        await b.release("call-3")
        assert await c.owner("call-3") is None, "a call that ended here is let go at once"
    finally:
        await a.stop()
        await b.stop()


async def test_a_browser_session_resumes_on_another_instance_after_its_own_is_gone(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    _, prefix = redis_prefix

    async with live_server(browser_instance(tmp_path, "b", prefix, "maria")) as b:
        async with live_server(browser_instance(tmp_path, "a", prefix, "maria")) as a:
            page = BrowserCaller(a.url, await get_token(a.url, "guest-moving"))
            await page.connect()
            await page.start()
            await page.emit("text", {"text": "my dog's name is luna"})
            await page.wait_for("metrics", predicate=lambda d: d["turn"] == 1, within_s=20)
            session_id = page.session_id
            await page.close()
        # A is gone. The page reconnects (through the balancer) and lands on B.
        again = BrowserCaller(b.url, await get_token(b.url, "guest-moving"))
        await again.connect()
        try:
            assert session_id
            await again.resume(session_id)
            resumed = await again.wait_for("session_resumed", within_s=10)
            said = [m["text"] for m in resumed["history"]]
            assert "my dog's name is luna" in said, said
        finally:
            await again.close()
        stranger = BrowserCaller(b.url, await get_token(b.url, "guest-someone-else"))
        await stranger.connect()
        try:
            await stranger.resume(session_id)
            assert (await stranger.wait_for("error"))["code"] == "unknown_session"
        finally:
            await stranger.close()


async def test_a_draining_instance_sends_its_pages_to_another_one(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    _, prefix = redis_prefix
    async with (
        live_server(browser_instance(tmp_path, "b", prefix, "maria")) as b,
        live_server(browser_instance(tmp_path, "a", prefix, "maria")) as a,
    ):
        page = BrowserCaller(a.url, await get_token(a.url, "guest-draining"))
        await page.connect()
        await page.start()
        await page.emit("text", {"text": "my dog's name is luna"})
        await page.wait_for("metrics", predicate=lambda d: d["turn"] == 1, within_s=20)
        session_id = page.session_id
        assert session_id

        draining = asyncio.create_task(a.services.drain(10.0))
        ended = await page.wait_for("session_ended", within_s=10)
        assert ended["reason"] == "server_shutdown", "kept: the page resumes it elsewhere"
        await draining
        assert not a.services.browser.namespace.connections, "every socket was closed"
        refused = BrowserCaller(a.url, await get_token(a.url, "guest-draining"))
        with pytest.raises(Exception, match="failed to connect"):
            await refused.connect()
        assert a.services.browser.namespace.metrics.rejected["draining"] == 1
        await page.close()

        again = BrowserCaller(b.url, await get_token(b.url, "guest-draining"))
        await again.connect()
        try:
            await again.resume(session_id)
            resumed = await again.wait_for("session_resumed", within_s=10)
            assert "my dog's name is luna" in [m["text"] for m in resumed["history"]]
        finally:
            await again.close()


async def test_a_call_handed_over_changes_owner_in_one_step(
    redis_prefix: tuple[Redis, str],
) -> None:
    """The adopter takes the key from the instance handing over (no moment without an
    owner, when a rescue sweep could grab the call), never from a third one."""
    client, prefix = redis_prefix
    draining = CallOwnership(client, prefix=prefix, instance_id="draining")
    adopter = CallOwnership(client, prefix=prefix, instance_id="adopter")
    other = CallOwnership(client, prefix=prefix, instance_id="other")
    await draining.beat(["v3:moving"])
    assert await adopter.take_from("v3:moving", "draining") is True
    assert await adopter.owner("v3:moving") == "adopter"
    assert await other.take_from("v3:moving", "draining") is False, "adopter has it now"
    assert await adopter.take_from("v3:lapsed", "draining") is True, "an expired key is free"
    assert 0 < await client.ttl(f"{prefix}owner:v3:moving") <= adopter.ttl_s
