"""Commands for a live call reach the instance that serves it, wherever they arrive, and a
draining instance hands its phone calls to another one between turns. Two instances in this
process on the fake Telnyx and the real Redis (a prefix of the test's own), one database."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from fakes.instances import API_KEY, REDIS_URL, free_port, instance, redis_for_test
from voxagent.calls import command_wire as wire
from voxagent.calls.command_bus import CommandBus, InstanceUnreachable
from voxagent.services import Services
from voxagent.simulator.fake_telnyx import FakeTelnyx

pytestmark = pytest.mark.timeout(180)

AUTH = {"X-API-Key": API_KEY}
SCRIPT = [
    "I would like to book an appointment",
    "My dog is called Rex",
    "He needs a vaccination",
    "No thank you goodbye",
]


async def until(condition: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[Redis, str]]:
    async with redis_for_test() as found:
        yield found


@contextlib.asynccontextmanager
async def two_instances(
    tmp_path: Path,
    prefix: str,
    script: list[str],
    *,
    webhooks_to_b: bool = False,
    **fake_options: object,
) -> AsyncIterator[tuple[FakeTelnyx, Services, Services, httpx.AsyncClient, httpx.AsyncClient]]:
    """A places and serves the calls (Telnyx's webhooks go to it, or to B); B is the other
    instance."""
    port_a, port_b = free_port(), free_port()
    async with (
        FakeTelnyx(
            webhook_url=f"http://127.0.0.1:{port_b if webhooks_to_b else port_a}/webhook/telnyx",
            api_key="KEY_FAKE",
            callee_script=script,
            **fake_options,  # type: ignore[arg-type]
        ) as fake,
        instance(tmp_path, fake, port_a, REDIS_URL, prefix, use_media_streams=True) as a,
        instance(tmp_path, fake, port_b, REDIS_URL, prefix, use_media_streams=True) as b,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}", headers=AUTH) as on_a,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_b}", headers=AUTH) as on_b,
    ):
        yield fake, a, b, on_a, on_b


async def place(on_a: httpx.AsyncClient, a: Services, phone: str) -> str:
    placed = await on_a.post("/api/call/initiate", json={"name": "Ana", "phone": phone})
    assert placed.status_code == 200, placed.text
    call_id: str = placed.json()["call_control_id"]
    await until(lambda: a.calls.live(call_id) is not None)
    return call_id


async def test_commands_sent_to_the_other_instance_reach_the_call(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    async with two_instances(
        tmp_path, redis_prefix[1], ["hello", "hello again", "and again"], callee_pause_s=5.0
    ) as (fake, a, b, on_a, on_b):
        call_id = await place(on_a, a, "+15557770101")
        live = a.calls.live(call_id)
        assert live is not None
        await until(lambda: live.counters.turns >= 1)  # the greeting was said

        seen = await on_b.get(f"/api/calls/{call_id}")
        assert seen.status_code == 200
        assert seen.json()["state"] in ("listening", "user_speaking", "thinking", "bot_speaking")
        assert seen.json()["transcript"], "the live transcript, from the instance serving it"
        assert b.commands.forwarded == 1

        spoken = await on_b.post(f"/api/calls/{call_id}/speak", json={"text": "One moment."})
        assert spoken.status_code == 202, spoken.text
        await until(lambda: any(t.kind == "announcement" for t in live.turns), 20)
        announced = next(t for t in live.turns if t.kind == "announcement")
        await until(lambda: announced.first_audio_sent is not None, 20)

        refused = await on_b.post(f"/api/calls/{call_id}/transfer", json={"to": "not a number"})
        assert refused.status_code == 422
        moved = await on_b.post(f"/api/calls/{call_id}/transfer", json={"to": "+15557770199"})
        assert moved.status_code == 200, moved.text
        assert moved.json()["instance"] == a.instance_id
        transfers = [r for r in fake.requests if r.path.endswith("/actions/transfer")]
        assert [r.json["to"] for r in transfers] == ["+15557770199"]
        await until(lambda: a.calls.get(call_id) is None)

        second = await place(on_a, a, "+15557770102")
        hung = await on_b.post(f"/api/calls/{second}/hangup")
        assert hung.status_code == 200, hung.text
        await fake.wait_ended(second, within_s=10)
        assert (await on_b.post(f"/api/calls/{second}/hangup")).status_code == 404
        assert (await on_b.post("/api/calls/v3:no-such-call/speak", json={"text": "hi"})).json()[
            "detail"
        ]


async def test_a_command_to_an_instance_that_is_gone_fails_fast(
    redis_prefix: tuple[Redis, str],
) -> None:
    redis, prefix = redis_prefix

    async def never(request: wire.CommandRequest) -> wire.CommandReply:
        raise AssertionError("not for us")

    bus = CommandBus(redis, prefix=prefix, instance_id="me", handler=never)
    await bus.start()
    try:
        started = time.monotonic()
        with pytest.raises(InstanceUnreachable, match="not listening"):
            await bus.request("gone", "hangup", "v3:call")
        assert time.monotonic() - started < 1.0
        await redis.publish(bus.channel, "{not json")
        await until(lambda: bus.malformed == 1, 5)
    finally:
        await bus.stop()


async def test_a_draining_instance_hands_its_call_over_between_turns(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    async with two_instances(tmp_path, redis_prefix[1], SCRIPT, callee_hangup_after_s=15.0) as (
        fake,
        a,
        b,
        on_a,
        on_b,
    ):
        call_id = await place(on_a, a, "+15557770103")
        live = a.calls.live(call_id)
        assert live is not None
        await until(lambda: live.counters.turns >= 2, 60)  # greeting + a reply
        greeting = live.history.as_dicts()[0]

        await asyncio.wait_for(a.drain(30.0), 35)

        assert a.calls.active == 0 and a.stats.handed_over == 1
        assert a.handover is not None and a.handover.handed == 1
        await until(lambda: b.calls.live(call_id) is not None, 10)
        moved = b.calls.live(call_id)
        assert moved is not None, "the call goes on on the other instance"
        assert not any(t.kind == "reconnected" for t in moved.turns), "no apology: nothing lost"
        assert await b.ownership.owner(call_id) == b.instance_id
        ended = await fake.wait_ended(call_id, within_s=90)
        assert ended.lines_said() == list(range(len(SCRIPT))), "each line once, in order"
        await until(lambda: b.calls.get(call_id) is None)
        details = (await on_b.get(f"/api/calls/{call_id}")).json()
        assert details["state"] == "ended" and details["counters"]["handovers"] == 1
        assert details["transcript"][0] == greeting, "one record, from the first instance on"
        kinds = [t["kind"] for t in details["turns"]]
        assert kinds[0] == "greeting" and len(kinds) > 2, kinds


async def test_a_batch_whose_webhooks_reach_the_other_instance_finishes_and_shows_there(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    async with two_instances(tmp_path, redis_prefix[1], [], webhooks_to_b=True) as (
        fake,
        a,
        _,
        on_a,
        on_b,
    ):
        phones = ["+15557770111", "+15557770112", "+15557770113"]
        accepted = await on_a.post(
            "/api/call/batch",
            json={"calls": [{"phone": p} for p in phones], "concurrency": 1, "pace": 10},
        )
        assert accepted.status_code == 202, accepted.text
        batch_id = accepted.json()["batch_id"]
        job = a.telnyx.batches[batch_id]
        assert job.task is not None
        # A slot is freed when a call ends; the hang-ups go to B, so A sees them in Redis.
        await asyncio.wait_for(asyncio.shield(job.task), 90)

        async def shown_on_b() -> bool:
            seen = await on_b.get(f"/api/call/batch/{batch_id}")
            return seen.status_code == 200 and seen.json()["done"] is True

        await until(shown_on_b, 10)
        summary = (await on_b.get(f"/api/call/batch/{batch_id}")).json()
        assert summary["counts"] == {"ended": 3} and summary["max_in_progress"] == 1
        assert len(fake.calls) == 3
        assert (await on_b.get("/api/call/batch/no-such-batch")).status_code == 404
