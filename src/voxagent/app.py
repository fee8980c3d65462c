"""The FastAPI application: health, service info, and the Telnyx media-stream socket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse

from voxagent import __version__
from voxagent.runtime import Runtime
from voxagent.settings import Settings, load_settings
from voxagent.telephony.telnyx.media_stream import media_stream_endpoint


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the runtime (providers, database) starts in the lifespan."""
    settings = settings or load_settings()
    owned = runtime is None
    the_runtime = runtime or Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await the_runtime.start()
        app.state.runtime = the_runtime
        try:
            yield
        finally:
            if owned:
                await the_runtime.stop()

    app = FastAPI(title="voxagent", version=__version__, lifespan=lifespan)

    @app.get("/", summary="Service information and links")
    async def index() -> dict[str, object]:
        return {
            "service": "voxagent",
            "version": __version__,
            "links": {
                "health": "/health",
                "api_health": "/api/health",
                "media_stream": "/stream/media",
                "call": "/api/calls/{call_id}",
                "docs": "/docs",
                "openapi": "/openapi.json",
            },
        }

    async def health() -> JSONResponse:
        body = the_runtime.health()
        return JSONResponse(body, status_code=503 if the_runtime.draining else 200)

    app.add_api_route("/health", health, methods=["GET"], summary="Liveness and load")
    app.add_api_route("/api/health", health, methods=["GET"], summary="Liveness and load")

    @app.get("/api/calls/{call_id}", summary="A call: state, transcript, turn latencies")
    async def get_call(call_id: str) -> dict[str, object]:
        live = the_runtime.calls.get(call_id)
        if live is not None:
            summary = live.summary()
            return {
                "call_id": call_id,
                "state": live.state.value,
                "outcome": summary.outcome,
                "transcript": summary.history,
                "turns": summary.turns,
            }
        record = await the_runtime.records.get(call_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"unknown call id {call_id!r}")
        return {
            "call_id": call_id,
            "state": "ended" if record.ended_at else "unknown",
            "outcome": record.outcome,
            "transcript": record.transcript,
            "turns": record.turns,
            "started_at": record.started_at.isoformat() if record.started_at else None,
            "ended_at": record.ended_at.isoformat() if record.ended_at else None,
        }

    app.add_api_websocket_route("/stream/media", media_stream_endpoint)
    return app
