"""Placing calls through Telnyx, compatible with the seed service: one call, or a batch.

Every call passes the outbound guard first (allowed prefixes, the caller's rate, the number of
calls in progress): a refused number is never dialled.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from redis.exceptions import RedisError

from voxagent.calls.batch import Batch, BatchEntry
from voxagent.calls.guard import AtCapacity
from voxagent.calls.info import ChannelKind
from voxagent.calls.sessions import Session, SessionStatus
from voxagent.channels.telnyx.call_control import TelnyxApiError
from voxagent.channels.telnyx.controller import TelnyxCallController
from voxagent.channels.telnyx.service import TelnyxService
from voxagent.security.access import require_api_key
from voxagent.security.rate_limit import RateLimiter
from voxagent.security.redaction import mask_phone

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(require_api_key)])

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CAPACITY_RETRY_S = 5


class CallRequest(BaseModel):
    """One call. The seed service's Spanish field names (``nombre``, ``telefono``) also work."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: Annotated[str, Field(default="", max_length=200, description="Who is called")]
    phone: Annotated[str, Field(description="E.164 number, e.g. +15551234567")]
    persona: str | None = Field(default=None, description="Persona file name (default: PERSONA)")
    variables: dict[str, str] = Field(default_factory=dict, description="Free values for the agent")

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "name" not in data and "nombre" in data:
                data["name"] = data.pop("nombre")
            if "phone" not in data and "telefono" in data:
                data["phone"] = data.pop("telefono")
        return data

    @model_validator(mode="after")
    def _e164(self) -> CallRequest:
        phone = re.sub(r"[\s\-().]", "", self.phone)
        if not E164.match(phone):
            raise ValueError(f"phone {self.phone!r} is not an E.164 number like +15551234567")
        self.phone = phone
        return self


class CallPlaced(BaseModel):
    session_id: str
    call_control_id: str
    status: str
    mode: str


class BatchRequest(BaseModel):
    calls: list[dict[str, Any]] = Field(
        description="Entries shaped like /api/call/initiate's body (at most MAX_BATCH_SIZE)"
    )
    concurrency: int = Field(default=5, ge=1, le=200, description="Calls in progress at once")
    pace: float = Field(default=1.0, gt=0, le=100, description="New calls per second")


class BatchAccepted(BaseModel):
    batch_id: str
    accepted: int
    rejected: list[dict[str, Any]]
    entries: list[dict[str, Any]]


def _telnyx(request: Request) -> TelnyxService:
    telnyx: TelnyxService = request.app.state.telnyx
    return telnyx


def _controller(telnyx: TelnyxService) -> TelnyxCallController:
    if telnyx.controller is None:
        raise HTTPException(
            status_code=503,
            detail="calls cannot be placed: TELNYX_API_KEY is not set (use `voxagent simulate` "
            "to talk to the agent without a phone number)",
        )
    if telnyx.calls.draining:
        raise HTTPException(status_code=503, detail="the server is shutting down")
    return telnyx.controller


def _check_rate(telnyx: TelnyxService, key_id: str) -> None:
    wait = telnyx.guard.wait_for_rate(key_id)
    if wait is not None:
        raise HTTPException(
            status_code=429,
            detail="too many calls placed with this key (CALLS_PER_MINUTE)",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )


def _check_number(telnyx: TelnyxService, phone: str) -> None:
    refusal = telnyx.guard.refusal(phone)
    if refusal is not None:
        log.warning("refused to dial %s: %s", mask_phone(phone), refusal)
        raise HTTPException(status_code=422, detail=f"this number may not be dialled: {refusal}")


async def place_call(
    telnyx: TelnyxService, call: CallRequest, batch_id: str | None = None
) -> Session:
    """Dial one call; a batch's calls wait for a slot, a single call is refused without one."""
    controller = _controller(telnyx)
    _check_number(telnyx, call.phone)
    settings = telnyx.settings
    sessions = telnyx.calls.sessions

    async def create() -> Session:
        return await sessions.create(
            "outbound",
            settings.telnyx_phone_number,
            call.phone,
            name=call.name,
            persona=call.persona or settings.persona,
            language=settings.effective_language,
            variables=call.variables,
            mode=ChannelKind.MEDIA_STREAM if settings.use_media_streams else ChannelKind.WEBHOOK,
            batch_id=batch_id,
        )

    try:
        session = await telnyx.guard.admit(create, wait=batch_id is not None)
    except AtCapacity as exc:
        raise HTTPException(
            status_code=429, detail=str(exc), headers={"Retry-After": str(CAPACITY_RETRY_S)}
        ) from None
    try:
        await controller.dial(session)
    except TelnyxApiError as exc:
        failed = await sessions.update(
            session.session_id, status=SessionStatus.FAILED, outcome="dial_failed"
        )
        await telnyx.calls.records.dial_failed(failed or session, str(exc))
        raise HTTPException(status_code=502, detail=f"Telnyx refused the call: {exc}") from None
    return await sessions.get(session.session_id) or session


