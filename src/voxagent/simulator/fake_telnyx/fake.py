"""The fake Telnyx itself: its settings, start and stop, inspection helpers, and the CLI."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.asyncio.server import Server, serve

from voxagent.channels.telnyx.signatures import generate_keypair
from voxagent.simulator.caller import DEFAULT_SCRIPT, SpeechRenderer
from voxagent.simulator.fake_telnyx.call import FakeCall
from voxagent.simulator.fake_telnyx.callee import WebhookParty
from voxagent.simulator.fake_telnyx.flows import CallFlows
from voxagent.simulator.fake_telnyx.media import MAX_STREAM_MESSAGE_BYTES, MediaStreams
from voxagent.simulator.fake_telnyx.playback import AgentAudio
from voxagent.simulator.fake_telnyx.records import EmittedEvent, RestRequest, WebhookDelivery
from voxagent.simulator.fake_telnyx.rest import RestApi
from voxagent.simulator.fake_telnyx.server import serve_app
from voxagent.simulator.fake_telnyx.validation import _is_number
from voxagent.simulator.fake_telnyx.webhooks import WebhookSender

__all__ = ["FakeTelnyx", "run_fake_telnyx"]


def _public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


class FakeTelnyx(RestApi, CallFlows, MediaStreams, WebhookParty, AgentAudio, WebhookSender):
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

        if private_key is None:
            private_key, self.public_key_b64 = generate_keypair()
        else:
            self.public_key_b64 = _public_key_b64(private_key)
        self._key = private_key
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
