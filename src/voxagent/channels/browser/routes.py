"""The browser's HTTP doors: session tokens, the Socket.IO server's health and metrics, and the
console page (``/console``, also ``/test-socket.html``) with its static files."""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from voxagent.channels.browser.service import BrowserService
from voxagent.security.access import Access, require_api_key
from voxagent.security.rate_limit import RateLimiter

__all__ = ["STATIC_DIR", "pages", "router"]

log = logging.getLogger(__name__)

STATIC_DIR = resources.files("voxagent") / "web" / "static"
USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

router = APIRouter()
pages = APIRouter(include_in_schema=False)


class TokenRequest(BaseModel):
    user_id: Annotated[str, Field(min_length=1, max_length=64, pattern=USER_ID.pattern)]
    persona: Annotated[str | None, Field(max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")] = None
    language: Annotated[str | None, Field(pattern=r"^(en|es)$")] = None


class TokenIssued(BaseModel):
    token: str
    expires_in: int
    user_id: str


def _browser(request: Request) -> BrowserService:
    browser: BrowserService = request.app.state.browser
    return browser


@router.post(
    "/api/sandra/token",
    response_model=TokenIssued,
    summary="A short-lived token for a browser session (Socket.IO /sandra)",
    responses={401: {"description": "No valid API key"}, 429: {"description": "Too many tokens"}},
    dependencies=[Depends(require_api_key)],
)
async def issue_token(body: TokenRequest, request: Request) -> TokenIssued | JSONResponse:
    browser = _browser(request)
    client = request.client.host if request.client else "unknown"
    wait = browser.token_limit.check(client)
    if wait is not None:
        raise HTTPException(
            429,
            "too many tokens from this address (TOKENS_PER_MINUTE_PER_IP)",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    if body.persona is not None:
        try:
            browser.namespace.calls.factory.persona(body.persona)
        except Exception:
            raise HTTPException(422, f"unknown persona {body.persona!r}") from None
    token = browser.issuer.issue(body.user_id, persona=body.persona, language=body.language)
    return TokenIssued(token=token, expires_in=browser.issuer.ttl_seconds, user_id=body.user_id)


@router.get(
    "/api/socket-server/health",
    summary="Browser sessions: status (details with an API key)",
)
async def socket_health(request: Request) -> dict[str, object]:
    access: Access = request.app.state.access
    body = _browser(request).namespace.health()
    if access.key_id(request.headers) is None:
        return {"status": body["status"]}
    webrtc = getattr(request.app.state, "webrtc", None)
    if webrtc is not None:
        body["webrtc"] = webrtc.health()
    return body


@router.get(
    "/api/socket-server/metrics",
    summary="Browser sessions: events, audio, barge-ins, refusals, turn-stage p50/p95 (5 min)",
    dependencies=[Depends(require_api_key)],
)
async def socket_metrics(request: Request) -> dict[str, object]:
    return _browser(request).namespace.metrics.as_dict()


def _page() -> FileResponse:
    return FileResponse(str(STATIC_DIR / "console.html"), media_type="text/html")


@pages.get("/console")
async def console() -> FileResponse:
    """Talk to the agent in the browser."""
    return _page()


@pages.get("/test-socket.html")
async def console_alias() -> FileResponse:
    return _page()
