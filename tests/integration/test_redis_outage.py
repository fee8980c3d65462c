"""Redis goes away mid-call and comes back: the sessions go on from memory and what changed
meanwhile reaches Redis again. A ``redis-server`` of the test's own, on a free port."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from fakes.own_redis import REDIS_SERVER, OwnRedis, free_port
from voxagent.calls.redis_sessions import RedisSessionStore
from voxagent.calls.resilient_sessions import ResilientSessionStore
from voxagent.calls.sessions import SessionStatus

S = SessionStatus
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


async def back_in(store: ResilientSessionStore, seconds: float = 10) -> None:
    """Until the store has recovered (it retries every 0.1 s here)."""
    deadline = time.monotonic() + seconds
    while store.state != "ok" and time.monotonic() < deadline:  # noqa: ASYNC110 - polled state
        await asyncio.sleep(0.05)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_call_goes_on_through_an_outage_and_is_written_back(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client = Redis.from_url(
        f"redis://127.0.0.1:{own_redis.port}/0", decode_responses=True, socket_timeout=1
    )
    store = ResilientSessionStore(RedisSessionStore(client, prefix="t:"), retry_s=0.1)
    try:
        session = await store.create("outbound", "+15550001000", "+15550002000")
        await store.attach_call(session.session_id, "v3:call")
        await store.update(session.session_id, status=S.ANSWERED)
        assert store.state == "ok"

        own_redis.stop()  # mid-call
        with caplog.at_level(logging.WARNING, logger="voxagent.calls.resilient_sessions"):
            token = await store.new_stream_token(session.session_id)
            for _ in range(20):  # every frame's worth of lookups: one warning, not twenty
                assert (await store.by_call("v3:call")) is not None
            ended = await store.update(session.session_id, status=S.ENDED, outcome="completed")
            late = await store.create("inbound", "+15550003000", "+15550001000")
        assert store.state == "degraded"
        assert ended is not None and ended.status is S.ENDED
        unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(unreachable) == 1, "said once, not per call"

        own_redis.start()  # an empty Redis: everything of this instance must come back
        await back_in(store)
        assert store.state == "ok"
        assert store.written_back == 2
        shared = store.shared
        back = await shared.get(session.session_id)
        assert back is not None and back.status is S.ENDED and back.outcome == "completed"
        assert back.stream_token == token and (await shared.by_call("v3:call")) == back
        assert await shared.get(late.session_id) is not None
    finally:
        await store.close()
        await client.aclose()


async def test_a_write_back_never_undoes_what_another_instance_did(own_redis: OwnRedis) -> None:
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    mine = Redis.from_url(url, decode_responses=True, socket_timeout=1)
    theirs = Redis.from_url(url, decode_responses=True)
    store = ResilientSessionStore(RedisSessionStore(mine, prefix="t:"), retry_s=0.1)
    other = RedisSessionStore(theirs, prefix="t:")
    try:
        session = await store.create("outbound", "+15550001000", "+15550002000")
        # This instance loses Redis (its connection breaks) while another ends the call.
        await mine.connection_pool.disconnect()
        store.shared.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2)
        assert await store.update(session.session_id, status=S.RINGING) is not None
        assert store.state == "degraded"
        await other.update(session.session_id, status=S.ENDED, outcome="completed")
        store.shared.redis = mine
        await back_in(store)
        final = await other.get(session.session_id)
        assert final is not None and final.status is S.ENDED, "ringing did not undo the end"
    finally:
        await store.close()
        await mine.aclose()
        await theirs.aclose()
