"""The FastAPI application: wiring only. Settings → services → routers, plus health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from voxagent import __version__
from voxagent.channels.telnyx import outbound as telnyx_outbound
from voxagent.channels.telnyx import routes as telnyx_routes
from voxagent.services import Services
from voxagent.settings import Settings, load_settings
from voxagent.web.routes import calls as calls_routes
from voxagent.web.routes import media as media_routes


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; the services (providers, database) start in the lifespan, unless a
    caller passes services it runs itself."""
    settings = settings or load_settings()
    owned = services is None
    the_services = services or Services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await the_services.start()
        app.state.services = the_services
        app.state.calls = the_services.calls
        app.state.telnyx = the_services.telnyx
        app.state.media_store = the_services.storage
        try:
            yield
        finally:
            if owned:
                await the_services.stop()

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
        body = the_services.health()
        return JSONResponse(body, status_code=503 if the_services.calls.draining else 200)

    for path in ("/health", "/api/health"):
        app.add_api_route(
            path,
            health,
            methods=["GET"],
            summary="Liveness and load",
            responses={503: {"description": "Draining: shutting down, no new calls"}},
        )

    app.include_router(calls_routes.router)
    app.include_router(telnyx_outbound.router)
    app.include_router(telnyx_routes.router)
    app.include_router(media_routes.router)
    return app
