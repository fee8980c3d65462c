"""WebRTC's HTTP doors, each authenticated with the browser session's own token (the JWT the
page got from ``/api/sandra/token``), as ``Authorization: Bearer <token>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from voxagent.channels.browser.auth import TokenError, UserClaims
from voxagent.channels.webrtc.service import NetworkReport, WebRTCService
from voxagent.channels.webrtc.signaling import (
    AnswerRequest,
    IceRequest,
    OfferRequest,
    SignalingError,
)

__all__ = ["refused", "router"]

router = APIRouter(prefix="/api/webrtc", tags=["webrtc"])


def _service(request: Request) -> WebRTCService:
    service: WebRTCService | None = getattr(request.app.state, "webrtc", None)
    if service is None:
        raise HTTPException(503, "WebRTC is off (WEBRTC_MAX_PEERS=0)")
    return service


def session_user(request: Request) -> UserClaims:
    """The user of a valid browser-session token, or 401 saying what is wrong with it."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    try:
        claims: UserClaims = request.app.state.browser.issuer.verify(token)
    except TokenError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return claims


User = Annotated[UserClaims, Depends(session_user)]


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """The app's handler for a :class:`SignalingError`: its status, message and code."""
    assert isinstance(exc, SignalingError)
    return JSONResponse({"detail": exc.message, "code": exc.code}, status_code=exc.status)


@router.get("/config", summary="ICE servers (STUN, TURN with per-session credentials)")
async def config(request: Request, user: User) -> dict[str, object]:
    return _service(request).config(user)


@router.post("/offer", summary="The page's SDP offer → our answer (or, with no sdp, our offer)")
async def offer(request: Request, body: OfferRequest, user: User) -> object:
    return await _service(request).offer(user, body)


@router.post("/answer", summary="The page's answer to our offer (the three-endpoint shape)")
async def answer(request: Request, body: AnswerRequest, user: User) -> object:
    return await _service(request).answer(user, body)


@router.post("/ice", summary="Trickled ICE candidates (an empty candidate: end of candidates)")
@router.patch("/offer", summary="The same, on the offer resource")
async def ice(request: Request, body: IceRequest, user: User) -> object:
    return await _service(request).ice(user, body)


@router.post("/network-report", summary="The console's pre-call network check (counted)")
async def network_report(request: Request, body: NetworkReport, user: User) -> object:
    return _service(request).network_report(user, body)
