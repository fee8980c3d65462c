"""Our whole server (HTTP, WebSockets, Socket.IO, lifespan) under uvicorn in the test's own
process: quicker to start than a subprocess, and its parts can be inspected."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from voxagent.app import create_app, create_asgi
from voxagent.services import Services
from voxagent.settings import Settings


@dataclass
class LiveServer:
    app: FastAPI
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield  # leave the test runner's signal handlers alone


@contextlib.asynccontextmanager
async def live_server(settings: Settings, *, port: int = 0) -> AsyncIterator[LiveServer]:
    """``port`` 0 picks a free one; a given port lets a test restart "the same" server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    app = create_app(settings)
    config = uvicorn.Config(
        create_asgi(app),
        log_config=None,
        lifespan="on",
        ws="websockets-sansio",
        timeout_graceful_shutdown=2,
    )
    server = _Quiet(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the server did not start")
            await asyncio.sleep(0.02)
        yield LiveServer(app, int(sock.getsockname()[1]))
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
