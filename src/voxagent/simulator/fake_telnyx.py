"""A protocol-faithful fake of Telnyx Call Control: REST, signed webhooks and media streams.

It lets people develop and load-test an agent without a phone number, and it drives our
end-to-end tests. It is written from the wire formats (``/work/shared/PROTOCOLS.md`` §1-§3)
and deliberately shares no code with our own Telnyx client (``voxagent.channels.telnyx``):
two independent readings of the same documents check each other.

What it plays:

* **REST** (``POST /v2/calls``, ``POST /v2/calls/{id}/actions/<name>``, ``GET /v2/calls/{id}``):
  bearer auth, Telnyx-style validation and JSON:API error bodies, ``command_id`` idempotency,
  and fault switches (:meth:`FakeTelnyx.fail_next`).
* **Webhooks**: the §2.1 envelope, Ed25519-signed over ``f"{ts}|"`` + the raw body, delivered
  in order per call by one sender task per call, retried with ``meta.attempt`` incremented.
  The body is compact UTF-8 JSON with a non-ASCII caller name, so a receiver that re-serializes
  before verifying fails, as it would against Telnyx.
* **The other party**: with a ``stream_url``, :func:`~voxagent.simulator.caller.simulate_call`
  speaks the call's script over a media stream; without one, the party "talks" through
  ``call.transcription`` webhooks after each ``speak``/``playback`` the agent finishes.

The simulated party does not connect to our server directly: it connects to a loopback
*relay* which opens the stream to ``stream_url`` exactly as Telnyx would (auth header, same
frames, byte for byte). The relay is what lets the fake behave like the network: send
``stop`` and close the socket when anyone hangs up, report ``streaming.started`` /
``stopped`` / ``failed`` at the right moments, and tell who ended the stream. It costs one
extra loopback hop per frame, which is cheap next to the JSON/base64 work at either end.

Points where the documents are silent and a choice was made are marked *assumed*.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hmac
import json
import logging
import re
import secrets
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from voxagent.simulator.caller import (
    DEFAULT_SCRIPT,
    SimulationResult,
    SpeechRenderer,
    simulate_call,
)

__all__ = [
    "Behaviour",
    "EmittedEvent",
    "FakeCall",
    "FakeTelnyx",
    "RestRequest",
    "WebhookDelivery",
    "run_fake_telnyx",
    "serve_app",
    "sign_webhook",
]

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
Behaviour = Literal["answer", "busy", "no_answer", "reject", "machine"]
"""What a dialled number does: answer (a human), busy (486), never answer, reject (603),
or answer as an answering machine (AMD result ``machine``)."""

DEFAULT_CONNECTION_ID = "1234567890"
SIGNATURE_HEADER = "Telnyx-Signature-Ed25519"  # Telnyx's spelling; receivers must not care
TIMESTAMP_HEADER = "Telnyx-Timestamp"
MAX_STREAM_MESSAGE_BYTES = 2 * 1024 * 1024
"""Largest frame relayed from the app: RTP mode allows 30 s chunks (base64 inflates ~4/3)."""
MAX_SPEAK_CHARS = 5000
STREAM_KEYS = (
    "stream_url",
    "stream_track",
    "stream_codec",
    "stream_bidirectional_mode",
    "stream_bidirectional_codec",
    "stream_bidirectional_sampling_rate",
    "stream_bidirectional_target_legs",
    "stream_auth_token",
    "custom_parameters",
)
_CODECS = frozenset({"PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16"})
_ENUMS: dict[str, frozenset[str]] = {
    "stream_track": frozenset({"inbound_track", "outbound_track", "both_tracks"}),
    "stream_codec": _CODECS | {"default"},
    "stream_bidirectional_mode": frozenset({"mp3", "rtp"}),
    "stream_bidirectional_codec": _CODECS,
    "stream_bidirectional_target_legs": frozenset({"both", "self", "opposite"}),
    "answering_machine_detection": frozenset(
        {"premium", "detect", "detect_beep", "detect_words", "greeting_end", "disabled"}
    ),
}
_E164 = re.compile(r"\+[1-9]\d{1,14}")
_DTMF = re.compile(r"[0-9A-D*#wW]{1,128}")
_TAGS = re.compile(r"<[^>]+>")


# --------------------------------------------------------------------------- pure helpers


def _now_iso() -> str:
    """ISO-8601 UTC with microseconds and a ``Z``, as in Telnyx's ``occurred_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _new_call_control_id() -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode("ascii").rstrip("=")
    return "v3:" + raw


