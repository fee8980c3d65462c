"""Cartesia voice over one long-lived WebSocket, one ``context_id`` per synthesis.

Cartesia multiplexes contexts on a socket, so the socket is kept across syntheses (no
handshake per sentence) and a single reader task routes messages to per-context queues.
Barge-in sends ``cancel`` for the context and ends its iterator at once; late chunks of
a finished or cancelled context are dropped. A socket that died between syntheses is
replaced on the next call; one that dies mid-synthesis fails that synthesis with a typed
error so a fallback voice can take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from voxagent.providers.errors import ProviderError
from voxagent.providers.tts.cartesia_protocol import (
    DEFAULT_BASE_URL,
    DEFAULT_VERSION,
    ENCODINGS,
    auth_headers,
    cancel_message,
    error_for,
    generation_request,
    output_format,
    parse_message,
    websocket_url,
)
from voxagent.providers.tts.cloud import (
    CLOSE_TIMEOUT_S,
    CloudVoice,
    ResponseClock,
    TextSource,
    open_socket,
    stop_task,
    text_pieces,
)
from voxagent.providers.tts.cloud_protocol import RawEncoding, close_error

__all__ = ["CartesiaVoice"]


class _End:
    """Queue markers: the context finished normally, or was cancelled by us."""


_DONE = _End()
_CANCELLED = _End()
_QueueItem = bytes | _End | BaseException


class _Context:
    """One synthesis: its queue of audio / errors, fed by the reader task."""

    def __init__(self, context_id: str, ws: ClientConnection, clock: ResponseClock) -> None:
        self.id = context_id
        self.ws = ws
        self.clock = clock
        self.queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
        self.cancelled = False
        self.finished = False  # the server ended it (done, or an error that ends it)
        self.sender: asyncio.Task[None] | None = None


class CartesiaVoice(CloudVoice):
    """Cartesia text-to-speech; a :class:`~voxagent.providers.tts.base.TextToSpeech`."""

    name = "cartesia"

    def __init__(
        self,
        api_key: str,
        voice_id: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        model_id: str = "sonic-2",
        encoding: str = "pcm_mulaw",
        sample_rate: int = 8000,
        language: str | None = "en",
        version: str = DEFAULT_VERSION,
        connect_timeout_s: float = 5.0,
        first_byte_timeout_s: float = 5.0,
        stall_timeout_s: float = 5.0,
        ping_interval_s: float | None = 20.0,
    ) -> None:
        output_format(encoding, sample_rate)  # validates both
        self.encoding = encoding
        self.sample_rate: int = sample_rate
        self.raw_encoding: RawEncoding = ENCODINGS[encoding]
        self.voice_id = voice_id
        self.model_id = model_id
        self.language = language
        self._url = websocket_url(base_url)
        self._headers = auth_headers(api_key, version)
        self._connect_timeout_s = connect_timeout_s
        self._first_byte_timeout_s = first_byte_timeout_s
        self._stall_timeout_s = stall_timeout_s
        self._ping_interval_s = ping_interval_s
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self._contexts: dict[str, _Context] = {}
        self._epoch = 0  # bumped by cancel(), so a synthesis still connecting is dropped too
        self.connections_opened = 0

    # --- public API ---------------------------------------------------------------------

    async def stream_raw(self, pieces: TextSource) -> AsyncGenerator[bytes, None]:
        """Raw audio for streamed text; ends quietly when :meth:`cancel` is called."""
        if isinstance(pieces, str) and not pieces.strip():
            return
        epoch = self._epoch
        ws = await self._connection()
        if epoch != self._epoch:  # cancelled while connecting
            return
        clock = ResponseClock(self._first_byte_timeout_s, self._stall_timeout_s)
        context = _Context(f"voxagent-{uuid.uuid4().hex}", ws, clock)
        self._contexts[context.id] = context
        context.sender = asyncio.create_task(self._send_text(context, pieces))
        try:
            while True:
                try:
                    item = await clock.wait(context.queue.get())
                except TimeoutError:
                    raise clock.expired(self.name) from None
                if isinstance(item, _End) or context.cancelled:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._contexts.pop(context.id, None)
            await stop_task(context.sender)
            if not context.finished and not context.cancelled:
                # Abandoned early (consumer stopped, error, timeout): stop the generation.
                await self._send_cancel(context)

    async def cancel(self) -> None:
        """Barge-in: cancel every in-flight context; their iterators end at once."""
        self._epoch += 1
        contexts = list(self._contexts.values())
        self._contexts.clear()  # from now on the reader drops their late chunks
        for context in contexts:
            context.cancelled = True
            if context.sender is not None:
                context.sender.cancel()
            context.queue.put_nowait(_CANCELLED)
        for context in contexts:
            await self._send_cancel(context)

    async def close(self) -> None:
        await self.cancel()
        ws, reader = self._ws, self._reader
        self._ws = self._reader = None
        if ws is not None:
            await ws.close()
        if reader is not None:
            await stop_task(reader)  # the socket is closed: nothing is left to route

    # --- internals ----------------------------------------------------------------------

    async def _connection(self) -> ClientConnection:
        async with self._connect_lock:
            ws, reader = self._ws, self._reader
            alive = reader is not None and not reader.done()
            if ws is not None and alive and ws.state is State.OPEN:
                return ws
            ws = await open_socket(
                self.name,
                self._url,
                self._headers,
                self._connect_timeout_s,
                ping_interval_s=self._ping_interval_s,
            )
            self.connections_opened += 1
            self._ws = ws
            self._reader = asyncio.create_task(self._read(ws), name="cartesia-reader")
            return ws

    async def _read(self, ws: ClientConnection) -> None:
        """Route every message to its context; when the socket ends, fail the open ones."""
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                event = parse_message(raw)
                if event.context_id is None:
                    if event.type == "error":  # not tied to a context: the socket is unusable
                        self._fail_all(ws, error_for(self.name, event))
                    continue
                context = self._contexts.get(event.context_id)
                if context is None or context.ws is not ws:
                    continue  # late message of a cancelled or finished context
                context.clock.message()
                if event.type == "error":
                    context.finished = event.done
                    self._end(context, error_for(self.name, event))
                    continue
                if event.audio:
                    context.queue.put_nowait(event.audio)
                if event.done:
                    context.finished = True
                    self._end(context, _DONE)
        close = ws.protocol.close_rcvd
        self._fail_all(
            ws, close_error(self.name, close.code if close else None, close.reason if close else "")
        )

    def _end(self, context: _Context, item: _QueueItem) -> None:
        self._contexts.pop(context.id, None)
        context.queue.put_nowait(item)

    def _fail_all(self, ws: ClientConnection, error: ProviderError) -> None:
        for context in [c for c in self._contexts.values() if c.ws is ws]:
            self._end(context, error)

    def _request(self, context_id: str, transcript: str, more: bool) -> str:
        return json.dumps(
            generation_request(
                model_id=self.model_id,
                voice_id=self.voice_id,
                transcript=transcript,
                context_id=context_id,
                encoding=self.encoding,
                sample_rate=self.sample_rate,
                more=more,
                language=self.language,
            )
        )

    async def _send_text(self, context: _Context, source: TextSource) -> None:
        ws, clock = context.ws, context.clock
        try:
            async with contextlib.aclosing(text_pieces(source)) as pieces:
                async for piece in pieces:
                    if context.cancelled:
                        return
                    if piece.strip():
                        text = piece if piece.endswith(" ") else piece + " "
                        await ws.send(self._request(context.id, text, more=True))
                        clock.requested()
            await ws.send(self._request(context.id, "", more=False))
            clock.input_done()
        except ConnectionClosed:
            pass  # the reader fails the context
        except Exception as exc:
            # The text source failed: end this context only, the socket stays usable.
            context.queue.put_nowait(exc)

    async def _send_cancel(self, context: _Context) -> None:
        """Best effort and bounded: a dead socket must not stall a barge-in."""
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await asyncio.wait_for(
                context.ws.send(json.dumps(cancel_message(context.id))), CLOSE_TIMEOUT_S
            )
