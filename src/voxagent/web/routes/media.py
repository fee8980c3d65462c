"""``GET /media/{key}?exp=…&sig=…``: the local store's audio, for Telnyx and browsers.

Only a :class:`~voxagent.storage.local.LocalStorage` set as ``app.state.media_store`` is
served; with S3 (or none) every key is a 404, because Telnyx then fetches presigned bucket
URLs and never comes here. Keys are validated before any path is built, so ``..``, absolute
paths and dot-files (including half-written temporary files) are never reachable. Range
requests and conditional GETs work (Starlette's ``FileResponse``), so a browser can seek
in a long recording. Every URL the store hands out is signed and expires
(:mod:`voxagent.security.media_urls`); a tampered, expired or unsigned one is a 404 too.
"""

from __future__ import annotations

import asyncio
import stat

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from voxagent.storage.base import InvalidStorageKey, content_type_for
from voxagent.storage.local import MEDIA_ROUTE, LocalStorage

__all__ = ["router"]

router = APIRouter()


def _store(request: Request) -> LocalStorage:
    store = getattr(request.app.state, "media_store", None)
    if not isinstance(store, LocalStorage):
        raise HTTPException(status_code=404, detail="not found")
    return store


@router.get(
    f"{MEDIA_ROUTE}/{{key:path}}",
    summary="Stored audio (TTS clips for Telnyx playback, call recordings)",
    response_class=FileResponse,
    responses={
        200: {"description": "The file, typed by its extension (audio/wav, audio/mpeg…)"},
        206: {"description": "Part of the file, for a Range request"},
        404: {"description": "No such object, or a key that is not a valid storage key"},
    },
)
async def get_media(key: str, request: Request) -> FileResponse:
    store = _store(request)
    signer = store.signer
    query = request.query_params
    if signer is not None and not signer.valid(key, query.get("exp"), query.get("sig")):
        # Tampered, expired or unsigned: answered like a missing file.
        raise HTTPException(status_code=404, detail="not found")
    try:
        path = store.path_for(key)
    except InvalidStorageKey:
        # A 404, not a 400: a probe learns nothing about which names are well formed.
        raise HTTPException(status_code=404, detail="not found") from None
    try:
        info = await asyncio.to_thread(path.stat)
    except OSError:
        raise HTTPException(status_code=404, detail="not found") from None
    if not stat.S_ISREG(info.st_mode):
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(
        path,
        media_type=content_type_for(key),
        stat_result=info,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )


# HEAD too (players and some fetchers probe size first); a second route, not a second method
# on the first, so the OpenAPI schema does not get a duplicate operation id.
router.add_api_route(
    f"{MEDIA_ROUTE}/{{key:path}}", get_media, methods=["HEAD"], include_in_schema=False
)
