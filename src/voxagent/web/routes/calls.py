"""Reading and acting on calls, whatever channel carried them and whichever instance serves
them: one call's record and live state, the totals, and the operator's commands (hang up,
transfer, speak), which reach the call's own instance over the command bus."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from voxagent.calls.commands import CallCommands
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.security.access import require_api_key

router = APIRouter(dependencies=[Depends(require_api_key)])

_NOT_LIVE: dict[int | str, dict[str, Any]] = {
    404: {"description": "The call is not live on any instance"}
}
_COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    **_NOT_LIVE,
    409: {"description": "The call is already ending"},
    503: {"description": "The instance serving the call did not answer"},
}


class TransferRequest(BaseModel):
    to: Annotated[
        str, Field(min_length=3, max_length=256, pattern=r"^(\+[1-9]\d{6,14}|sips?:\S+)$")
    ]
    """An E.164 number or a SIP URI."""


class SpeakRequest(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=1000)]


def _calls(request: Request) -> CallLifecycle:
    calls: CallLifecycle = request.app.state.calls
    return calls


def _commands(request: Request) -> CallCommands:
    commands: CallCommands = request.app.state.services.commands
    return commands


async def _call_control_id(request: Request, call_id: str) -> str:
    """A call is named by its Telnyx id or by its session id."""
    sessions = _calls(request).sessions
    session = await sessions.by_call(call_id) or await sessions.get(call_id)
    if session is not None and session.call_control_id:
        return session.call_control_id
    return call_id


def _result(status: int, body: dict[str, Any]) -> JSONResponse:
    if status >= 400:
        raise HTTPException(status, body.get("detail", "command failed"))
    return JSONResponse(body, status_code=status)


@router.get("/api/sessions/stats", summary="Totals, active calls, outcomes, average duration")
async def stats(request: Request) -> dict[str, object]:
    """Totals over every call recorded (phone, simulated, and later browser calls alike);
    ``active`` counts calls in progress (dialled, ringing or talking)."""
    calls = _calls(request)
    totals = await calls.records.stats()
    return {"active": len(await calls.sessions.active()), **totals}


@router.get(
    "/api/calls/{call_id}",
    summary="A call: state, transcript, turn latencies (live from whichever instance serves it)",
    responses={404: {"description": "Unknown call id"}},
)
async def get_call(call_id: str, request: Request) -> dict[str, object]:
    calls = _calls(request)
    session = await calls.sessions.by_call(call_id) or await calls.sessions.get(call_id)
    if session is not None and session.call_control_id:
        call_id = session.call_control_id
    body: dict[str, object] = {"call_id": call_id}
    if session is not None:
        body["session"] = session.as_dict()
    status, live = await _commands(request).run(call_id, "status", {})
    if status == 200:
        body.update(live)
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


@router.post(
    "/api/calls/{call_id}/hangup",
    summary="Hang up a live call, wherever it runs",
    responses=_COMMAND_ERRORS,
)
async def hang_up(call_id: str, request: Request) -> JSONResponse:
    call_id = await _call_control_id(request, call_id)
    return _result(*await _commands(request).run(call_id, "hangup", {}))


@router.post(
    "/api/calls/{call_id}/transfer",
    summary="Transfer a live call to a number or SIP URI (the dial prefixes apply)",
    responses={**_COMMAND_ERRORS, 422: {"description": "Invalid target, or outside the prefixes"}},
)
async def transfer(call_id: str, body: TransferRequest, request: Request) -> JSONResponse:
    guard = request.app.state.telnyx.guard
    if body.to.startswith("+") and (refusal := guard.refusal(body.to)) is not None:
        raise HTTPException(422, refusal)
    call_id = await _call_control_id(request, call_id)
    return _result(*await _commands(request).run(call_id, "transfer", {"to": body.to}))


@router.post(
    "/api/calls/{call_id}/speak",
    status_code=202,
    summary="Have the agent say a line in a live call (after what it is saying)",
    responses=_COMMAND_ERRORS,
)
async def speak(call_id: str, body: SpeakRequest, request: Request) -> JSONResponse:
    call_id = await _call_control_id(request, call_id)
    return _result(*await _commands(request).run(call_id, "speak", {"text": body.text}))
