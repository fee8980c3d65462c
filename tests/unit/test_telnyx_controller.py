"""Webhooks that arrive late, twice or out of order cannot undo what newer ones did.

The controller is driven with parsed webhooks (as the route hands them over) over an
in-memory session store; nothing here reaches Telnyx.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from fakes.telnyx_webhooks import build_webhook, call_payload
from voxagent.calls.info import ChannelKind
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.calls.sessions import MemorySessionStore, Session, SessionStatus
from voxagent.channels.telnyx import webhooks as wh
from voxagent.channels.telnyx.controller import TelnyxCallController
from voxagent.settings import load_settings
from voxagent.telemetry.stats import ServerStats

CALL_ID = "v3:call-1"


class Records:
    """Stands in for the record keeper: the hang-up of a call with no conversation here."""

    def __init__(self) -> None:
        self.closed: list[tuple[str, str | None]] = []

    async def close_unconnected(
        self, call_id: str, session: Session | None, cause: str | None, outcome: str | None
    ) -> str | None:
        self.closed.append((call_id, outcome))
        return outcome


def event(event_type: str, **fields: Any) -> wh.WebhookEvent:
    ref = wh.CallRef(CALL_ID, "leg", "session", "conn", None)
    payload = {"from": "+15550001000", "to": "+15550002000", "state": "x", **fields}
    return wh.parse_webhook(build_webhook(event_type, call_payload(ref, payload)))


EVENTS = {
    "initiated": lambda: event("call.initiated", direction="outgoing"),
    "answered": lambda: event("call.answered"),
    "hangup": lambda: event(
        "call.hangup", hangup_cause="normal_clearing", hangup_source="callee", sip_hangup_cause="16"
    ),
}
REACHES = {
    "initiated": SessionStatus.RINGING,
    "answered": SessionStatus.ANSWERED,
    "hangup": SessionStatus.ENDED,
}


async def controller_with_session() -> tuple[TelnyxCallController, MemorySessionStore, Session]:
    sessions = MemorySessionStore()
    calls = CallLifecycle(None, sessions, Records(), ServerStats())  # type: ignore[arg-type]
    settings = load_settings(_env_file=None)
    controller = TelnyxCallController(settings, None, calls, None)  # type: ignore[arg-type]
    session = await sessions.create(
        "outbound", "+15550001000", "+15550002000", mode=ChannelKind.MEDIA_STREAM
    )
    await sessions.attach_call(session.session_id, CALL_ID)
    await sessions.update(session.session_id, status=SessionStatus.DIALING)
    return controller, sessions, session


@pytest.mark.parametrize(("newer", "late"), list(itertools.permutations(EVENTS, 2)))
async def test_a_late_webhook_never_moves_a_call_back(newer: str, late: str) -> None:
    controller, sessions, session = await controller_with_session()
    await controller.handle(EVENTS[newer]())
    reached = await sessions.get(session.session_id)
    await controller.handle(EVENTS[late]())
    after = await sessions.get(session.session_id)
    assert reached is not None and after is not None
    expected = max(REACHES[newer], REACHES[late], key=list(SessionStatus).index)
    assert after.status is expected
    if REACHES[late] is not expected:  # the late one was older: nothing about it changed
        assert after == reached


async def test_a_replayed_initiated_after_answered_leaves_the_call_answered() -> None:
    controller, sessions, session = await controller_with_session()
    for name in ("initiated", "answered", "initiated"):
        await controller.handle(EVENTS[name]())
    current = await sessions.get(session.session_id)
    assert current is not None and current.status is SessionStatus.ANSWERED
    assert current.answered_at is not None


async def test_the_hangup_of_an_unanswered_call_records_why() -> None:
    controller, sessions, session = await controller_with_session()
    await controller.handle(
        event(
            "call.hangup", hangup_cause="user_busy", hangup_source="callee", sip_hangup_cause="17"
        )
    )
    ended = await sessions.get(session.session_id)
    assert ended is not None and ended.status is SessionStatus.ENDED
    assert (ended.outcome, ended.hangup_cause) == ("busy", "user_busy")
