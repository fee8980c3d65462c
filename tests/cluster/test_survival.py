"""Several instances, proven with real processes: two ``voxagent serve`` behind the real
haproxy (``deploy/haproxy.cfg``), the real Redis (a prefix of the test's own) and a
PostgreSQL database of their own, with the fake Telnyx and the simulated callers.

1. Telnyx's webhooks reach A while the media stream lands on B: the call books an appointment,
   and a webhook retried to the other instance is handled once.
2. The instance serving a call is SIGKILLed: the other one picks the call up within seconds,
   the caller hears the agent again, the appointment stays booked, the record shows it.
3. SIGTERM in the middle of five calls: the draining instance hands its calls over between
   turns; every call finishes with each of the caller's lines said once, and it exits early.
4. A browser session whose instance died resumes, through the balancer, on the other one.
5. Redis (a ``redis-server`` of the test's own) stops mid-call: the call finishes, its record
   is complete, health says degraded, then ok once Redis is back.

The sixth proof, load through the balancer, is ``bench/instances_load.py``. Nothing here
asserts what a recognizer heard in synthetic speech: lines are counted by script index.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from fakes.cluster import Cluster, Instance, cluster
from fakes.own_redis import REDIS_SERVER, OwnRedis
from voxagent.simulator.browser import BrowserCaller, get_token
from voxagent.simulator.caller import DEFAULT_SCRIPT
from voxagent.simulator.fake_telnyx import FakeTelnyx

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

SHORT_SCRIPT = ["hello there", "i have a question", "no thank you goodbye"]


async def until(
    condition: Callable[[], Awaitable[object] | object], seconds: float, what: str
) -> float:
    """Poll ``condition`` until it holds; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        held = condition()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


