"""Reading calls, whatever channel carried them: one call's record, and the totals."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request

from voxagent.calls.lifecycle import CallLifecycle
from voxagent.conversation.call import Call
from voxagent.security.access import require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])


def _calls(request: Request) -> CallLifecycle:
    calls: CallLifecycle = request.app.state.calls
    return calls


@router.get("/api/sessions/stats", summary="Totals, active calls, outcomes, average duration")
async def stats(request: Request) -> dict[str, object]:
    """Totals over every call recorded (phone, simulated, and later browser calls alike);
    ``active`` counts calls in progress (dialled, ringing or talking)."""
    calls = _calls(request)
    totals = await calls.records.stats()
    return {"active": len(await calls.sessions.active()), **totals}


@router.get(
    "/api/calls/{call_id}",
    summary="A call: state, transcript, turn latencies",
    responses={404: {"description": "Unknown call id"}},
)
async def get_call(call_id: str, request: Request) -> dict[str, object]:
    calls = _calls(request)
    session = await calls.sessions.by_call(call_id) or await calls.sessions.get(call_id)
    if session is not None and session.call_control_id:
        call_id = session.call_control_id
    live = calls.get(call_id)
    body: dict[str, object] = {"call_id": call_id}
    if session is not None:
        body["session"] = session.as_dict()
    if live is not None:
        body.update(
            state=live.state.value if isinstance(live, Call) else "in_progress",
            outcome=live.outcome,
            transcript=live.history.as_dicts(),
            turns=[t.as_record() for t in live.turns],
            counters=live.counters.as_dict(),
        )
        return body
    record = await calls.records.store.get(call_id)
    if record is None and session is None:
        raise HTTPException(status_code=404, detail=f"unknown call id {call_id!r}")
    if record is not None:
        body.update(
            state="ended" if record.ended_at else "in_progress",
            direction=record.direction,
            mode=record.mode,
            language=record.language,
            persona=record.persona,
            outcome=record.outcome,
            hangup_cause=record.hangup_cause,
            transcript=record.transcript,
            turns=record.turns,
            started_at=record.started_at.isoformat() if record.started_at else None,
            ended_at=record.ended_at.isoformat() if record.ended_at else None,
            counters=record.counters,
            recording_url=await calls.records.recording_url(call_id),
        )
    else:
        body.update(state=str(session.status) if session else "unknown", transcript=[], turns=[])
    return body
