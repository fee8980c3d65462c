"""Loopback fakes of the ElevenLabs stream-input and Cartesia TTS WebSockets (PROTOCOLS §8, §9).

Audio is a deterministic sine tone, ``MS_PER_CHAR`` milliseconds per non-space character,
phase-continuous within a synthesis, so a test can predict every sample whatever the
chunking: :func:`expected_pcm` gives the samples of a whole synthesis. The frequency
comes from the first word, so audio routed to the wrong synthesis is detectable.

Fault switches (plain attributes, set them per test, even while the server runs):

* ``api_key`` — a client with another key is refused with HTTP 401 at the upgrade
  (ElevenLabs with ``bad_key_mode="stream"``: accepted, then an error message and a 1008
  close, which is what the real service does for a bad key in the first message);
* ``rate_limited`` — HTTP 429 at the upgrade;
* ``handshake_delay`` — seconds the WebSocket upgrade takes (a real TLS connect's cost);
* ``first_byte_delay`` — seconds before the first audio chunk of a synthesis;
* ``drop_after_chunks`` — abort the TCP connection (no close frame) after N chunks;
* ``inactivity_timeout`` (ElevenLabs) / ``idle_timeout`` (Cartesia) — close the socket
  after that many seconds without text from the client.

Where PROTOCOLS.md marks behaviour UNCONFIRMED we pick one plausible shape and say so.
Each fake records what it saw (``sessions`` / ``received`` / ``cancelled``…) for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import time
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import numpy.typing as npt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from voxagent.audio.g711 import alaw_encode, ulaw_encode

__all__ = [
    "CHUNK_MS",
    "MS_PER_CHAR",
    "CartesiaContext",
    "ElevenLabsSession",
    "FakeCartesia",
    "FakeElevenLabs",
    "encode",
    "expected_pcm",
    "expected_raw",
    "tone_frequency",
]

MS_PER_CHAR = 10
CHUNK_MS = 40
AMPLITUDE = 8000
EL_MIN_TRIGGER_CHARS = 50
"""ElevenLabs only honours ``try_trigger_generation`` above this many buffered characters."""
EL_IDLE_MESSAGE = (
    "Have not received a new text input within the timeout of {timeout:g} seconds. "
    "Streaming input terminated. Please make sure to either feed the input in the timely "
    'manner, or to send the end of input text (empty string "") when done.'
)


# --- deterministic audio -------------------------------------------------------------------


def tone_frequency(text: str) -> float:
    """The tone of a synthesis, keyed by its first word (the same however text is split)."""
    words = text.split()
    key = words[0] if words else ""
    return 200.0 + (zlib.crc32(key.encode()) % 40) * 10.0


def _tone(start: int, count: int, sample_rate: int, frequency: float) -> npt.NDArray[np.int16]:
    n = np.arange(start, start + count, dtype=np.float64)
    wave = AMPLITUDE * np.sin(2 * math.pi * frequency * n / sample_rate)
    return np.round(wave).astype(np.int16)


def _samples_for(text: str, sample_rate: int) -> int:
    return sum(not c.isspace() for c in text) * sample_rate * MS_PER_CHAR // 1000


def encode(pcm: npt.NDArray[np.int16], encoding: str) -> bytes:
    """PCM to the wire encoding; accepts both providers' names (ulaw / pcm_mulaw…)."""
    if encoding in ("ulaw", "pcm_mulaw"):
        return ulaw_encode(pcm)
    if encoding in ("alaw", "pcm_alaw"):
        return alaw_encode(pcm)
    return pcm.astype("<i2").tobytes()


def expected_pcm(text: str, sample_rate: int) -> npt.NDArray[np.int16]:
    """The exact samples a fake sends for ``text`` in one synthesis (before encoding).

    Only valid when the whole synthesis is generated on one tone, which holds when ``text``
    is split into pieces at spaces (the first word decides the tone).
    """
    return _tone(0, _samples_for(text, sample_rate), sample_rate, tone_frequency(text))


def expected_raw(text: str, sample_rate: int, encoding: str) -> bytes:
    return encode(expected_pcm(text, sample_rate), encoding)


