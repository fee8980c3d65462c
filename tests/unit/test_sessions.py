"""Sessions change only through their store, and their status never goes backwards."""

from __future__ import annotations

import itertools

import pytest

from voxagent.calls.info import ChannelKind
from voxagent.calls.sessions import (
    MemorySessionStore,
    Session,
    SessionStatus,
    apply_update,
    can_move,
)

S = SessionStatus
FORWARD = [S.CREATED, S.DIALING, S.RINGING, S.ANSWERED, S.ENDED]


@pytest.mark.parametrize(("earlier", "later"), list(itertools.combinations(FORWARD, 2)))
def test_every_forward_move_is_allowed_and_its_reverse_refused(
    earlier: SessionStatus, later: SessionStatus
) -> None:
    assert can_move(earlier, later)
    assert not can_move(later, earlier)


@pytest.mark.parametrize("status", list(SessionStatus))
def test_no_status_moves_to_itself_and_ended_or_failed_are_final(status: SessionStatus) -> None:
    assert not can_move(status, status)
    for final in (S.ENDED, S.FAILED):
        assert not can_move(final, status)


@pytest.mark.parametrize("live", [S.CREATED, S.DIALING, S.RINGING, S.ANSWERED])
def test_any_live_session_can_fail(live: SessionStatus) -> None:
    assert can_move(live, S.FAILED)


@pytest.mark.parametrize(("reached", "late"), list(itertools.combinations(FORWARD, 2)))
async def test_a_late_event_changes_nothing(reached: SessionStatus, late: SessionStatus) -> None:
    """Every out-of-order pair: a session that reached ``late`` ignores a replayed ``reached``."""
    store = MemorySessionStore()
    session = await store.create("outbound", "+15550001000", "+15550002000")
    await store.update(session.session_id, status=late)
    before = await store.get(session.session_id)
    assert await store.update(session.session_id, status=reached) is None
    assert await store.get(session.session_id) == before


async def test_a_replayed_initiated_after_answered_keeps_the_call_answered() -> None:
    store = MemorySessionStore()
    session = await store.create("outbound", "+15550001000", "+15550002000")
    await store.update(session.session_id, status=S.DIALING)
    await store.update(session.session_id, status=S.RINGING)
    answered = await store.update(session.session_id, status=S.ANSWERED)
    assert answered is not None and answered.answered_at is not None
    assert await store.update(session.session_id, status=S.RINGING) is None  # late initiated
    current = await store.get(session.session_id)
    assert current is not None and current.status is S.ANSWERED
    assert current.answered_at == answered.answered_at


async def test_timestamps_follow_the_status() -> None:
    store = MemorySessionStore()
    session = await store.create("inbound", "+15550001000", "+15550002000")
    assert session.answered_at is None and session.ended_at is None
    ended = await store.update(session.session_id, status=S.ENDED, outcome="completed")
    assert ended is not None and ended.ended_at is not None and not ended.active


async def test_an_ended_session_takes_late_facts_but_keeps_its_own() -> None:
    store = MemorySessionStore()
    session = await store.create("inbound", "+15550001000", "+15550002000")
    await store.update(session.session_id, status=S.ENDED, outcome="completed")
    filled = await store.update(session.session_id, status=S.ENDED, hangup_cause="normal_clearing")
    assert filled is not None and filled.hangup_cause == "normal_clearing"
    assert await store.update(session.session_id, outcome="busy") is None
    final = await store.get(session.session_id)
    assert final is not None and final.outcome == "completed"


async def test_sessions_are_found_by_id_and_by_call() -> None:
    store = MemorySessionStore()
    a = await store.create("outbound", "+15550001000", "+15550002000", mode=ChannelKind.WEBHOOK)
    b = await store.create("inbound", "+15550003000", "+15550001000")
    attached = await store.attach_call(a.session_id, "v3:a")
    assert attached is not None and attached.call_control_id == "v3:a"
    assert await store.by_call("v3:a") == attached
    assert await store.get(b.session_id) == b
    assert {s.session_id for s in await store.active()} == {a.session_id, b.session_id}
    token = await store.new_stream_token(a.session_id)
    refreshed = await store.get(a.session_id)
    assert refreshed is not None and refreshed.stream_token == token and len(token) >= 24


def test_update_refuses_fields_that_have_their_own_methods() -> None:
    plain = Session("s", "inbound", "+1", "+2")
    with pytest.raises(ValueError, match="call_control_id"):
        apply_update(plain, None, {"call_control_id": "x"}, 0.0)


async def test_ended_sessions_are_forgotten_oldest_first_past_the_cap() -> None:
    store = MemorySessionStore(max_ended=2)
    ids = []
    for i in range(4):
        session = await store.create("inbound", f"+1555000{i}", "+15550009999")
        await store.attach_call(session.session_id, f"call-{i}")
        await store.update(session.session_id, status=S.ENDED)
        ids.append(session.session_id)
    assert await store.get(ids[0]) is None and await store.by_call("call-0") is None
    assert await store.get(ids[3]) is not None
