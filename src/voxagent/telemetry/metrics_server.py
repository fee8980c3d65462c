"""``/metrics`` on a port of its own (``METRICS_PORT``), so the scrape stays off the public
port: a minimal HTTP/1.1 responder, since Prometheus sends a plain ``GET`` and nothing else."""

from __future__ import annotations

import asyncio
import contextlib

from voxagent.telemetry.metrics import CONTENT_TYPE_LATEST, Metrics

__all__ = ["serve_metrics"]

MAX_REQUEST_BYTES = 8192


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            method, path, *_ = [*head.split(b" ", 2), b"", b""]
            if method == b"GET" and path.split(b"?")[0] == b"/metrics":
                body, status, kind = metrics.render(), b"200 OK", CONTENT_TYPE_LATEST.encode()
            else:
                body, status, kind = b"only GET /metrics here\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind
                + b"\r\nContent-Length: " + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n" + body
            )  # fmt: skip
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port, limit=MAX_REQUEST_BYTES)