class _ToneGenerator:
    """Tone state of one synthesis: where the phase is."""

    def __init__(self, sample_rate: int, encoding: str, first_text: str) -> None:
        self.sample_rate = sample_rate
        self.encoding = encoding
        self.frequency = tone_frequency(first_text)
        self.position = 0

    def chunks(self, text: str) -> list[bytes]:
        count = _samples_for(text, self.sample_rate)
        pcm = _tone(self.position, count, self.sample_rate, self.frequency)
        self.position += count
        step = self.sample_rate * CHUNK_MS // 1000
        return [encode(pcm[i : i + step], self.encoding) for i in range(0, len(pcm), step)]


# --- shared server plumbing ----------------------------------------------------------------


def _abort(ws: ServerConnection) -> None:
    """Drop the TCP connection without a close frame, like a crashed peer."""
    ws.transport.abort()


async def _pause(ws: ServerConnection, seconds: float) -> None:
    """Sleep, but wake up early if the client went away (keeps server shutdown fast)."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), seconds)


def _close_reason(text: str) -> str:
    """A close reason is limited to 123 bytes; real servers truncate long messages too."""
    return text.encode()[:123].decode("utf-8", "ignore")


def _json_response(ws: ServerConnection, status: HTTPStatus, body: dict[str, Any]) -> Response:
    response = ws.respond(status, json.dumps(body))
    response.headers["Content-Type"] = "application/json"
    return response


class _FakeServer:
    """Start/stop on 127.0.0.1 with a random port; subclasses handle the protocol."""

    def __init__(self) -> None:
        self._server: Server | None = None
        self.connections = 0
        self.handshakes: list[dict[str, str]] = []
        """Headers of every upgrade request, accepted or not (lower-case names)."""
        self.handshake_delay = 0.0

    @property
    def open_connections(self) -> int:
        """Accepted sockets not yet closing."""
        return len(self._server.connections) if self._server is not None else 0

    @property
    def base_url(self) -> str:
        """``http://`` like the real default (the voices map it to ``ws://``)."""
        assert self._server is not None, "use `async with` first"
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=None,
            close_timeout=1,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append({k.lower(): v for k, v in request.headers.raw_items()})
        if self.handshake_delay > 0:
            await asyncio.sleep(self.handshake_delay)
        return self._check_request(ws, request)

    def _check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        raise NotImplementedError

    async def _handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError


# --- ElevenLabs ----------------------------------------------------------------------------


@dataclass
class ElevenLabsSession:
    """What one stream-input connection did."""

    voice_id: str
    query: dict[str, str]
    header_key: str | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)
    """Every audio chunk sent, decoded from base64: what the client must pass through."""
    outcome: str = "open"
    """final | client_closed | dropped | idle_timeout | bad_key | bad_request"""
    opened_at: float = field(default_factory=time.monotonic)
    """When the handshake completed (``time.monotonic``, comparable with the test's clock)."""
    first_message_at: float | None = None
    """When the first (BOS) message arrived: the socket was put to use."""

    @property
    def texts(self) -> list[str]:
        """The ``text`` of every message after the BOS, keep-alives and EOS included."""
        return [str(m.get("text")) for m in self.messages[1:]]