async def call_details(http: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/calls/{call_id}")
    assert response.status_code == 200, response.text
    details: dict[str, Any] = response.json()
    return details


async def ended(http: httpx.AsyncClient, call_id: str, within_s: float = 150) -> dict[str, Any]:
    """The call's record once its session ended and its record is closed."""

    async def over() -> bool:
        details = await call_details(http, call_id)
        return details.get("state") == "ended" and details["session"]["status"] in (
            "ended",
            "failed",
        )

    await until(over, within_s, f"call {call_id} ending")
    return await call_details(http, call_id)


async def appointments(database_url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT call_id, reason FROM appointments")
    finally:
        await conn.close()
    return [(r["call_id"], r["reason"]) for r in rows]


async def instance_ids(c: Cluster) -> dict[str, Instance]:
    """Each running instance by the id it heartbeats with."""
    found = {}
    for server in c.instances:
        status, health = await server.health()
        assert status == 200, health
        found[str(health["instance"])] = server
    return found


async def owner_of(c: Cluster, call_id: str, ids: dict[str, Instance]) -> Instance:
    owner = await c.redis.get(f"{c.prefix}owner:{call_id}")
    assert owner in ids, f"call {call_id} is owned by {owner!r}"
    return ids[owner]


async def place(http: httpx.AsyncClient, phone: str) -> str:
    placed = await http.post("/api/call/initiate", json={"name": "Ana", "phone": phone})
    assert placed.status_code == 200, placed.text
    return str(placed.json()["call_control_id"])


def turn_kinds(details: dict[str, Any]) -> list[str]:
    return [str(t["kind"]) for t in details["turns"]]


async def test_webhooks_on_a_media_on_b_books_and_a_retried_webhook_counts_once(
    tmp_path: Path,
) -> None:
    async with (
        FakeTelnyx(api_key="KEY_FAKE", callee_script=list(DEFAULT_SCRIPT), transcribe=True) as fake,
        cluster(
            tmp_path,
            fake,
            # A dials with its own address for Telnyx's webhooks, the balancer's for the stream.
            per_instance={"a": {"webhook_base_url": "{a}", "stream_url": "{public_stream}"}},
        ) as c,
    ):
        assert c.balancer is not None
        await c.balancer.command("set server voxagent/a state drain")  # new streams: to B
        async with c.http(c.a.url) as on_a:
            call_id = await place(on_a, "+15557770201")
            details = await ended(on_a, call_id)
        assert f"call {call_id}: media stream" in c.b.log(), "the stream was served by B"
        assert f"call {call_id}: media stream" not in c.a.log()
        assert details["mode"] == "media_stream" and details["state"] == "ended"
        booked = await appointments(c.database_url)
        dialogue = [(t["user_text"], t["agent_text"]) for t in details["turns"]]
        assert [call for call, _ in booked] == [call_id], dialogue

        answered = fake.deliveries("call.answered", call_id)[0]
        assert answered.url.startswith(c.a.url)
        status = await fake.redeliver(answered.event_id, f"{c.b.url}/webhook/telnyx")
        assert status == 200
        retried = fake.deliveries("call.answered", call_id)[-1]
        assert retried.attempt == 2 and retried.url.startswith(c.b.url)
        _, health_b = await c.b.health()
        assert health_b["webhooks"]["duplicates"] == 1, "B knew A had handled it"


async def test_a_call_whose_instance_is_killed_goes_on_on_the_other_one(tmp_path: Path) -> None:
    async with (
        FakeTelnyx(
            api_key="KEY_FAKE",
            callee_script=list(DEFAULT_SCRIPT),
            transcribe=True,
            callee_hangup_after_s=20.0,  # the caller waits on the line, as people do
            callee_options={"hangup_after_s": 2.0},
        ) as fake,
        cluster(tmp_path, fake) as c,
        c.http() as http,
    ):
        ids = await instance_ids(c)
        call_id = await place(http, "+15557770202")

        async def booked() -> bool:
            return any(call == call_id for call, _ in await appointments(c.database_url))

        await until(booked, 150, "the booking")
        owner = await owner_of(c, call_id, ids)
        survivor = c.b if owner is c.a else c.a
        killed_at = time.monotonic()
        await owner.kill()

        async with c.http(survivor.url) as on_survivor:

            async def heard_again() -> bool:
                live = await call_details(on_survivor, call_id)
                return any(
                    t["kind"] == "reconnected" and t["first_audio_sent_ms"] is not None
                    for t in live.get("turns", [])
                )

            await until(heard_again, 15, "the agent speaking again")
            back_after = time.monotonic() - killed_at
            details = await ended(on_survivor, call_id)
        print(f"killed → the agent speaks again on the survivor: {back_after:.1f} s")
        assert back_after < 5.0, f"{back_after:.1f} s"
        assert details["counters"]["handovers"] == 1, "the record shows the handover"
        assert "reconnected" in turn_kinds(details) and turn_kinds(details)[0] == "greeting"
        assert [call for call, _ in await appointments(c.database_url)] == [call_id]
        assert fake.calls[call_id].lines_said()[-1] == len(DEFAULT_SCRIPT) - 1


async def test_a_draining_instance_hands_its_calls_over_and_exits_early(tmp_path: Path) -> None:
    drain_timeout = 40
    async with (
        FakeTelnyx(
            api_key="KEY_FAKE",
            callee_script=SHORT_SCRIPT,
            callee_hangup_after_s=20.0,
            callee_options={"hangup_after_s": 2.0},
        ) as fake,
        cluster(tmp_path, fake, settings={"shutdown_grace_seconds": drain_timeout}) as c,
        c.http() as http,
    ):
        ids = await instance_ids(c)
        calls = await asyncio.gather(*(place(http, f"+1555777030{i}") for i in range(5)))

        async def all_talking() -> bool:
            for call_id in calls:
                if len((await call_details(http, call_id)).get("turns", [])) < 2:
                    return False
            return True

        await until(all_talking, 90, "five calls past their first reply")
        owners = {call_id: await owner_of(c, call_id, ids) for call_id in calls}
        on_b = [call_id for call_id, owner in owners.items() if owner is c.b]
        assert on_b, "the balancer put none of the five calls on B"
        asked = time.monotonic()
        await c.b.terminate()
        code = await c.b.wait_exit(drain_timeout + 10)
        took = time.monotonic() - asked
        print(f"B served {len(on_b)} of 5 calls; drained and exited in {took:.1f} s")
        # uvicorn re-raises the SIGTERM it caught once it has shut down: a clean exit by it.
        assert code in (0, -signal.SIGTERM) and took < drain_timeout, (took, c.b.log_tail())
        assert "Application shutdown complete" in c.b.log()

        async with c.http(c.a.url) as on_a:
            for call_id in calls:
                details = await ended(on_a, call_id)
                said = fake.calls[call_id].lines_said()
                assert said == list(range(len(SHORT_SCRIPT))), (
                    call_id in on_b,
                    said,
                    details["outcome"],
                    turn_kinds(details),
                    fake.events(call_id),
                )
                moved = call_id in on_b
                assert details["counters"].get("handovers", 0) == (1 if moved else 0)
                assert "reconnected" not in turn_kinds(details), "a hand-over, not a rescue"


async def test_a_browser_session_resumes_through_the_balancer_after_its_instance_died(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, None) as c:
        ids = await instance_ids(c)
        page = BrowserCaller(c.url, await get_token(c.url, "guest-moving", api_key=c.api_key))
        await page.connect()
        await page.start()
        await page.emit("text", {"text": "my dog's name is luna"})
        await page.wait_for("metrics", predicate=lambda d: d["turn"] == 1, within_s=30)
        session_id = page.session_id
        assert session_id
        described = await c.redis.get(f"{c.prefix}browser:{session_id}")
        assert described, "the session is described in Redis"
        call_id = __import__("json").loads(described)["call_id"]
        serving = await owner_of(c, call_id, ids)
        await serving.kill()
        await page.close()

        # The page's backoff: reconnect through the balancer until it gets in, then resume.
        again = None
        for delay in (0.2, 0.4, 0.8, 1.6, 3.2):
            await asyncio.sleep(delay)
            try:
                token = await get_token(c.url, "guest-moving", api_key=c.api_key)
                again = BrowserCaller(c.url, token)
                await again.connect()
                break
            except Exception:
                again = None
        assert again is not None, "the page could not reconnect through the balancer"
        try:
            await again.resume(session_id)
            resumed = await again.wait_for("session_resumed", within_s=15)
            said = [m["text"] for m in resumed["history"]]
            assert "my dog's name is luna" in said, said
        finally:
            await again.close()


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
async def test_a_call_goes_on_when_redis_stops_and_health_recovers(tmp_path: Path) -> None:
    own = OwnRedis()
    own.start()
    try:
        async with (
            FakeTelnyx(api_key="KEY_FAKE", callee_script=SHORT_SCRIPT) as fake,
            cluster(tmp_path, fake, settings={"redis_url": own.url}) as c,
            c.http() as http,
        ):
            call_id = await place(http, "+15557770401")
            serving: Instance | None = None

            async def talking() -> bool:
                nonlocal serving
                for server in c.instances:
                    async with c.http(server.url) as direct:
                        live = await call_details(direct, call_id)
                    if len(live.get("turns", [])) >= 2 and live.get("state") != "ended":
                        serving = server
                        return live.get("outcome") == "in_progress"
                return False

            await until(talking, 60, "the call past its first reply")
            assert serving is not None
            fake.webhook_url = f"{serving.url}/webhook/telnyx"
            for call in fake.calls.values():  # its own instance keeps it in memory
                call.webhook_url = fake.webhook_url
            own.stop()

            async def degraded() -> bool:
                return (await serving.health())[1]["redis"] == "degraded"

            await until(degraded, 10, "health saying degraded")
            await fake.wait_ended(call_id, within_s=90)
            async with c.http(serving.url) as direct:
                details = await ended(direct, call_id, within_s=30)
            assert fake.calls[call_id].lines_said() == list(range(len(SHORT_SCRIPT)))
            assert details["ended_at"] and details["outcome"] not in (None, "in_progress")
            users = [m for m in details["transcript"] if m["role"] == "user"]
            assert len(details["turns"]) >= len(SHORT_SCRIPT) and users, details["turns"]

            own.start()  # empty: the instance writes back what it holds

            async def recovered() -> bool:
                return (await serving.health())[1]["redis"] == "ok"

            await until(recovered, 15, "health saying ok again")
    finally:
        own.stop()
