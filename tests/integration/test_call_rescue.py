"""A phone call whose instance died is picked up by a survivor: it asks the fake Telnyx to
stream the live call to itself (``streaming_start``), and when the stream arrives the call goes
on with its history from Redis and an apology instead of a greeting. A call Telnyx no longer
has is closed as ``failed: instance_lost``. (The real Redis, a prefix of the test's own.)"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from fakes.instances import REDIS_URL, free_port, instance, redis_for_test
from voxagent.calls.info import ChannelKind
from voxagent.calls.sessions import SessionStatus
from voxagent.channels.telnyx.call_control import CallControlClient
from voxagent.channels.telnyx.rescue import INSTANCE_LOST
from voxagent.conversation.history import Message
from voxagent.services import Services
from voxagent.simulator.fake_telnyx import FakeTelnyx

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[Redis, str]]:
    async with redis_for_test() as found:
        yield found


@contextlib.asynccontextmanager
async def survivor_on_fake_telnyx(
    tmp_path: Path, prefix: str, script: list[str] | None = None
) -> AsyncIterator[tuple[FakeTelnyx, Services, int]]:
    """The fake Telnyx and the instance that survives, rescuing orphans with no grace."""
    port = free_port()
    async with (
        FakeTelnyx(
            webhook_url=f"http://127.0.0.1:{port}/webhook/telnyx",
            api_key="KEY_FAKE",
            callee_script=script,
        ) as fake,
        instance(tmp_path, fake, port, REDIS_URL, prefix, use_media_streams=True) as survivor,
    ):
        assert survivor.telnyx.rescuer is not None
        survivor.telnyx.rescuer.grace_s = 0.0
        yield fake, survivor, port


async def orphan(survivor: Services, call_control_id: str) -> str:
    """A media-stream call in the shared sessions, answered, owned by no live instance."""
    sessions = survivor.calls.sessions
    session = await sessions.create(
        "outbound",
        "+15550001000",
        "+15557770009",
        persona="maria",
        mode=ChannelKind.MEDIA_STREAM,
        status=SessionStatus.ANSWERED,
    )
    await sessions.attach_call(session.session_id, call_control_id)
    return session.session_id


async def until(condition: Callable[[], object], seconds: float = 30) -> None:
    """Poll another component's state (sync or async condition) until it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_a_call_whose_instance_died_goes_on_here_with_its_history(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    async with survivor_on_fake_telnyx(tmp_path, redis_prefix[1], ["yes please"]) as (
        fake,
        survivor,
        port,
    ):
        # The live call, dialled by the instance that then died (its webhooks go nowhere).
        client = CallControlClient("KEY_FAKE", fake.base_url)
        dialled = await client.dial(
            connection_id="1234567890",
            to="+15557770009",
            from_="+15550001000",
            webhook_url=f"http://127.0.0.1:{free_port()}/gone",
        )
        call_id = dialled.call_control_id
        await until(lambda: fake.calls[call_id].answered)
        session_id = await orphan(survivor, call_id)
        assert survivor.calls.shared_history is not None
        said = [
            Message("assistant", "Good morning, Sunny Paws clinic, this is Maria."),
            Message("user", "I would like to book a vaccination for my dog Rex."),
        ]
        await survivor.calls.shared_history.save(call_id, said)

        await until(lambda: survivor.calls.live(call_id) is not None)
        call = survivor.calls.live(call_id)
        assert call is not None
        assert list(call.history)[:2] == said, "the conversation goes on from Redis"
        first = call.turns[0]
        assert first.kind == "reconnected", "an apology, not a second greeting"
        started = [r for r in fake.requests if r.path.endswith("/actions/streaming_start")]
        assert len(started) == 1
        session = await survivor.calls.sessions.get(session_id)
        assert session is not None and session.stream_token
        assert started[0].json["stream_auth_token"] == session.stream_token
        assert started[0].json["stream_url"] == f"ws://127.0.0.1:{port}/stream/media"
        assert await survivor.ownership.owner(call_id) == survivor.ownership.instance_id
        await client.hangup(call_id)
        await client.close()


async def test_a_call_telnyx_no_longer_has_is_closed_as_instance_lost(
    tmp_path: Path, redis_prefix: tuple[Redis, str]
) -> None:
    async with survivor_on_fake_telnyx(tmp_path, redis_prefix[1]) as (_, survivor, _port):
        rescuer = survivor.telnyx.rescuer
        assert rescuer is not None
        session_id = await orphan(survivor, "v3:a-call-that-ended-with-its-instance")

        async def closed() -> bool:
            session = await survivor.calls.sessions.get(session_id)
            return session is not None and session.status is SessionStatus.FAILED

        await until(closed, 15)
        session = await survivor.calls.sessions.get(session_id)
        assert session is not None and session.status is SessionStatus.FAILED
        assert session.outcome == INSTANCE_LOST
        assert rescuer.lost == 1