def _is_base64(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_number(value: object, *, sip: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    if sip and value.startswith(("sip:", "sips:")):
        return len(value) > 5
    return _E164.fullmatch(value) is not None


def sign_webhook(key: Ed25519PrivateKey, timestamp: int, body: bytes) -> str:
    """Telnyx's webhook signature: base64 Ed25519 over ``f"{timestamp}|"`` + the raw body."""
    return base64.b64encode(key.sign(f"{timestamp}|".encode() + body)).decode("ascii")


def _public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _dumps(obj: object) -> bytes:
    # Compact and UTF-8 (not \u escapes): a receiver must verify the bytes it got, and one
    # that re-serializes with the stdlib defaults would produce different bytes.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _speech_seconds(text: str, per_char: float, cap: float) -> float:
    return min(len(_TAGS.sub("", text)) * per_char, cap)


class ApiError(Exception):
    """A Telnyx JSON:API error response (``{"errors":[...]}``, ``code`` as a string)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        headers: Mapping[str, str] | None = None,
        more: Sequence[JsonObject] = (),
    ) -> None:
        super().__init__(f"{status} {code} {title}: {detail}")
        self.status = status
        self.headers = dict(headers or {})
        self.errors = [_error(code, title, detail, pointer), *more]

    def body(self) -> JsonObject:
        return {"errors": self.errors}


def _error(code: str, title: str, detail: str, pointer: str | None = None) -> JsonObject:
    entry: JsonObject = {"code": code, "title": title, "detail": detail}
    if pointer is not None:
        entry["source"] = {"pointer": pointer}
    entry["meta"] = {"url": f"https://developers.telnyx.com/api/errors/{code}"}
    return entry


class _Problems:
    """Collects validation errors so one response lists them all, as Telnyx does."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str, str, str, str]] = []

    def add(self, code: str, title: str, detail: str, key: str, status: int = 422) -> None:
        self.items.append((status, code, title, detail, "/" + key))

    def missing(self, key: str) -> None:
        self.add("10004", "Missing required parameter", f"The '{key}' parameter is required.", key)

    def invalid(self, key: str, detail: str) -> None:
        self.add("10015", "Bad Request", detail, key)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        status, code, title, detail, pointer = self.items[0]
        more = [_error(c, t, d, p) for _, c, t, d, p in self.items[1:]]
        raise ApiError(status, code, title, detail, pointer=pointer, more=more)


def _check_common(body: JsonObject, problems: _Problems) -> None:
    """``client_state`` (must be base64: error 90017) and ``command_id``, on every command."""
    state = body.get("client_state")
    if state is not None and not _is_base64(state):
        problems.add(
            "90017",
            "Invalid value for client_state",
            "client_state must be a valid Base64 encoded string.",
            "client_state",
        )
    if "command_id" in body and not isinstance(body["command_id"], str | None):
        problems.invalid("command_id", "command_id must be a string.")


def _check_url(body: JsonObject, key: str, schemes: tuple[str, ...], problems: _Problems) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(schemes) or len(value) > 2000:
        problems.add("10003", "Invalid URL", f"'{key}' must be a {'/'.join(schemes)} URL.", key)


def _check_enum(body: JsonObject, key: str, problems: _Problems) -> None:
    value = body.get(key)
    if value is not None and value not in _ENUMS[key]:
        allowed = ", ".join(sorted(_ENUMS[key]))
        problems.invalid(key, f"'{key}' must be one of: {allowed}.")


def _check_stream(body: JsonObject, problems: _Problems) -> None:
    _check_url(body, "stream_url", ("ws://", "wss://"), problems)
    for key in (
        "stream_track",
        "stream_codec",
        "stream_bidirectional_mode",
        "stream_bidirectional_codec",
        "stream_bidirectional_target_legs",
    ):
        _check_enum(body, key, problems)
    token = body.get("stream_auth_token")
    if token is not None and (not isinstance(token, str) or len(token) > 4000):
        problems.invalid("stream_auth_token", "stream_auth_token must be a string ≤ 4000 chars.")


def _int_in(body: JsonObject, key: str, low: int, high: int, problems: _Problems) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.invalid(key, f"'{key}' must be an integer between {low} and {high}.")


def _interim_requested(body: JsonObject) -> bool:
    """Both the flat (guide) and nested (SDK) ``transcription_start`` shapes."""
    config = body.get("transcription_engine_config")
    if isinstance(config, dict) and config.get("interim_results") is True:
        return True
    return body.get("interim_results") is True


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class RestRequest:
    """One REST request the fake received, and the status it answered."""

    method: str
    path: str
    json: JsonObject
    status: int = 0
    at: float = 0.0
    raw: bytes = b""

    @property
    def action(self) -> str | None:
        """``speak`` for ``/v2/calls/{id}/actions/speak``; ``None`` for other paths."""
        parts = self.path.strip("/").split("/")
        return parts[4] if len(parts) == 5 and parts[3] == "actions" else None


@dataclass(slots=True)
class EmittedEvent:
    """A webhook event as created (each is delivered once, or more on retries/duplicates)."""

    id: str
    event_type: str
    call_control_id: str | None
    occurred_at: str
    payload: JsonObject


@dataclass(slots=True)
class WebhookDelivery:
    """One HTTP attempt at delivering an event, and what our server answered."""

    event_id: str
    event_type: str
    call_control_id: str | None
    url: str
    attempt: int
    status: int | None
    """Our server's HTTP status; ``None`` when it did not answer (timeout, refused)."""
    error: str | None
    body: JsonObject = field(repr=False)
    elapsed_ms: float = 0.0
    duplicate: bool = False


@dataclass(eq=False, slots=True)
class _Clip:
    """One ``speak`` or ``playback_start`` in the call's audio queue."""

    kind: Literal["speak", "playback"]
    duration: float | None  # None: until stopped (loop "infinity")
    fields: JsonObject
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "completed"

    def stop(self, status: str) -> None:
        if not self.stopped.is_set():
            self.status = status
            self.stopped.set()


@dataclass(eq=False)
class FakeCall:
    """Everything the fake knows about one call leg; public fields are for inspection."""

    call_control_id: str
    call_leg_id: str
    call_session_id: str
    connection_id: str
    direction: Literal["incoming", "outgoing"]
    from_number: str
    to_number: str
    webhook_url: str | None
    script: list[str]
    behaviour: str = "answer"
    client_state: str | None = None
    state: Literal["parked", "bridging", "answered", "hangup"] = "parked"
    options: JsonObject = field(default_factory=dict)
    """The dial (outbound) or answer (inbound) body."""
    stream: JsonObject | None = None
    """``stream_*`` fields of the stream in effect (or last in effect)."""
    streaming: bool = False
    transcribing: bool = False
    interim_results: bool = False
    started_at: float = field(default_factory=time.time)
    start_time: str = field(default_factory=_now_iso)
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: str | None = None
    hangup_source: str | None = None
    sip_hangup_cause: str | None = None
    spoken: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    fetched: list[tuple[str, int, str, bytes]] = field(default_factory=list)
    """``playback_start`` audio Telnyx downloaded: (url, HTTP status, content type, body)."""
    said: list[str] = field(default_factory=list)
    """What the party said through ``call.transcription`` (webhook mode)."""
    dtmf_sent: list[str] = field(default_factory=list)
    transferred_to: str | None = None
    agent_turns: int = 0
    """``speak``/``playback`` clips that finished (the party answers after each)."""
    reply_timeouts: int = 0
    simulation: SimulationResult | None = None
    stream_error: str | None = None
    events: list[EmittedEvent] = field(default_factory=list, repr=False)

    _outbox: deque[EmittedEvent] = field(init=False, default_factory=deque, repr=False)
    _sender: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _tasks: set[asyncio.Task[None]] = field(init=False, default_factory=set, repr=False)
    _sim: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _party: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _player: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _clips: deque[_Clip] = field(init=False, default_factory=deque, repr=False)
    _current: _Clip | None = field(init=False, default=None, repr=False)
    _line: _MediaLine | None = field(init=False, default=None, repr=False)
    _commands: set[str] = field(init=False, default_factory=set, repr=False)
    _changed: asyncio.Event = field(init=False, default_factory=asyncio.Event, repr=False)
    _hung_up: asyncio.Event = field(init=False, default_factory=asyncio.Event, repr=False)
    """Set once ``call.hangup`` has been queued (everything about the call is over)."""

    @property
    def alive(self) -> bool:
        return self.state != "hangup"

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def agent_idle(self) -> bool:
        return self._current is None and not self._clips

    @property
    def event_types(self) -> list[str]:
        return [e.event_type for e in self.events]

    def notify(self) -> None:
        """Wake everything waiting for this call to change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], within_s: float | None) -> bool:
        """Wait for ``predicate`` (re-checked on every :meth:`notify`); False if ``within_s``
        passes first."""
        loop = asyncio.get_running_loop()
        deadline = None if within_s is None else loop.time() + within_s
        while not predicate():
            changed = self._changed
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    def summary(self) -> JsonObject:
        return {
            "call_control_id": self.call_control_id,
            "direction": self.direction,
            "from": self.from_number,
            "to": self.to_number,
            "state": self.state,
            "streaming": self.streaming,
            "transcribing": self.transcribing,
            "hangup_cause": self.hangup_cause,
            "hangup_source": self.hangup_source,
            "events": self.event_types,
        }


# --------------------------------------------------------------------------- the media relay


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
                await self.downstream.close(1000)
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


# --------------------------------------------------------------------------- serving


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


# --------------------------------------------------------------------------- the fake


class FakeTelnyx:
    """A local Telnyx: Call Control REST, signed webhooks, and a simulated party on each call.

    Use as ``async with FakeTelnyx(webhook_url=..., api_key=...) as fake:``; point our server's
    ``TELNYX_BASE_URL`` at :attr:`base_url` and ``TELNYX_PUBLIC_KEY`` at
    :attr:`public_key_b64`. Timings default to something call-like; tests shrink them.
    """

    def __init__(
        self,
        *,
        webhook_url: str | None = None,
        api_key: str = "KEY_TEST",
        callee_script: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        connection_id: str | None = None,
        answer_delay_s: float = 0.5,
        no_answer_after_s: float = 3.0,
        speak_rate_s_per_char: float = 0.06,
        speak_max_s: float = 12.0,
        playback_duration_s: float = 1.0,
        callee_pause_s: float = 0.4,
        callee_reply_timeout_s: float = 10.0,
        callee_hangup_after_s: float = 2.0,
        inbound_ring_timeout_s: float = 60.0,
        transfer_after_s: float = 0.5,
        max_call_s: float = 14400.0,
        webhook_timeout_s: float = 2.0,
        webhook_attempts: int = 3,
        webhook_retry_delay_s: float = 0.25,
        duplicate_deliveries: bool = False,
        tts: SpeechRenderer | None = None,
        transcribe: bool = False,
        callee_options: Mapping[str, Any] | None = None,
        private_key: Ed25519PrivateKey | None = None,
        verbose: bool = False,
    ) -> None:
        """``callee_script``: what the called (or calling) party says, default
        :data:`~voxagent.simulator.caller.DEFAULT_SCRIPT`. ``connection_id``: if set, dials
        must use it; inbound calls carry it. ``tts``: a shared voice for the simulated
        party (default: one Piper voice, loaded on the first media stream).
        ``callee_options``: extra keyword arguments for ``simulate_call`` (``pause_s``,
        ``barge_in``…). ``transcribe``: let the party transcribe the agent (PocketSphinx).
        """
        self.webhook_url = webhook_url
        self.api_key = api_key
        self.callee_script = list(DEFAULT_SCRIPT if callee_script is None else callee_script)
        self.host = host
        self.port = port
        self.connection_id = connection_id
        self.answer_delay_s = answer_delay_s
        self.no_answer_after_s = no_answer_after_s
        self.speak_rate_s_per_char = speak_rate_s_per_char
        self.speak_max_s = speak_max_s
        self.playback_duration_s = playback_duration_s
        self.callee_pause_s = callee_pause_s
        self.callee_reply_timeout_s = callee_reply_timeout_s
        self.callee_hangup_after_s = callee_hangup_after_s
        self.inbound_ring_timeout_s = inbound_ring_timeout_s
        self.transfer_after_s = transfer_after_s
        self.max_call_s = max_call_s
        self.webhook_timeout_s = webhook_timeout_s
        self.webhook_attempts = max(1, webhook_attempts)
        self.webhook_retry_delay_s = webhook_retry_delay_s
        self.duplicate_deliveries = duplicate_deliveries
        self.transcribe = transcribe
        self.callee_options = dict(callee_options or {})
        self.verbose = verbose

        self.behaviour: dict[str, str] = {}
        """Per dialled number: ``answer`` (default), ``busy``, ``no_answer``, ``reject`` or
        ``machine`` (see :data:`Behaviour`)."""
        self.scripts: dict[str, list[str]] = {}
        """Per number (dialled ``to``, or inbound ``from``): overrides ``callee_script``."""
        self.calls: dict[str, FakeCall] = {}
        self.requests: list[RestRequest] = []
        self.webhooks: list[WebhookDelivery] = []
        self.emitted: list[EmittedEvent] = []
        self.max_concurrent_calls = 0

        self._key = private_key or Ed25519PrivateKey.generate()
        self.public_key_b64 = _public_key_b64(self._key)
        self._tts = tts
        self._owned_tts: Any = None
        self._tts_lock = asyncio.Lock()
        self._faults: deque[int] = deque()
        self._dial_commands: dict[str, tuple[float, str]] = {}
        self._pending_lines: dict[str, FakeCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._live = 0
        self._closing = False
        self._http: httpx.AsyncClient | None = None
        self._relay: Server | None = None
        self._relay_url = ""
        self._stack: contextlib.AsyncExitStack | None = None
        self.app = Starlette(
            routes=[
                Route("/_fake/ring", self._ring_endpoint, methods=["POST"]),
                Route("/_fake/calls", self._calls_endpoint, methods=["GET"]),
                Route(
                    "/{path:path}",
                    self._endpoint,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> FakeTelnyx:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve REST on ``host:port`` and the media relay on a free loopback port."""
        stack = contextlib.AsyncExitStack()
        try:
            self._http = await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=httpx.Timeout(self.webhook_timeout_s),
                    follow_redirects=True,  # Telnyx follows up to 3 redirects
                    max_redirects=3,
                    trust_env=False,  # a proxy from the environment must not see loopback
                    headers={"User-Agent": "telnyx-webhooks"},
                    limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
                )
            )
            self._relay = await stack.enter_async_context(
                serve(
                    self._relay_handler,
                    "127.0.0.1",
                    0,
                    compression=None,
                    max_size=MAX_STREAM_MESSAGE_BYTES,
                )
            )
            relay_port = int(next(iter(self._relay.sockets)).getsockname()[1])
            self._relay_url = f"ws://127.0.0.1:{relay_port}"
            self.port = await stack.enter_async_context(serve_app(self.app, self.host, self.port))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._log("fake Telnyx on %s (webhooks to %s)", self.base_url, self.webhook_url)

    async def stop(self) -> None:
        """Stop at once: pending webhooks are dropped (call :meth:`drain` first to keep them)."""
        self._closing = True
        for call in self.calls.values():
            for task in (call._sim, call._player, call._sender, *call._tasks):
                if task is not None:
                    task.cancel()
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        for call in self.calls.values():
            for maybe in (call._sim, call._player, call._sender):
                if maybe is not None:
                    pending.append(maybe)
        await asyncio.gather(*pending, return_exceptions=True)
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        if self._owned_tts is not None:
            tts, self._owned_tts = self._owned_tts, None
            await tts.close()

    @property
    def url(self) -> str:
        """``http://host:port`` (the fake's own ``/_fake/*`` helpers live here)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The REST base, like ``https://api.telnyx.com/v2``."""
        return f"{self.url}/v2"

    @property
    def active_calls(self) -> int:
        return self._live

    # ------------------------------------------------------------------ inspection
    def call(self, call_control_id: str) -> FakeCall:
        return self.calls[call_control_id]

    def events(self, call_control_id: str | None = None) -> list[str]:
        """Event types created so far, in order (for one call, or all)."""
        return [
            e.event_type
            for e in self.emitted
            if call_control_id is None or e.call_control_id == call_control_id
        ]

    def deliveries(
        self, event_type: str | None = None, call_control_id: str | None = None
    ) -> list[WebhookDelivery]:
        return [
            d
            for d in self.webhooks
            if (event_type is None or d.event_type == event_type)
            and (call_control_id is None or d.call_control_id == call_control_id)
        ]

    async def wait_for_event(
        self, event_type: str, call_control_id: str | None = None, *, within_s: float = 10.0
    ) -> WebhookDelivery:
        """The first delivery attempt of such an event, once it has been made."""
        deadline = time.monotonic() + within_s
        while True:
            found = self.deliveries(event_type, call_control_id)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no {event_type} delivered within {within_s} s "
                    f"(events so far: {self.events(call_control_id)})"
                )
            await asyncio.sleep(0.01)

    async def wait_ended(self, call_control_id: str, *, within_s: float = 30.0) -> FakeCall:
        """Wait until the call is over and all its webhooks have been delivered."""
        call = self.calls[call_control_id]
        deadline = time.monotonic() + within_s
        while (
            not call._hung_up.is_set()
            or call._outbox
            or (call._sender is not None and not call._sender.done())
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"call {call_control_id} still up: {call.event_types}")
            await asyncio.sleep(0.01)
        return call

    async def drain(self, *, within_s: float = 10.0) -> None:
        """Wait until every queued webhook has been delivered (or given up on)."""
        deadline = time.monotonic() + within_s
        while any(c._outbox or (c._sender and not c._sender.done()) for c in self.calls.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("webhooks still pending")
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ switches
    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next ``n`` authenticated REST requests with ``status`` (500 or 429)."""
        if status not in (429, 500, 502, 503):
            raise ValueError(f"unsupported fault status {status}")
        self._faults.extend([status] * n)

    async def send_forged(
        self, event_type: str = "call.initiated", payload: JsonObject | None = None
    ) -> int | None:
        """POST a well-formed webhook signed with the wrong key; returns our server's status."""
        return await self.post_webhook(event_type, payload, sign_with=Ed25519PrivateKey.generate())

    async def send_stale(
        self,
        event_type: str = "call.initiated",
        payload: JsonObject | None = None,
        *,
        age_s: float = 600.0,
    ) -> int | None:
        """POST a correctly signed webhook whose timestamp is ``age_s`` old (beyond 300 s)."""
        return await self.post_webhook(event_type, payload, timestamp=int(time.time() - age_s))

    async def post_webhook(
        self,
        event_type: str,
        payload: JsonObject | None = None,
        *,
        timestamp: int | None = None,
        sign_with: Ed25519PrivateKey | None = None,
        url: str | None = None,
    ) -> int | None:
        """POST one out-of-band event (a phantom incoming call by default) and return the
        status (``None`` if nobody answered); recorded in :attr:`webhooks` as well."""
        target = url or self.webhook_url
        if target is None:
            raise ValueError("no webhook_url to post to")
        if payload is None:
            payload = {
                "call_control_id": _new_call_control_id(),
                "call_leg_id": str(uuid.uuid4()),
                "call_session_id": str(uuid.uuid4()),
                "connection_id": self.connection_id or DEFAULT_CONNECTION_ID,
                "client_state": None,
                "from": "+15550000000",
                "to": "+15550001000",
                "direction": "incoming",
                "state": "parked",
                "start_time": _now_iso(),
            }
        event = EmittedEvent(
            str(uuid.uuid4()), event_type, payload.get("call_control_id"), _now_iso(), payload
        )
        return await self._attempt(event, target, 1, timestamp=timestamp, key=sign_with)

    # ------------------------------------------------------------------ calls the fake starts
    async def ring_inbound(
        self,
        from_number: str,
        to_number: str,
        *,
        callee_script: Sequence[str] | None = None,
        client_state: str | None = None,
        webhook_url: str | None = None,
    ) -> str:
        """An incoming call: ``call.initiated`` (incoming, parked), then nothing until our
        server answers (or ``inbound_ring_timeout_s`` passes). Returns the call_control_id."""
        script = callee_script if callee_script is not None else self.scripts.get(from_number)
        call = self._new_call(
            "incoming",
            from_number,
            to_number,
            connection_id=self.connection_id or DEFAULT_CONNECTION_ID,
            webhook_url=webhook_url or self.webhook_url,
            script=list(self.callee_script if script is None else script),
            client_state=client_state,
        )
        self._emit(call, "call.initiated", self._initiated_fields(call))
        self._spawn(call, self._ring_timeout(call), "ring-timeout")
        return call.call_control_id

    async def hangup(self, call_control_id: str) -> None:
        """The simulated party hangs up now (``stop`` on the stream, ``call.hangup``)."""
        call = self.calls[call_control_id]
        if not call.alive:
            return
        if call.answered:
            self._hangup(call, "normal_clearing", "callee", "16")
        elif call.direction == "incoming":
            self._hangup(call, "originator_cancel", "caller", "487")
        else:
            self._hangup(call, "call_rejected", "callee", "603")

    async def press(self, call_control_id: str, digits: str) -> None:
        """The party presses keys: one ``call.dtmf.received`` webhook per digit."""
        call = self.calls[call_control_id]
        for digit in digits:
            self._emit(
                call,
                "call.dtmf.received",
                {"digit": digit, "from": call.from_number, "to": call.to_number},
            )

    # ------------------------------------------------------------------ REST
    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        body: object = {}
        bad_json = False
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        record = RestRequest(
            request.method,
            request.url.path,
            body if isinstance(body, dict) else {},
            at=time.time(),
            raw=raw,
        )
        self.requests.append(record)
        try:
            self._authenticate(request)
            self._inject_fault()
            if bad_json or not isinstance(body, dict):
                raise ApiError(
                    400, "10015", "Bad Request", "The request body is not a JSON object."
                )
            data = self._route(request.method, request.url.path, body)
            record.status = 200
            self._log("REST %s %s -> 200", request.method, request.url.path)
            return JSONResponse({"data": data})
        except ApiError as exc:
            record.status = exc.status
            self._log("REST %s %s -> %d %s", request.method, request.url.path, exc.status, exc)
            return JSONResponse(exc.body(), exc.status, headers=exc.headers)

    def _authenticate(self, request: Request) -> None:
        expected = f"Bearer {self.api_key}".encode()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise ApiError(
                401,
                "10009",
                "Authentication failed",
                "The required authentication headers were either invalid or not included in "
                "the request.",
            )

    def _inject_fault(self) -> None:
        if not self._faults:
            return
        status = self._faults.popleft()
        if status == 429:
            raise ApiError(
                429,
                "10011",
                "Too many requests",
                "You have exceeded the maximum number of allowed requests.",
                headers={
                    "Retry-After": "1",
                    "x-ratelimit-limit": "20",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": "1",
                },
            )
        raise ApiError(status, "10007", "Unexpected error", "An unexpected error occured.")

    def _route(self, method: str, path: str, body: JsonObject) -> JsonObject:
        parts = path.strip("/").split("/")
        if parts[:2] == ["v2", "calls"]:
            if len(parts) == 2 and method == "POST":
                return self._dial(body)
            if len(parts) == 3 and method == "GET":
                return self._call_status(self._lookup(parts[2]))
            if len(parts) == 5 and parts[3] == "actions" and method == "POST":
                return self._command(parts[2], parts[4], body)
        raise ApiError(404, "10005", "Resource not found", f"No route for {method} {path}.")

    def _lookup(self, call_control_id: str) -> FakeCall:
        call = self.calls.get(call_control_id)
        if call is None:
            raise ApiError(
                422,
                "90015",
                "Invalid Call Control ID",
                "The call_control_id provided was not valid.",
                pointer="/call_control_id",
            )
        return call

    def _call_status(self, call: FakeCall) -> JsonObject:
        end = call.ended_at or time.time()
        return {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "is_alive": call.alive,
            "record_type": "call",
            "call_duration": int(end - (call.answered_at or end)),
            "client_state": call.client_state,
            "start_time": call.start_time,
        }

    def _dial(self, body: JsonObject) -> JsonObject:
        problems = _Problems()
        connection_id = body.get("connection_id")
        if not isinstance(connection_id, str) or not connection_id:
            problems.missing("connection_id")
        elif self.connection_id is not None and connection_id != self.connection_id:
            problems.add(
                "10017",
                "Associated resource does not exist",
                f"Connection {connection_id} does not exist.",
                "connection_id",
            )
        to = body.get("to")
        targets = to if isinstance(to, list) else [to]
        if to is None or to == []:
            problems.missing("to")
        elif not all(_is_number(t, sip=True) for t in targets):
            problems.add(
                "10016",
                "Phone number must be in +E.164 format",
                "The 'to' parameter must be in +E.164 format (or a SIP URI).",
                "to",
            )
        from_number = body.get("from")
        if from_number is None:
            problems.missing("from")
        elif not _is_number(from_number):
            problems.add(
                "10016",
                "Phone number must be in +E.164 format",
                "The 'from' parameter must be in +E.164 format.",
                "from",
            )
        _check_common(body, problems)
        _check_url(body, "webhook_url", ("http://", "https://"), problems)
        _check_stream(body, problems)
        _check_enum(body, "answering_machine_detection", problems)
        _int_in(body, "timeout_secs", 5, 600, problems)
        _int_in(body, "time_limit_secs", 30, 14400, problems)
        problems.raise_if_any()

        command_id = body.get("command_id")
        if isinstance(command_id, str):
            self._dial_commands = {
                k: v for k, v in self._dial_commands.items() if time.time() - v[0] < 60
            }
            if command_id in self._dial_commands:
                previous = self.calls[self._dial_commands[command_id][1]]
                return self._dial_response(previous)
        number = str(targets[0])
        script = self.scripts.get(number, self.callee_script)
        call = self._new_call(
            "outgoing",
            str(from_number),
            number,
            connection_id=str(connection_id),
            webhook_url=body.get("webhook_url") or self.webhook_url,
            script=list(script),
            client_state=body.get("client_state"),
        )
        call.options = body
        call.behaviour = self.behaviour.get(number, "answer")
        if isinstance(command_id, str):
            self._dial_commands[command_id] = (time.time(), call.call_control_id)
        self._emit(call, "call.initiated", self._initiated_fields(call))
        self._spawn(call, self._outbound_flow(call), "dial")
        return self._dial_response(call)

    @staticmethod
    def _dial_response(call: FakeCall) -> JsonObject:
        # Dialling is asynchronous: the call is not alive yet (§1.1).
        return {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "is_alive": False,
            "record_type": "call",
        }

    def _command(self, call_control_id: str, action: str, body: JsonObject) -> JsonObject:
        handler = self._actions.get(action)
        if handler is None:
            raise ApiError(404, "10005", "Resource not found", f"Unknown action '{action}'.")
        call = self._lookup(call_control_id)
        command_id = body.get("command_id")
        if isinstance(command_id, str) and command_id in call._commands:
            return {"result": "ok"}  # a repeated command is ignored, not an error
        if not call.alive:
            raise ApiError(
                422,
                "90018",
                "Call has already ended",
                "This call is no longer active and can't receive commands.",
                pointer="/call_control_id",
            )
        problems = _Problems()
        _check_common(body, problems)
        problems.raise_if_any()
        previous_state = call.client_state
        if body.get("client_state") is not None:
            call.client_state = body["client_state"]  # echoed in every later webhook
        try:
            handler(self, call, body)
        except ApiError:
            call.client_state = previous_state
            raise
        if isinstance(command_id, str):
            call._commands.add(command_id)
        call.notify()
        return {"result": "ok"}

    # --- actions (validate, then change state; all synchronous) -----------------
    @staticmethod
    def _require_answered(call: FakeCall) -> None:
        if not call.answered:
            raise ApiError(
                422,
                "90034",
                "Call has not been answered yet",
                "This command requires the call to be answered.",
                pointer="/call_control_id",
            )

    def _act_answer(self, call: FakeCall, body: JsonObject) -> None:
        if call.direction != "incoming" or call.state != "parked":
            raise ApiError(
                422,
                "10015",
                "Bad Request",
                "Only a parked incoming call can be answered."
                if not call.answered
                else "The call has already been answered.",
                pointer="/call_control_id",
            )
        problems = _Problems()
        _check_url(body, "webhook_url", ("http://", "https://"), problems)
        _check_stream(body, problems)
        problems.raise_if_any()
        if isinstance(body.get("webhook_url"), str):
            call.webhook_url = body["webhook_url"]
        call.options = body
        self._cancel_tasks(call)  # the ring timeout
        self._connect(call, body)

    def _act_hangup(self, call: FakeCall, body: JsonObject) -> None:
        if call.answered or call.direction == "incoming":
            self._hangup(call, "normal_clearing", "caller", "16")
        else:  # we gave up before the far end answered
            self._hangup(call, "originator_cancel", "caller", "487")

    def _act_reject(self, call: FakeCall, body: JsonObject) -> None:
        if call.direction != "incoming" or call.state != "parked":
            raise ApiError(
                422, "10015", "Bad Request", "Only a parked incoming call can be rejected."
            )
        busy = body.get("cause") == "USER_BUSY"
        self._hangup(
            call, "user_busy" if busy else "call_rejected", "callee", "486" if busy else "603"
        )

    def _act_speak(self, call: FakeCall, body: JsonObject) -> None:
        problems = _Problems()
        payload = body.get("payload")
        if payload is None:
            problems.missing("payload")
        elif not isinstance(payload, str) or not 1 <= len(payload) <= MAX_SPEAK_CHARS:
            problems.invalid("payload", f"payload must be 1-{MAX_SPEAK_CHARS} characters.")
        if body.get("voice") is None:
            problems.missing("voice")
        elif not isinstance(body["voice"], str):
            problems.invalid("voice", "voice must be a string.")
        if body.get("payload_type") not in (None, "text", "ssml"):
            problems.invalid("payload_type", "payload_type must be 'text' or 'ssml'.")
        if body.get("stop") not in (None, "current", "all"):
            problems.invalid("stop", "stop must be 'current' or 'all'.")
        problems.raise_if_any()
        self._require_answered(call)
        text = str(payload)
        call.spoken.append(text)
        duration = _speech_seconds(text, self.speak_rate_s_per_char, self.speak_max_s)
        self._queue_clip(call, _Clip("speak", duration, {}), body.get("stop"))

    def _act_playback_start(self, call: FakeCall, body: JsonObject) -> None:
        problems = _Problems()
        if not any(body.get(k) for k in ("audio_url", "media_name", "playback_content")):
            problems.missing("audio_url")
        _check_url(body, "audio_url", ("http://", "https://"), problems)
        loop = body.get("loop", 1)
        if loop != "infinity" and (
            isinstance(loop, bool) or not isinstance(loop, int) or not 1 <= loop <= 100
        ):
            problems.invalid("loop", "loop must be 1-100 or 'infinity'.")
        if body.get("stop") not in (None, "current", "all"):
            problems.invalid("stop", "stop must be 'current' or 'all'.")
        problems.raise_if_any()
        self._require_answered(call)
        fields = {
            "media_url": body.get("audio_url"),
            "media_name": body.get("media_name"),
            "overlay": bool(body.get("overlay", False)),
        }
        call.played.append(str(body.get("audio_url") or body.get("media_name") or "(content)"))
        if body.get("audio_url"):  # Telnyx downloads the file before it can play it
            self._spawn(call, self._fetch_media(call, str(body["audio_url"])), "fetch-media")
        duration = None if loop == "infinity" else self.playback_duration_s * int(loop)
        self._queue_clip(call, _Clip("playback", duration, fields), body.get("stop"))

    def _act_playback_stop(self, call: FakeCall, body: JsonObject) -> None:
        if body.get("stop", "all") not in ("current", "all"):
            raise ApiError(422, "10015", "Bad Request", "stop must be 'current' or 'all'.")
        self._require_answered(call)
        if body.get("stop", "all") == "all":
            call._clips = deque(c for c in call._clips if c.kind != "playback")
        if call._current is not None and call._current.kind == "playback":
            call._current.stop("cancelled")

    def _act_transcription_start(self, call: FakeCall, body: JsonObject) -> None:
        tracks = body.get("transcription_tracks")
        if tracks not in (None, "inbound", "outbound", "both"):
            raise ApiError(
                422,
                "10015",
                "Bad Request",
                "transcription_tracks must be inbound, outbound or both.",
                pointer="/transcription_tracks",
            )
        self._require_answered(call)
        if call.transcribing:
            raise ApiError(
                422,
                "90054",
                "Call Transcription is already in progress",
                "Transcription has already been started on this call.",
            )
        call.transcribing = True
        call.interim_results = _interim_requested(body)

    def _act_transcription_stop(self, call: FakeCall, body: JsonObject) -> None:
        self._require_answered(call)
        call.transcribing = False

    def _act_streaming_start(self, call: FakeCall, body: JsonObject) -> None:
        problems = _Problems()
        if not body.get("stream_url"):
            problems.missing("stream_url")
        _check_stream(body, problems)
        problems.raise_if_any()
        self._require_answered(call)
        if call.streaming:
            raise ApiError(
                422, "90045", "Media Streaming is used", "A media stream is already running."
            )
        if call._party is not None:  # the party now talks over the stream instead
            call._party.cancel()
            call._party = None
        self._start_stream(call, body)

    def _act_streaming_stop(self, call: FakeCall, body: JsonObject) -> None:
        self._require_answered(call)
        if not call.streaming:
            raise ApiError(
                422, "90048", "Media Streaming is not used", "There is no media stream to stop."
            )
        self._spawn(call, self._stop_stream(call), "streaming-stop")

    def _act_transfer(self, call: FakeCall, body: JsonObject) -> None:
        to = body.get("to")
        if to is None:
            raise ApiError(
                422,
                "10004",
                "Missing required parameter",
                "The 'to' parameter is required.",
                pointer="/to",
            )
        if not _is_number(to, sip=True):
            raise ApiError(
                422,
                "10016",
                "Phone number must be in +E.164 format",
                "The 'to' parameter must be in +E.164 format (or a SIP URI).",
                pointer="/to",
            )
        call.transferred_to = str(to)
        self._spawn(call, self._transfer_flow(call), "transfer")

    def _act_send_dtmf(self, call: FakeCall, body: JsonObject) -> None:
        digits = body.get("digits")
        if not isinstance(digits, str) or _DTMF.fullmatch(digits) is None:
            raise ApiError(
                422,
                "10015",
                "Bad Request",
                "digits must be 1-128 of 0-9 A-D * # w W.",
                pointer="/digits",
            )
        self._require_answered(call)
        call.dtmf_sent.append(digits)

    def _act_client_state_update(self, call: FakeCall, body: JsonObject) -> None:
        if body.get("client_state") is None:
            raise ApiError(
                422,
                "10004",
                "Missing required parameter",
                "The 'client_state' parameter is required.",
                pointer="/client_state",
            )

    _actions: ClassVar[dict[str, Callable[[FakeTelnyx, FakeCall, JsonObject], None]]] = {
        "answer": _act_answer,
        "hangup": _act_hangup,
        "reject": _act_reject,
        "speak": _act_speak,
        "playback_start": _act_playback_start,
        "playback_stop": _act_playback_stop,
        "transcription_start": _act_transcription_start,
        "transcription_stop": _act_transcription_stop,
        "streaming_start": _act_streaming_start,
        "streaming_stop": _act_streaming_stop,
        "transfer": _act_transfer,
        "send_dtmf": _act_send_dtmf,
        "client_state_update": _act_client_state_update,
    }

    # ------------------------------------------------------------------ call flows
    def _new_call(
        self,
        direction: Literal["incoming", "outgoing"],
        from_number: str,
        to_number: str,
        *,
        connection_id: str,
        webhook_url: str | None,
        script: list[str],
        client_state: str | None,
    ) -> FakeCall:
        call = FakeCall(
            call_control_id=_new_call_control_id(),
            call_leg_id=str(uuid.uuid4()),
            call_session_id=str(uuid.uuid4()),
            connection_id=connection_id,
            direction=direction,
            from_number=from_number,
            to_number=to_number,
            webhook_url=webhook_url,
            script=script,
            client_state=client_state,
            state="parked" if direction == "incoming" else "bridging",
        )
        self.calls[call.call_control_id] = call
        self._live += 1
        self.max_concurrent_calls = max(self.max_concurrent_calls, self._live)
        return call

    def _initiated_fields(self, call: FakeCall) -> JsonObject:
        name = call.options.get("from_display_name") or (
            "Zoë Simulated" if call.direction == "incoming" else call.from_number
        )
        return {
            "from": call.from_number,
            "to": call.to_number,
            "direction": call.direction,
            "state": call.state,
            "start_time": call.start_time,
            "caller_id_name": name,
            "custom_headers": [],
            "sip_headers": [],
            "tags": [],
        }

    async def _outbound_flow(self, call: FakeCall) -> None:
        behaviour = call.behaviour
        if behaviour == "busy":
            await asyncio.sleep(self.answer_delay_s)
            self._hangup(call, "user_busy", "callee", "486")
            return
        if behaviour == "reject":
            await asyncio.sleep(self.answer_delay_s)
            self._hangup(call, "call_rejected", "callee", "603")
            return
        if behaviour == "no_answer":
            timeout = call.options.get("timeout_secs")
            await asyncio.sleep(timeout if isinstance(timeout, int) else self.no_answer_after_s)
            # assumed: the originating side gives up (SIP CANCEL → 487)
            self._hangup(call, "timeout", "caller", "487")
            return
        await asyncio.sleep(self.answer_delay_s)
        self._connect(call, call.options)

    async def _ring_timeout(self, call: FakeCall) -> None:
        await asyncio.sleep(self.inbound_ring_timeout_s)
        self._hangup(call, "originator_cancel", "caller", "487")

    def _connect(self, call: FakeCall, params: JsonObject) -> None:
        """The call is answered: ``call.answered``, AMD, then the party starts talking."""
        call.state = "answered"
        call.answered_at = time.time()
        self._emit(
            call,
            "call.answered",
            {
                "from": call.from_number,
                "to": call.to_number,
                "state": "answered",
                "start_time": call.start_time,
                "custom_headers": [],
                "sip_headers": [],
                "tags": [],
            },
        )
        amd = params.get("answering_machine_detection")
        if call.direction == "outgoing" and amd not in (None, "disabled"):
            machine = call.behaviour == "machine"
            if amd == "premium":
                result = "machine" if machine else "human_residence"
                self._emit(call, "call.machine.premium.detection.ended", {"result": result})
            else:
                self._emit(
                    call,
                    "call.machine.detection.ended",
                    {
                        "result": "machine" if machine else "human",
                        "from": call.from_number,
                        "to": call.to_number,
                    },
                )
        if params.get("transcription") is True:
            call.transcribing = True
            config = params.get("transcription_config")
            call.interim_results = isinstance(config, dict) and _interim_requested(config)
        limit = params.get("time_limit_secs")
        self._spawn(
            call,
            self._time_limit(call, limit if isinstance(limit, int) else self.max_call_s),
            "time-limit",
        )
        if params.get("stream_url"):
            self._start_stream(call, params)
        else:
            self._start_party(call)
        call.notify()

    async def _time_limit(self, call: FakeCall, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._hangup(call, "time_limit", "unknown", "unspecified")

    def _hangup(self, call: FakeCall, cause: str, source: str, sip: str) -> None:
        """End the call now for every later command; the webhooks follow from a task."""
        if not call.alive or self._closing:
            return
        call.state = "hangup"
        call.ended_at = time.time()
        call.hangup_cause, call.hangup_source, call.sip_hangup_cause = cause, source, sip
        self._live -= 1
        if call._current is not None:
            call._current.stop("call_hangup")
        call._clips.clear()
        self._cancel_tasks(call)
        call.notify()
        task = asyncio.create_task(self._finish_hangup(call), name="fake-telnyx-hangup")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._log("call %s: hangup %s (%s)", call.call_control_id[:12], cause, source)

    async def _finish_hangup(self, call: FakeCall) -> None:
        """Close the stream and the audio first, so ``call.hangup`` is the call's last event."""
        try:
            if call._line is not None:
                await call._line.close("hangup")
            if call._player is not None:
                await asyncio.gather(call._player, return_exceptions=True)
            if call._sim is not None and not call._sim.done():
                # The party is still getting ready (rendering its script): it never connected.
                _, pending = await asyncio.wait({call._sim}, timeout=1.0)
                for task in pending:
                    task.cancel()
            self._emit(
                call,
                "call.hangup",
                {
                    "from": call.from_number,
                    "to": call.to_number,
                    "hangup_cause": call.hangup_cause,
                    "hangup_source": call.hangup_source,
                    "sip_hangup_cause": call.sip_hangup_cause,
                    "state": "hangup",
                    "start_time": call.start_time,
                    "call_quality_stats": None,
                },
            )
        finally:
            call._hung_up.set()

    async def _transfer_flow(self, call: FakeCall) -> None:
        # assumed: the transferred leg leaves our agent; it ends when the new party is done.
        if call._line is not None:
            await call._line.close("transfer")
        await asyncio.sleep(self.transfer_after_s)
        self._hangup(call, "normal_clearing", "callee", "16")

    # --- the agent's audio (webhook mode: speak / playback) ---------------------
    def _queue_clip(self, call: FakeCall, clip: _Clip, stop: object) -> None:
        if stop == "all":
            call._clips.clear()
        if stop in ("current", "all") and call._current is not None:
            call._current.stop("cancelled")  # assumed status for a speak cut short
        call._clips.append(clip)
        if call._player is None or call._player.done():
            call._player = asyncio.create_task(self._play(call), name="fake-telnyx-player")

    async def _play(self, call: FakeCall) -> None:
        while call._clips and call.alive:
            clip = call._current = call._clips.popleft()
            call.notify()
            self._emit(call, f"call.{clip.kind}.started", clip.fields)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clip.stopped.wait(), clip.duration)
            call._current = None
            fields = {**clip.fields, "status": clip.status}
            if clip.kind == "playback":
                fields["status_detail"] = None
            self._emit(call, f"call.{clip.kind}.ended", fields)
            call.agent_turns += 1
            call.notify()

    # --- the party in webhook mode (transcripts) --------------------------------
    def _start_party(self, call: FakeCall) -> None:
        if call._party is None or call._party.done():
            call._party = self._spawn(call, self._party_by_webhooks(call), "party")

    async def _party_by_webhooks(self, call: FakeCall) -> None:
        """The party answers each prompt: once the agent has spoken and gone quiet, it says
        its next line (as ``call.transcription``); after the script, it hangs up."""
        heard = 0
        index = 0
        while call.alive:
            finished = index >= len(call.script)
            replied = await call.wait_until(
                functools.partial(self._turn_over, call, heard), self.callee_reply_timeout_s
            )
            if not call.alive:
                return
            if not replied:
                if not (call.transcribing and call.agent_idle):
                    continue
                call.reply_timeouts += 1  # the agent said nothing: speak up anyway
            await asyncio.sleep(self.callee_hangup_after_s if finished else self.callee_pause_s)
            if not call.alive:
                return
            if not call.agent_idle:
                continue  # the agent started talking again; wait for it to finish
            if finished:
                self._hangup(call, "normal_clearing", "callee", "16")
                return
            if not call.transcribing:
                continue
            heard = call.agent_turns
            text = call.script[index]
            index += 1
            await self._say(call, text)

    @staticmethod
    def _turn_over(call: FakeCall, heard: int) -> bool:
        """The agent has said something new and gone quiet (or the call is over)."""
        if not call.alive:
            return True
        return call.transcribing and call.agent_idle and call.agent_turns > heard

    async def _say(self, call: FakeCall, text: str) -> None:
        words = text.split()
        if call.interim_results and len(words) > 1:
            self._transcript(call, " ".join(words[: len(words) // 2]), final=False)
            await asyncio.sleep(min(0.1, self.callee_pause_s))
            if not call.alive:
                return
        self._transcript(call, text, final=True)
        call.said.append(text)

    def _transcript(self, call: FakeCall, text: str, *, final: bool) -> None:
        self._emit(
            call,
            "call.transcription",
            {
                "transcription_data": {
                    "transcript": text,
                    "is_final": final,
                    "confidence": 0.95 if final else 0.8,
                    "transcription_track": "inbound",
                }
            },
        )

    # --- the party over a media stream ------------------------------------------
    def _start_stream(self, call: FakeCall, params: JsonObject) -> None:
        call.stream = {k: params[k] for k in STREAM_KEYS if k in params}
        call.streaming = True
        token = secrets.token_urlsafe(16)
        self._pending_lines[token] = call
        call._sim = asyncio.create_task(self._run_party(call, token), name="fake-telnyx-party")

    def _encoding(self, call: FakeCall) -> str:
        """What the party sends and expects: G.711 only (the simulator's codecs)."""
        stream = call.stream or {}
        for key in ("stream_codec", "stream_bidirectional_codec"):
            if stream.get(key) in ("PCMU", "PCMA"):
                return str(stream[key])
        return "PCMU"

    async def _voice(self) -> SpeechRenderer:
        if self._tts is not None:
            return self._tts
        async with self._tts_lock:
            if self._tts is None:
                from voxagent.providers.tts.piper import PiperVoiceSynthesizer

                self._owned_tts = await asyncio.to_thread(PiperVoiceSynthesizer)
                self._tts = self._owned_tts
        assert self._tts is not None
        return self._tts

    async def _run_party(self, call: FakeCall, token: str) -> None:
        stream = call.stream or {}
        failure = "the simulated party could not start"
        try:
            tts = await self._voice()
            options: JsonObject = {"hangup_after_s": self.callee_hangup_after_s}
            options.update(self.callee_options)
            if self.verbose:
                short = call.call_control_id[:12]
                options.setdefault("on_event", lambda line: log.info("call %s: %s", short, line))
            call.simulation = await simulate_call(
                f"{self._relay_url}/{token}",
                list(call.script),
                encoding=self._encoding(call),
                auth_token=stream.get("stream_auth_token"),
                tts=tts,
                transcribe=self.transcribe,
                call_control_id=call.call_control_id,
                client_state=call.client_state,
                **options,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            call.stream_error = call.stream_error or failure
            log.debug("call %s: simulated party: %s", call.call_control_id, failure)
        finally:
            if self._pending_lines.pop(token, None) is not None and call.alive:
                self._stream_failed(call, failure)

    def _stream_failed(self, call: FakeCall, reason: str) -> None:
        stream = call.stream or {}
        call.streaming = False
        call.stream_error = reason
        self._emit(
            call,
            "streaming.failed",
            {
                "failure_reason": reason,
                "stream_id": str(uuid.uuid4()),
                "stream_type": "websocket",
                "stream_params": {
                    "stream_url": stream.get("stream_url"),
                    "track": stream.get("stream_track", "inbound_track"),
                },
            },
        )
        call.notify()
        if call.alive:
            self._start_party(call)  # the agent may carry on in webhook mode

    async def _relay_handler(self, downstream: ServerConnection) -> None:
        token = downstream.request.path.lstrip("/") if downstream.request else ""
        call = self._pending_lines.pop(token, None)
        if call is None or not call.alive or self._closing:
            await downstream.close(1008 if call is None else 1000)
            return
        stream = call.stream or {}
        url = str(stream.get("stream_url"))
        token_value = stream.get("stream_auth_token")
        headers = {"x-telnyx-streaming-auth-token": token_value} if token_value else None
        try:
            upstream = await connect(
                url,
                additional_headers=headers,
                compression=None,
                max_size=MAX_STREAM_MESSAGE_BYTES,
                open_timeout=5,
                user_agent_header=None,
            )
        except Exception as exc:
            if call.alive:
                self._stream_failed(call, f"{type(exc).__name__}: {exc}")
            await downstream.close(1011, "stream failed")
            return
        if not call.alive:  # hung up while we were connecting
            await upstream.close(1000)
            await downstream.close(1000)
            return
        line = _MediaLine(call, downstream, upstream)
        call._line = line
        self._emit(call, "streaming.started", {"stream_url": url})
        try:
            await line.run()
        finally:
            call._line = None
            call.streaming = False
            self._emit(call, "streaming.stopped", {"stream_url": url})
            line.done.set()
            call.notify()
        if call.alive:
            if line.ended_by == "callee":
                self._hangup(call, "normal_clearing", "callee", "16")
            elif line.ended_by in ("agent", "streaming_stop"):
                self._spawn(call, self._after_stream(call), "after-stream")

    async def _stop_stream(self, call: FakeCall) -> None:
        if call._line is not None:
            await call._line.close("streaming_stop")
            return
        for token, pending in list(self._pending_lines.items()):
            if pending is call:  # the party had not connected yet: it never will
                del self._pending_lines[token]
        if call._sim is not None:
            call._sim.cancel()
        call.streaming = False
        call.notify()
        self._spawn(call, self._after_stream(call), "after-stream")

    async def _after_stream(self, call: FakeCall) -> None:
        """Our side ended the stream but not the call: the party hears silence. It stays
        on if the agent goes on in webhook mode, else hangs up after a while."""
        await call.wait_until(lambda: not call.alive or call.streaming, self.callee_hangup_after_s)
        if not call.alive or call.streaming:
            return
        if call.transcribing:
            self._start_party(call)
        else:
            self._hangup(call, "normal_clearing", "callee", "16")

    # ------------------------------------------------------------------ webhooks
    def _emit(self, call: FakeCall, event_type: str, fields: JsonObject) -> None:
        if self._closing:
            return
        payload: JsonObject = {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "connection_id": call.connection_id,
            "client_state": call.client_state,
        }
        payload.update(fields)
        event = EmittedEvent(
            str(uuid.uuid4()), event_type, call.call_control_id, _now_iso(), payload
        )
        call.events.append(event)
        self.emitted.append(event)
        self._log("call %s: %s", call.call_control_id[:12], event_type)
        if call.webhook_url is None:
            return
        call._outbox.append(event)
        if call._sender is None or call._sender.done():
            call._sender = asyncio.create_task(self._send(call), name="fake-telnyx-webhooks")

    async def _send(self, call: FakeCall) -> None:
        """One sender per call: events reach our server in the order they happened."""
        while call._outbox:
            event = call._outbox.popleft()
            url = call.webhook_url
            if url is None:
                continue
            for attempt in range(1, self.webhook_attempts + 1):
                status = await self._attempt(event, url, attempt)
                if status is not None and 200 <= status < 300:
                    break
                if attempt < self.webhook_attempts:
                    await asyncio.sleep(self.webhook_retry_delay_s * attempt)

    async def _attempt(
        self,
        event: EmittedEvent,
        url: str,
        attempt: int,
        *,
        timestamp: int | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> int | None:
        envelope: JsonObject = {
            "data": {
                "event_type": event.event_type,
                "id": event.id,
                "occurred_at": event.occurred_at,
                "payload": event.payload,
                "record_type": "event",
            },
            "meta": {"attempt": attempt, "delivered_to": url},
        }
        body = _dumps(envelope)
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "telnyx-webhooks",
            SIGNATURE_HEADER: sign_webhook(key or self._key, ts, body),
            TIMESTAMP_HEADER: str(ts),
        }
        status = await self._post(event, url, attempt, body, headers, envelope, duplicate=False)
        if self.duplicate_deliveries and status is not None and 200 <= status < 300:
            await self._post(event, url, attempt, body, headers, envelope, duplicate=True)
        return status

    async def _post(
        self,
        event: EmittedEvent,
        url: str,
        attempt: int,
        body: bytes,
        headers: Mapping[str, str],
        envelope: JsonObject,
        *,
        duplicate: bool,
    ) -> int | None:
        http = self._http
        if http is None:
            raise RuntimeError("FakeTelnyx is not started")
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = await http.post(url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.webhooks.append(
            WebhookDelivery(
                event_id=event.id,
                event_type=event.event_type,
                call_control_id=event.call_control_id,
                url=url,
                attempt=attempt,
                status=status,
                error=error,
                body=envelope,
                elapsed_ms=(time.monotonic() - started) * 1000,
                duplicate=duplicate,
            )
        )
        if status is None or status >= 300:
            self._log("webhook %s attempt %d -> %s", event.event_type, attempt, status or error)
        return status

    async def _fetch_media(self, call: FakeCall, url: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(url)
            call.fetched.append(
                (
                    url,
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                )
            )
        except httpx.HTTPError as exc:
            self._log("could not fetch %s: %r", url, exc)
            call.fetched.append((url, 0, "", b""))

    # ------------------------------------------------------------------ plumbing
    def _spawn(
        self, call: FakeCall, coro: Coroutine[Any, Any, None], name: str
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"fake-telnyx-{name}")
        call._tasks.add(task)
        task.add_done_callback(call._tasks.discard)
        return task

    @staticmethod
    def _cancel_tasks(call: FakeCall) -> None:
        """Cancel the call's timers and party loop (never the task doing the cancelling)."""
        current = asyncio.current_task()
        for task in list(call._tasks):
            if task is not current:
                task.cancel()

    def _log(self, message: str, *args: object) -> None:
        log.log(logging.INFO if self.verbose else logging.DEBUG, message, *args)

    # --- local helpers for the CLI (not Telnyx endpoints) -------------------------
    async def _ring_endpoint(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not _is_number(body.get("from")):
            return JSONResponse({"error": "need {'from': '+E164', 'to': '+E164'}"}, 400)
        script = body.get("script")
        call_control_id = await self.ring_inbound(
            str(body["from"]),
            str(body.get("to") or "+15550001000"),
            callee_script=[str(s) for s in script] if isinstance(script, list) else None,
        )
        return JSONResponse({"call_control_id": call_control_id})

    async def _calls_endpoint(self, request: Request) -> Response:
        return JSONResponse({"calls": [c.summary() for c in self.calls.values()]})


# --------------------------------------------------------------------------- CLI


def run_fake_telnyx(
    host: str = "127.0.0.1",
    port: int = 3100,
    webhook_url: str = "http://127.0.0.1:3000/webhook/telnyx",
    api_key: str = "KEY_TEST",
    script: Sequence[str] | None = None,
) -> None:
    """Run a fake Telnyx until interrupted (``voxagent fake-telnyx``)."""

    async def main() -> None:
        async with FakeTelnyx(
            webhook_url=webhook_url,
            api_key=api_key,
            callee_script=script,
            host=host,
            port=port,
            verbose=True,
        ) as fake:
            print(f"fake Telnyx Call Control on {fake.base_url}", flush=True)
            print(f"  TELNYX_BASE_URL={fake.base_url}", flush=True)
            print(f"  TELNYX_API_KEY={api_key}", flush=True)
            print(f"  TELNYX_PUBLIC_KEY={fake.public_key_b64}", flush=True)
            print(f"webhooks go to {webhook_url}", flush=True)
            ring = '{"from":"+15557654321","to":"+15550001000"}'
            print(
                f"ring an inbound call: curl -X POST {fake.url}/_fake/ring "
                f"-H 'content-type: application/json' -d '{ring}'",
                flush=True,
            )
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
