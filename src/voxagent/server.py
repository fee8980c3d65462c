"""Running the app under uvicorn (uvloop), with a shutdown that lets calls finish.

On the first SIGTERM/SIGINT the server stops taking calls (health says ``draining``),
waits up to ``SHUTDOWN_GRACE_SECONDS`` for active calls to end, ends the rest with a
polite line, and only then lets uvicorn close. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import logging
from types import FrameType

import uvicorn
from fastapi import FastAPI

from voxagent.app import create_app, create_asgi
from voxagent.services import Services
from voxagent.settings import Settings

log = logging.getLogger("voxagent.server")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, grace_seconds: float) -> None:
        super().__init__(config)
        self.app = app
        self.grace_seconds = grace_seconds
        self._draining: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        services: Services | None = getattr(self.app.state, "services", None)
        if self._draining is not None or services is None or not self.started:
            super().handle_exit(sig, frame)
            return
        log.info("shutdown requested: draining calls (grace %.0f s)", self.grace_seconds)
        self._draining = asyncio.get_event_loop().create_task(self._drain(services, sig, frame))

    async def _drain(self, services: Services, sig: int, frame: FrameType | None) -> None:
        try:
            await services.drain(self.grace_seconds)
        finally:
            super().handle_exit(sig, frame)

    async def startup(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        await super().startup(sockets)  # type: ignore[arg-type]
        if self.started:
            for server in self.servers:
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    log.info("listening on http://%s:%d", host, port)


def build_server(settings: Settings, host: str, port: int) -> tuple[DrainingServer, FastAPI]:
    app = create_app(settings)
    config = uvicorn.Config(
        create_asgi(app),
        host=host,
        port=port,
        loop="uvloop",
        ws="websockets-sansio",
        ws_max_size=1 << 20,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return DrainingServer(config, app, settings.shutdown_grace_seconds), app
