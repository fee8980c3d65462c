"""One relayed media stream: the simulated party's socket ⇄ our server's ``stream_url``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from voxagent.simulator.fake_telnyx.call import FakeCall

__all__: list[str] = []


class _MediaLine:
    """One media stream: the simulated party (downstream) ⇄ our server's ``stream_url``.

    Frames are forwarded untouched. The line remembers the ``stream_id`` from the ``start``
    frame and how many sequenced frames went up, so that when the network ends the stream
    it can send a ``stop`` with the next sequence number, as Telnyx does.
    """

    def __init__(
        self, call: FakeCall, downstream: ServerConnection, upstream: ClientConnection
    ) -> None:
        self.call = call
        self.downstream = downstream
        self.upstream = upstream
        self.stream_id: str | None = None
        self.forwarded = 0
        self.ended_by: str | None = None
        """``callee`` (the simulated party hung up), ``agent`` (our server closed the socket),
        or whatever :meth:`close` was told (``hangup``, ``streaming_stop``, ``transfer``)."""
        self.done = asyncio.Event()
        self._closed = asyncio.Event()
        self._up: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self._up = asyncio.create_task(self._pump_up(), name="fake-telnyx-up")
        down = asyncio.create_task(self._pump_down(), name="fake-telnyx-down")
        try:
            await asyncio.wait({self._up, down}, return_when=asyncio.FIRST_COMPLETED)
            if self.ended_by is None:  # one end went away by itself
                self.ended_by = "callee" if self._up.done() else "agent"
                await self.upstream.close(1000)
                await self.downstream.close(1000)
            else:  # close() is ending it (its stop frame must go out before the close)
                await self._closed.wait()
        finally:
            for task in (self._up, down):
                task.cancel()
            await asyncio.gather(self._up, down, return_exceptions=True)

    async def close(self, reason: str) -> None:
        """End the stream from the network's side: ``stop`` to our server, close both ends."""
        if self.ended_by is None:
            self.ended_by = reason
            if self._up is not None:  # no frame from the party may follow our stop
                self._up.cancel()
                await asyncio.gather(self._up, return_exceptions=True)
            try:
                with contextlib.suppress(ConnectionClosed):
                    await self.upstream.send(self._stop_frame())
                await self.upstream.close(1000)
                # The reason tells the simulated party a planned stop from a dropped stream.
                await self.downstream.close(1000, reason)
            finally:
                self._closed.set()
        await self.done.wait()

    def _stop_frame(self) -> str:
        # The party's frames carry sequence numbers 1, 2, … after the unnumbered "connected".
        return json.dumps(
            {
                "event": "stop",
                "sequence_number": str(max(self.forwarded, 1)),
                "stream_id": self.stream_id or str(uuid.uuid4()),
                "stop": {
                    "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.call.connection_id)),
                    "call_control_id": self.call.call_control_id,
                },
            }
        )

    async def _pump_up(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.downstream:
                if self.stream_id is None:
                    self._sniff(message)
                await self.upstream.send(message)
                self.forwarded += 1

    async def _pump_down(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.upstream:
                await self.downstream.send(message)

    def _sniff(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            return
        if isinstance(frame, dict) and frame.get("event") == "start":
            stream_id = frame.get("stream_id")
            self.stream_id = stream_id if isinstance(stream_id, str) else None
