"""The FastAPI application: health, service info, and the Telnyx media-stream socket."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from voxagent import __version__
from voxagent.channels.telnyx import routes as telnyx_routes
from voxagent.runtime import Runtime
from voxagent.settings import Settings, load_settings
from voxagent.web.routes import calls as calls_routes
from voxagent.web.routes import media as media_routes


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
        app.state.media_store = the_runtime.storage
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
                "initiate": "/api/call/initiate",
                "batch": "/api/call/batch",
                "stats": "/api/sessions/stats",
                "webhook": "/webhook/telnyx",
                "media": "/media/{key}",
                "docs": "/docs",
                "openapi": "/openapi.json",
            },
        }

    async def health() -> JSONResponse:
        body = the_runtime.health()
        return JSONResponse(body, status_code=503 if the_runtime.draining else 200)

    for path in ("/health", "/api/health"):
        app.add_api_route(
            path,
            health,
            methods=["GET"],
            summary="Liveness and load",
            responses={503: {"description": "Draining: shutting down, no new calls"}},
        )

    app.include_router(calls_routes.router)
    app.include_router(telnyx_routes.router)
    app.include_router(media_routes.router)
    return app
