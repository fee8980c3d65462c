"""The FastAPI application: wiring only. Settings → services → routers, plus health."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import socketio
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from voxagent import __version__
from voxagent.channels.browser import routes as browser_routes
from voxagent.channels.telnyx import outbound as telnyx_outbound
from voxagent.channels.telnyx import routes as telnyx_routes
from voxagent.channels.webrtc import routes as webrtc_routes
from voxagent.channels.webrtc.signaling import SignalingError
from voxagent.security.http import BodyLimit, SecurityHeaders
from voxagent.services import Services
from voxagent.settings import Settings, load_settings
from voxagent.web.routes import calls as calls_routes
from voxagent.web.routes import dashboard as dashboard_routes
from voxagent.web.routes import media as media_routes
from voxagent.web.routes import metrics as metrics_routes


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
        try:
            yield
        finally:
            if owned:
                await the_services.stop()

    app = FastAPI(title="voxagent", version=__version__, lifespan=lifespan)
    app.state.services = the_services
    app.state.access = the_services.access
    app.state.calls = the_services.calls
    app.state.telnyx = the_services.telnyx
    app.state.browser = the_services.browser
    app.state.webrtc = the_services.webrtc
    app.state.media_store = the_services.storage

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
                "console": "/console",
                "browser_token": "/api/sandra/token",
                "socketio": "/socket.io (namespace /sandra)",
                "webrtc": "/api/webrtc/offer",
                "docs": "/docs",
                "openapi": "/openapi.json",
            },
        }

    async def health(request: Request) -> JSONResponse:
        """Open to all (load balancers probe it) but it says only ``ok``/``draining``; with an
        API key it also gives the load, the providers and the counters."""
        allowed = the_services.access.key_id(request.headers) is not None
        body = the_services.health() if allowed else the_services.status()
        return JSONResponse(body, status_code=503 if the_services.calls.draining else 200)

    for path in ("/health", "/api/health"):
        app.add_api_route(
            path,
            health,
            methods=["GET"],
            summary="Liveness (details with an API key)",
            responses={503: {"description": "Draining: shutting down, no new calls"}},
        )

    app.include_router(calls_routes.router)
    app.include_router(metrics_routes.router)
    app.include_router(dashboard_routes.router)
    app.include_router(telnyx_outbound.router)
    app.include_router(telnyx_routes.router)
    app.include_router(media_routes.router)
    app.include_router(browser_routes.router)
    app.include_router(browser_routes.pages)
    app.include_router(webrtc_routes.router)
    app.add_exception_handler(SignalingError, webrtc_routes.refused)
    app.mount("/static", StaticFiles(directory=str(browser_routes.STATIC_DIR)), name="static")
    if settings.cors_origins.strip():
        origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def create_asgi(app: FastAPI) -> socketio.ASGIApp:
    """The app with the browser's Socket.IO server in front at ``/socket.io`` (everything else,
    lifespan included, goes on to the FastAPI app)."""
    services: Services = app.state.services
    return socketio.ASGIApp(services.browser.sio, other_asgi_app=app, socketio_path="socket.io")