class FakeElevenLabs(_FakeServer):
    """``async with FakeElevenLabs() as fake``; point the voice at ``fake.base_url``."""

    def __init__(
        self,
        *,
        api_key: str = "el-test-key",
        bad_key_mode: Literal["upgrade", "stream"] = "upgrade",
        rate_limited: bool = False,
        first_byte_delay: float = 0.0,
        chunk_delay: float = 0.0,
        drop_after_chunks: int | None = None,
        inactivity_timeout: float = 20.0,
        handshake_delay: float = 0.0,
    ) -> None:
        super().__init__()
        self.handshake_delay = handshake_delay
        self.api_key = api_key
        self.bad_key_mode: Literal["upgrade", "stream"] = bad_key_mode
        self.rate_limited = rate_limited
        self.first_byte_delay = first_byte_delay
        self.chunk_delay = chunk_delay
        self.drop_after_chunks = drop_after_chunks
        self.inactivity_timeout = inactivity_timeout
        self.sessions: list[ElevenLabsSession] = []

    @property
    def received(self) -> list[dict[str, Any]]:
        return [m for s in self.sessions for m in s.messages]

    def _check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path).path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v1", "text-to-speech"] or parts[3] != "stream-input":
            return ws.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        if self.rate_limited:
            return _json_response(
                ws,
                HTTPStatus.TOO_MANY_REQUESTS,
                {
                    "detail": {
                        "status": "too_many_concurrent_requests",
                        "message": "Too many concurrent requests for your subscription.",
                    }
                },
            )
        key = request.headers.get("xi-api-key")
        if self.bad_key_mode == "upgrade" and key is not None and key != self.api_key:
            return _json_response(
                ws,
                HTTPStatus.UNAUTHORIZED,
                {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
            )
        return None

    async def _fail(self, ws: ServerConnection, error: str, message: str) -> None:
        """In-stream error: a JSON body, then a 1008 close (body shape UNCONFIRMED)."""
        await ws.send(json.dumps({"message": message, "error": error, "code": 1008}))
        await ws.close(1008, _close_reason(message))

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        assert ws.request is not None
        url = urlsplit(ws.request.path)
        query = dict(parse_qsl(url.query))
        session = ElevenLabsSession(
            voice_id=url.path.strip("/").split("/")[2],
            query=query,
            header_key=ws.request.headers.get("xi-api-key"),
        )
        self.sessions.append(session)
        try:
            await self._converse(ws, session)
        except ConnectionClosed:
            session.outcome = "client_closed"

    async def _converse(self, ws: ServerConnection, session: ElevenLabsSession) -> None:
        fmt = session.query.get("output_format", "mp3_44100_128")
        kind, _, rate = fmt.partition("_")
        if kind not in ("ulaw", "alaw", "pcm") or not rate.isdigit():
            session.outcome = "bad_request"
            await self._fail(ws, "invalid_output_format", f"unsupported output_format {fmt}")
            return
        timeout = min(float(session.query.get("inactivity_timeout", 20)), self.inactivity_timeout)
        encoding = {"pcm": "pcm_s16le"}.get(kind, kind)
        generator: _ToneGenerator | None = None
        threshold = 120  # first value of the default chunk_length_schedule
        buffer = ""
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout)
            except TimeoutError:
                session.outcome = "idle_timeout"
                await self._fail(
                    ws, "input_timeout_exceeded", EL_IDLE_MESSAGE.format(timeout=timeout)
                )
                return
            message = json.loads(raw)
            session.messages.append(message)
            if len(session.messages) == 1:  # BOS
                session.first_message_at = time.monotonic()
                key = session.header_key or message.get("xi_api_key") or message.get("xi-api-key")
                if key != self.api_key:
                    session.outcome = "bad_key"
                    await self._fail(ws, "invalid_api_key", "Invalid API key")
                    return
                if message.get("text") != " ":
                    session.outcome = "bad_request"
                    await self._fail(ws, "invalid_request", "The first message must be ' '")
                    return
                schedule = (message.get("generation_config") or {}).get("chunk_length_schedule")
                if schedule:
                    threshold = int(schedule[0])
                continue
            text = message.get("text")
            if not isinstance(text, str):
                session.outcome = "bad_request"
                await self._fail(ws, "invalid_input_message", "Could not parse input message")
                return
            end = text == ""
            buffer += text
            if generator is None and buffer.strip():
                generator = _ToneGenerator(int(rate), encoding, buffer)
            speak = (
                end
                or message.get("flush") is True
                or (message.get("try_trigger_generation") and len(buffer) >= EL_MIN_TRIGGER_CHARS)
                or len(buffer) >= threshold
            )
            if speak and generator is not None and buffer.strip():
                if not await self._speak(ws, session, generator, buffer):
                    return
                buffer = ""
            if end:
                await ws.send(json.dumps({"isFinal": True}))
                session.outcome = "final"
                await ws.close(1000)
                return

    async def _speak(
        self, ws: ServerConnection, session: ElevenLabsSession, gen: _ToneGenerator, text: str
    ) -> bool:
        """Send the audio of ``text``; False when the drop fault cut the connection."""
        chars = list(text)
        for index, chunk in enumerate(gen.chunks(text)):
            if not session.audio:
                await _pause(ws, self.first_byte_delay)
            if self.drop_after_chunks is not None and len(session.audio) >= self.drop_after_chunks:
                session.outcome = "dropped"
                _abort(ws)
                return False
            alignment = None
            if index == 0:  # the characters of this generation, at MS_PER_CHAR each
                alignment = {
                    "chars": chars,
                    "charStartTimesMs": [i * MS_PER_CHAR for i in range(len(chars))],
                    "charDurationsMs": [MS_PER_CHAR] * len(chars),
                }
            await ws.send(
                json.dumps(
                    {
                        "audio": base64.b64encode(chunk).decode(),
                        "isFinal": None,
                        "normalizedAlignment": alignment,
                        "alignment": alignment,
                    }
                )
            )
            session.audio.append(chunk)
            await _pause(ws, self.chunk_delay)
        return True