@router.post(
    "/api/call/initiate",
    response_model=CallPlaced,
    summary="Place one outbound call",
    responses={
        401: {"description": "No valid API key"},
        422: {"description": "Invalid body or persona, or a number outside the dial prefixes"},
        429: {"description": "Over CALLS_PER_MINUTE, or MAX_CONCURRENT_CALLS in progress"},
        502: {"description": "Telnyx refused the call (its error code is in the detail)"},
        503: {"description": "Telnyx is not configured, or the server is shutting down"},
    },
)
async def initiate(
    call: CallRequest, request: Request, key_id: Annotated[str, Depends(require_api_key)]
) -> CallPlaced:
    telnyx = _telnyx(request)
    _controller(telnyx)
    if call.persona and call.persona != telnyx.settings.persona:
        raise HTTPException(422, f"persona {call.persona!r} is not loaded on this server")
    _check_number(telnyx, call.phone)
    _check_rate(telnyx, key_id)
    session = await place_call(telnyx, call)
    assert session.call_control_id is not None
    return CallPlaced(
        session_id=session.session_id,
        call_control_id=session.call_control_id,
        status=str(session.status),
        mode=str(session.mode),
    )


@router.post(
    "/api/call/batch",
    response_model=BatchAccepted,
    status_code=202,
    summary="Place many calls with a concurrency limit and a pace",
    responses={
        401: {"description": "No valid API key"},
        413: {"description": "More than MAX_BATCH_SIZE calls"},
        422: {"description": "Invalid body (invalid entries are reported, not refused)"},
        429: {"description": "Over CALLS_PER_MINUTE"},
        503: {"description": "Telnyx is not configured, or the server is shutting down"},
    },
)
async def batch(
    body: BatchRequest, request: Request, key_id: Annotated[str, Depends(require_api_key)]
) -> BatchAccepted:
    telnyx = _telnyx(request)
    _controller(telnyx)
    limit = telnyx.settings.max_batch_size
    if len(body.calls) > limit:
        raise HTTPException(413, f"at most {limit} calls per batch (MAX_BATCH_SIZE)")
    _check_rate(telnyx, key_id)
    entries: list[BatchEntry] = []
    requests: dict[int, CallRequest] = {}
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(body.calls):
        try:
            parsed = CallRequest.model_validate(raw)
        except ValueError as exc:
            rejected.append({"index": index, "entry": raw, "error": _first_error(exc)})
            continue
        refusal = telnyx.guard.refusal(parsed.phone)
        if refusal is not None:
            rejected.append({"index": index, "entry": raw, "error": refusal})
            continue
        entries.append(BatchEntry(len(entries), parsed.name, parsed.phone, parsed.variables))
        requests[entries[-1].index] = parsed
    job = Batch(entries, body.concurrency, body.pace, look_up=telnyx.calls.sessions.get)
    telnyx.batches[job.batch_id] = job

    async def dial(entry: BatchEntry) -> Session:
        try:
            return await place_call(telnyx, requests[entry.index], job.batch_id)
        except HTTPException as exc:
            raise RuntimeError(str(exc.detail)) from None

    job.task = asyncio.create_task(job.run(dial), name=f"batch-{job.batch_id}")
    if telnyx.shared_batches is not None:
        job.follower = asyncio.create_task(
            telnyx.shared_batches.follow(job), name=f"batch-share-{job.batch_id}"
        )
    return BatchAccepted(
        batch_id=job.batch_id,
        accepted=len(entries),
        rejected=rejected,
        entries=[e.as_dict() for e in entries],
    )


@router.get(
    "/api/call/batch/{batch_id}",
    summary="Progress of a batch, entry by entry",
    responses={404: {"description": "Unknown batch id"}},
)
async def batch_status(batch_id: str, request: Request) -> dict[str, object]:
    telnyx = _telnyx(request)
    job = telnyx.batches.get(batch_id)
    if job is not None:
        return job.summary()
    if telnyx.shared_batches is not None:  # a batch another instance runs
        try:
            shared = await telnyx.shared_batches.load(batch_id)
        except (RedisError, OSError) as exc:
            raise HTTPException(503, f"batch progress is in Redis, unreachable: {exc}") from None
        if shared is not None:
            return shared
    raise HTTPException(404, f"unknown batch id {batch_id!r}")


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
        return f"{where}: {first.get('msg', 'invalid')}"
    return str(exc)
