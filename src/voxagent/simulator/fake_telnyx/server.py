"""uvicorn inside the caller's event loop, on a socket bound before it starts.

The fake's REST side runs on it, and so do the small HTTP servers tests stand up.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn

__all__ = ["serve_app"]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's event loop: the host program owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[int]:
    """Serve an ASGI app with uvicorn on ``host`` (port 0: a free one); yields the port.

    The socket is bound before uvicorn starts, so the port is known and owned at once
    (no probe-then-bind race when many fakes start in parallel test workers).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,  # leave the host program's logging alone
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{bound}")
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError(f"the server on {host}:{bound} did not start")
            await asyncio.sleep(0.005)
        yield bound
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 3.0)
        except TimeoutError:
            server.force_exit = True
            await asyncio.wait_for(task, 2.0)
        finally:
            sock.close()
