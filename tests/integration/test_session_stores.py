"""Every session store keeps the same contract; the Redis one also shares it between
instances (two clients on the real Redis at 127.0.0.1:6379, a key prefix of the test's own)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from fakes.instances import REDIS_URL, redis_for_test
from voxagent.calls.redis_sessions import RedisSessionStore, active_key, session_key
from voxagent.calls.sessions import (
    MemorySessionStore,
    SessionStatus,
    SessionStore,
    session_from_json,
    session_to_json,
)

S = SessionStatus


@pytest_asyncio.fixture
async def redis_prefix() -> AsyncIterator[tuple[Redis, str]]:
    async with redis_for_test() as found:
        yield found


@pytest_asyncio.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore()
        return
    async with redis_for_test() as (client, prefix):
        yield RedisSessionStore(client, prefix=prefix, ttl_s=60)


async def test_sessions_are_found_by_id_and_by_call(store: SessionStore) -> None:
    a = await store.create("outbound", "+15550001000", "+15550002000", variables={"pet": "Rex"})
    b = await store.create("inbound", "+15550003000", "+15550001000")
    attached = await store.attach_call(a.session_id, "v3:a")
    assert attached is not None and attached.call_control_id == "v3:a"
    assert await store.by_call("v3:a") == attached
    assert await store.get(b.session_id) == b
    assert await store.get("nobody") is None and await store.by_call("v3:nobody") is None
    assert {s.session_id for s in await store.active()} == {a.session_id, b.session_id}
    token = await store.new_stream_token(a.session_id)
    refreshed = await store.get(a.session_id)
    assert refreshed is not None and refreshed.stream_token == token
    assert refreshed.variables == {"pet": "Rex"}


@pytest.mark.parametrize(
    ("reached", "late"),
    list(itertools.combinations([S.DIALING, S.RINGING, S.ANSWERED, S.ENDED], 2)),
)
async def test_a_late_event_changes_nothing(
    store: SessionStore, reached: SessionStatus, late: SessionStatus
) -> None:
    session = await store.create("outbound", "+15550001000", "+15550002000")
    await store.update(session.session_id, status=late)
    before = await store.get(session.session_id)
    assert await store.update(session.session_id, status=reached) is None
    assert await store.get(session.session_id) == before


async def test_an_ended_session_leaves_the_active_ones(store: SessionStore) -> None:
    session = await store.create("inbound", "+15550001000", "+15550002000")
    ended = await store.update(session.session_id, status=S.ENDED, outcome="completed")
    assert ended is not None and ended.ended_at is not None
    assert await store.active() == []
    assert await store.update(session.session_id, outcome="busy") is None, "final is final"


async def test_two_instances_racing_on_one_call_move_it_once(
    redis_prefix: tuple[Redis, str],
) -> None:
    """Instance A and B (two clients) both take the same webhooks at once: every status is
    reached once, whatever the interleaving, and the result is the furthest one."""
    client, prefix = redis_prefix
    other = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        a = RedisSessionStore(client, prefix=prefix)
        b = RedisSessionStore(other, prefix=prefix)
        session = await a.create("outbound", "+15550001000", "+15550002000")
        moves = [S.DIALING, S.RINGING, S.ANSWERED, S.ENDED] * 2
        results = await asyncio.gather(
            *(
                (a if i % 2 else b).update(session.session_id, status=status)
                for i, status in enumerate(moves)
            )
        )
        final = await b.get(session.session_id)
        assert final is not None and final.status is S.ENDED
        accepted = [r for r in results if r is not None]
        # A move happens once: every answer that saw the call answered or ended saw the
        # same moment (two moves would each have stamped their own).
        assert {r.answered_at for r in accepted if r.answered_at} <= {final.answered_at}
        assert {r.ended_at for r in accepted if r.ended_at} == {final.ended_at}
    finally:
        await other.aclose()


async def test_keys_carry_the_prefix_and_expire(redis_prefix: tuple[Redis, str]) -> None:
    client, prefix = redis_prefix
    store = RedisSessionStore(client, prefix=prefix, ttl_s=30)
    session = await store.create("inbound", "+15550001000", "+15550002000")
    await store.attach_call(session.session_id, "v3:x")
    keys = {key async for key in client.scan_iter(f"{prefix}*")}
    assert keys == {
        session_key(prefix, session.session_id),
        f"{prefix}call:v3:x",
        active_key(prefix),
    }
    assert 0 < await client.ttl(session_key(prefix, session.session_id)) <= 30
    assert 0 < await client.ttl(f"{prefix}call:v3:x") <= 30
    # A session that expired is dropped from the live ones when they are read.
    await client.delete(session_key(prefix, session.session_id))
    assert await store.active() == []
    assert not await client.sismember(active_key(prefix), session.session_id)


async def test_a_damaged_session_document_is_an_error_not_a_session() -> None:
    with pytest.raises(ValueError, match="not a stored session"):
        session_from_json('{"session_id": "x"}')
    with pytest.raises(ValueError, match="not a stored session"):
        session_from_json("{not json")
    store = MemorySessionStore()
    session = await store.create("inbound", "+1", "+2", variables={"a": "b"})
    assert session_from_json(session_to_json(session)) == session
