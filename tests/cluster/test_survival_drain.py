"""Several instances, proven with real processes (3 to 5 of 5): two ``voxagent serve``
behind the real haproxy, the real Redis and a PostgreSQL database of their own.

3. SIGTERM in the middle of five calls: the draining instance hands its calls over between
   turns; every call finishes with each of the caller's lines said once, and it exits early.
4. A browser session whose instance died resumes, through the balancer, on the other one.
5. Redis (a ``redis-server`` of the test's own) stops mid-call: the call finishes, its record
   is complete, health says degraded, then ok once Redis is back.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from fakes.cluster import Instance, cluster
from fakes.own_redis import REDIS_SERVER, OwnRedis
from fakes.survival import (
    SHORT_SCRIPT,
    call_details,
    ended,
    instance_ids,
    owner_of,
    place,
    turn_kinds,
    until,
)
from voxagent.simulator.browser import BrowserCaller, get_token
from voxagent.simulator.fake_telnyx import FakeTelnyx

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


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
        call_id = json.loads(described)["call_id"]
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
