"""Telnyx's two doors into the server: ``POST /webhook/telnyx`` (authenticate, de-duplicate,
acknowledge at once, work later) and the media-stream WebSocket ``/stream/media``."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from voxagent.channels.telnyx import webhooks as wh
from voxagent.channels.telnyx.media_stream import media_stream_endpoint
from voxagent.channels.telnyx.service import TelnyxService
from voxagent.channels.telnyx.signatures import SignatureError, verify_webhook

log = logging.getLogger(__name__)
router = APIRouter()


@router.post(
    "/webhook/telnyx",
    summary="Telnyx Call Control webhooks (Ed25519-signed)",
    responses={
        200: {"description": "Accepted (or a duplicate, acknowledged)"},
        400: {"description": "Malformed webhook"},
        401: {"description": "Missing, forged or stale signature"},
        503: {"description": "Telnyx is not configured on this server"},
    },
)
async def telnyx_webhook(request: Request) -> JSONResponse:
    telnyx: TelnyxService = request.app.state.telnyx
    raw = await request.body()
    telnyx.stats.webhooks_received += 1
    settings = telnyx.settings
    if settings.telnyx_verify_signatures:
        try:
            verify_webhook(raw, request.headers, settings.telnyx_public_key, now=time.time())
        except SignatureError as exc:
            telnyx.stats.webhooks_rejected += 1
            log.warning("webhook rejected: %s", exc)
            return JSONResponse({"error": f"signature: {exc}"}, status_code=401)
    try:
        event = wh.parse_webhook(raw)
    except wh.MalformedWebhook as exc:
        telnyx.stats.webhooks_rejected += 1
        log.warning("webhook rejected: %s", exc)
        return JSONResponse({"error": f"malformed webhook: {exc}"}, status_code=400)
    if telnyx.controller is None:
        return JSONResponse({"error": "TELNYX_API_KEY is not set"}, status_code=503)
    fresh = await telnyx.controller.accept(event)
    return JSONResponse({"received": True, "duplicate": not fresh})


router.add_api_websocket_route("/stream/media", media_stream_endpoint)