# --- Cartesia ------------------------------------------------------------------------------


@dataclass
class CartesiaContext:
    """What the client did with one ``context_id`` and what the fake sent for it."""

    context_id: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)
    outcome: str = "open"
    """done | cancelled | error | dropped | closed"""

    @property
    def transcripts(self) -> list[str]:
        return [str(r.get("transcript")) for r in self.requests]


class _LiveContext:
    """Server-side state of a context being generated."""

    def __init__(self, record: CartesiaContext, fmt: dict[str, Any]) -> None:
        self.record = record
        self.format = fmt
        self.queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self.cancelled = False
        self.busy = False
        self.task: asyncio.Task[None] | None = None


class FakeCartesia(_FakeServer):
    """``async with FakeCartesia() as fake``; point the voice at ``fake.base_url``."""

    def __init__(
        self,
        *,
        api_key: str = "cartesia-test-key",
        rate_limited: bool = False,
        first_byte_delay: float = 0.0,
        chunk_delay: float = 0.002,
        drop_after_chunks: int | None = None,
        idle_timeout: float = 300.0,
        late_chunks_after_cancel: int = 0,
        context_error: tuple[int, str] | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.rate_limited = rate_limited
        self.first_byte_delay = first_byte_delay
        self.chunk_delay = chunk_delay
        self.drop_after_chunks = drop_after_chunks
        self.idle_timeout = idle_timeout
        """Close (1000, UNCONFIRMED) after this long with no client message and nothing
        being generated."""
        self.late_chunks_after_cancel = late_chunks_after_cancel
        """Chunks still sent after a cancel, like audio already in flight on a real link."""
        self.context_error = context_error
        """(status_code, message): answer every new context with an error event instead."""
        self.received: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.contexts: dict[str, CartesiaContext] = {}
        self.chunks_sent = 0

    def _check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        """Both auth styles: headers (X-API-Key or Bearer) or ``api_key``/``cartesia_version``."""
        url = urlsplit(request.path)
        if url.path != "/tts/websocket":
            return ws.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        query = dict(parse_qsl(url.query))
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        key = request.headers.get("X-API-Key") or bearer or query.get("api_key", "")
        version = request.headers.get("Cartesia-Version") or query.get("cartesia_version", "")
        if key != self.api_key:
            return _json_response(ws, HTTPStatus.UNAUTHORIZED, {"error": "Invalid API key"})
        if not version:
            return _json_response(
                ws, HTTPStatus.BAD_REQUEST, {"error": "Cartesia-Version header is required"}
            )
        if self.rate_limited:
            return _json_response(
                ws, HTTPStatus.TOO_MANY_REQUESTS, {"error": "Rate limit exceeded"}
            )
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        live: dict[str, _LiveContext] = {}
        sent_here = [0]  # chunks on this connection, for drop_after_chunks
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self.idle_timeout)
                except TimeoutError:
                    if any(c.busy for c in live.values()):
                        continue
                    await ws.close(1000, "idle timeout")
                    return
                message = json.loads(raw)
                self.received.append(message)
                await self._dispatch(ws, message, live, sent_here)
        except ConnectionClosed:
            pass
        finally:
            for context in live.values():
                if context.task is not None:
                    context.task.cancel()
                if context.record.outcome == "open":
                    context.record.outcome = "closed"

    async def _dispatch(
        self,
        ws: ServerConnection,
        message: dict[str, Any],
        live: dict[str, _LiveContext],
        sent_here: list[int],
    ) -> None:
        context_id = message.get("context_id")
        if not isinstance(context_id, str) or not context_id:
            await self._error(ws, None, 400, "context_id is required")
            return
        record = self.contexts.setdefault(context_id, CartesiaContext(context_id))
        if message.get("cancel") is True:
            self.cancelled.append(context_id)
            record.requests.append(message)
            context = live.get(context_id)
            if context is not None:
                context.cancelled = True
                if self.late_chunks_after_cancel <= 0 and context.task is not None:
                    context.task.cancel()
                record.outcome = "cancelled"
            return
        record.requests.append(message)
        missing = [
            k
            for k in ("model_id", "transcript", "voice", "output_format", "context_id")
            if k not in message
        ]
        fmt = message.get("output_format")
        if missing or not _valid_format(fmt):
            record.outcome = "error"
            await self._error(ws, context_id, 400, f"invalid request (missing {missing}, {fmt})")
            return
        assert isinstance(fmt, dict)
        context = live.get(context_id)
        if context is None:
            if self.context_error is not None:
                record.outcome = "error"
                await self._error(ws, context_id, *self.context_error)
                return
            context = live[context_id] = _LiveContext(record, fmt)
            context.task = asyncio.create_task(self._generate(ws, context, sent_here))
        if not context.cancelled:
            context.queue.put_nowait((str(message["transcript"]), message.get("continue") is True))

    async def _error(
        self, ws: ServerConnection, context_id: str | None, status: int, message: str
    ) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "error",
                    "context_id": context_id,
                    "done": True,
                    "status_code": status,
                    "error": message,
                    "title": HTTPStatus(status).phrase,
                    "message": message,
                }
            )
        )

    async def _generate(
        self, ws: ServerConnection, context: _LiveContext, sent_here: list[int]
    ) -> None:
        record = context.record
        generator: _ToneGenerator | None = None
        late_budget = self.late_chunks_after_cancel
        with contextlib.suppress(ConnectionClosed):
            while True:
                transcript, more = await context.queue.get()
                context.busy = True
                if generator is None and transcript.strip():
                    rate = int(context.format["sample_rate"])
                    generator = _ToneGenerator(rate, context.format["encoding"], transcript)
                chunks = generator.chunks(transcript) if generator is not None else []
                for chunk in chunks:
                    if context.cancelled:
                        if late_budget <= 0:
                            return
                        late_budget -= 1
                    if not record.audio:
                        await _pause(ws, self.first_byte_delay)
                    if (
                        self.drop_after_chunks is not None
                        and sent_here[0] >= self.drop_after_chunks
                    ):
                        record.outcome = "dropped"
                        _abort(ws)
                        return
                    await ws.send(
                        json.dumps(
                            {
                                "type": "chunk",
                                "context_id": record.context_id,
                                "data": base64.b64encode(chunk).decode(),
                                "done": False,
                                "status_code": 206,
                                "step_time": 1.0,
                            }
                        )
                    )
                    sent_here[0] += 1
                    self.chunks_sent += 1
                    record.audio.append(chunk)
                    await _pause(ws, self.chunk_delay)
                context.busy = False
                if context.cancelled:
                    return
                if not more:
                    await ws.send(
                        json.dumps(
                            {
                                "type": "done",
                                "context_id": record.context_id,
                                "done": True,
                                "status_code": 200,
                            }
                        )
                    )
                    record.outcome = "done"
                    return


def _valid_format(fmt: object) -> bool:
    return (
        isinstance(fmt, dict)
        and fmt.get("container") == "raw"
        and fmt.get("encoding") in ("pcm_s16le", "pcm_mulaw", "pcm_alaw")
        and fmt.get("sample_rate") in (8000, 16000, 22050, 24000, 44100, 48000)
    )
