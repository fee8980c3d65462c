"""The ``/sandra`` namespace: connections in, events dispatched, conversations run.

Every event goes through :func:`~voxagent.channels.browser.protocol.parse_client_event`: an
unknown or malformed one is answered with an ``error`` event and the session lives on, and no
handler ever sees an unchecked payload. Each connection has one writer (:class:`Emitter`) and
feeds its microphone audio through one reassembler, so audio keeps its order both ways.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, assert_never

import socketio

from voxagent.calls.info import CallInfo, ChannelKind
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.channels.browser import protocol as proto
from voxagent.channels.browser.audio_in import AudioReassembler, TooFast
from voxagent.channels.browser.auth import TokenError, TokenIssuer, UserClaims
from voxagent.channels.browser.channel import BrowserChannel
from voxagent.channels.browser.emitter import Emitter
from voxagent.channels.browser.metrics import STAGES, BrowserMetrics
from voxagent.channels.browser.session import BrowserSession, Resumable, room_for
from voxagent.channels.browser.shared_resume import SharedResume
from voxagent.conversation.timeline import TurnTimeline
from voxagent.security.rate_limit import RateLimiter

__all__ = ["SandraNamespace"]

log = logging.getLogger(__name__)

LATENCY_REPORTS_PER_MINUTE = 100
MAX_RESUMABLE = 10_000

Signaler = Callable[[UserClaims, str, dict[str, Any]], Awaitable[tuple[str, Any]]]
"""``(user, kind, payload) → (reply event, reply)``: the WebRTC service's answer to a
signaling event; it raises :class:`~voxagent.channels.browser.protocol.ProtocolError`."""


@dataclass
class _Connection:
    sid: str
    user: UserClaims
    emitter: Emitter
    audio: AudioReassembler = field(default_factory=lambda: AudioReassembler(proto.SAMPLE_RATE * 2))
    session: BrowserSession | None = None


class SandraNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self,
        calls: CallLifecycle,
        issuer: TokenIssuer,
        *,
        default_persona: str,
        default_language: str,
        echo_margin_db: float | None,
        session_ttl_s: float,
    ) -> None:
        super().__init__(proto.NAMESPACE)
        self.calls = calls
        self.issuer = issuer
        self.default_persona = default_persona
        self.default_language = default_language
        self.echo_margin_db = echo_margin_db
        self.session_ttl_s = session_ttl_s
        self.metrics = BrowserMetrics()
        self.connections: dict[str, _Connection] = {}
        self.live: dict[str, BrowserSession] = {}
        self.resumable: OrderedDict[str, Resumable] = OrderedDict()
        self._latency_limit = RateLimiter(LATENCY_REPORTS_PER_MINUTE, 60.0)
        self.signaler: Signaler | None = None
        """Set by the WebRTC service; without it, signaling events are refused."""
        self.on_session_closed: list[Callable[[BrowserSession], Awaitable[None]]] = []
        self.shared_resume: SharedResume | None = None
        """Set with several instances: sessions resumable on any of them."""

    # ------------------------------------------------------------ connections
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if self.calls.draining:  # the page's backoff finds another instance
            self.metrics.rejected["draining"] += 1
            raise socketio.exceptions.ConnectionRefusedError("server draining")
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            user = self.issuer.verify(token)
        except TokenError as exc:
            self.metrics.rejected["auth"] += 1
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        emitter = Emitter(self._send, sid, on_sent=self._sent)
        self.connections[sid] = _Connection(sid, user, emitter)
        await self.enter_room(sid, room_for(user.user_id))
        log.info("browser connection %s for user %s", sid, user.user_id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        connection = self.connections.pop(sid, None)
        if connection is None:
            return
        if connection.session is not None:
            await self._close(connection.session, "client_disconnected", keep=True)
        await connection.emitter.close()

    async def _send(self, event: str, data: Any, to: str, sid: str) -> None:
        """To the connection itself, directly (audio never goes through a shared manager's
        queue); to its user's room, the connection first, directly, then the user's other
        tabs, wherever they are connected (through the manager: Redis with several
        instances), so a page hears its own session even while Redis is away."""
        await self.emit(event, data, to=sid, ignore_queue=True)
        if to != sid:
            await self.emit(event, data, to=to, skip_sid=sid)

    def _sent(self, event: str) -> None:
        self.metrics.events_out[event] += 1

    # ----------------------------------------------------------------- events
    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        sid = args[0] if args else ""
        connection = self.connections.get(sid)
        if connection is None:
            return None
        self.metrics.events_in[event] += 1
        try:
            parsed = proto.parse_client_event(event, args[1] if len(args) > 1 else None)
            await self._handle(connection, parsed)
        except proto.ProtocolError as exc:
            self.metrics.rejected[exc.code] += 1
            connection.emitter.emit("error", {"code": exc.code, "message": exc.message})
        except Exception:
            log.exception("browser event %s failed", event)
            connection.emitter.emit("error", {"code": "bad_event", "message": "internal error"})
        return None

    async def _handle(self, connection: _Connection, event: proto.ClientEvent) -> None:
        match event:
            case proto.AudioChunk():
                self._audio(connection, event)
            case proto.PlaybackReport():
                if connection.session is not None:
                    connection.session.channel.playback(event.chunk)
            case proto.Start():
                await self._start(connection, event)
            case proto.Resume():
                await self._resume(connection, event)
            case proto.End():
                session = self._session(connection)
                await self._close(session, "client_ended", keep=False)
            case proto.BargeIn():
                session = self._session(connection)
                self.metrics.barge_ins += 1
                if session.call is not None and not await session.call.interrupt("page"):
                    connection.emitter.emit(
                        "barge_in_ack", {"turn": None, "heard": "", "reason": "page"}
                    )
            case proto.TypedText():
                session = self._session(connection)
                if session.call is not None:
                    session.call.hear_text(event.text)
            case proto.Ping():
                connection.emitter.emit("pong", {"t": event.t, "server_t": time.time()})
            case proto.LatencyReport():
                self._latency(connection, event)
            case proto.Signaling():
                if self.signaler is None:
                    raise proto.ProtocolError("unavailable", "WebRTC is not enabled here")
                reply, data = await self.signaler(connection.user, event.kind, event.payload)
                connection.emitter.emit(reply, data)
            case _:
                assert_never(event)

    async def dispatch(self, session_id: str, event: str, data: Any) -> None:
        """An event from another transport of a live session (the WebRTC data channel):
        handled exactly as if it came over the session's own Socket.IO connection."""
        session = self.live.get(session_id)
        connection = self.connections.get(session.emitter.sid) if session is not None else None
        if connection is None:
            return
        await self.trigger_event(event, connection.sid, data)

    def _session(self, connection: _Connection) -> BrowserSession:
        if connection.session is None or connection.session.ended:
            raise proto.ProtocolError("no_session", "start a session first")
        return connection.session

    def _audio(self, connection: _Connection, chunk: proto.AudioChunk) -> None:
        session = self._session(connection)
        try:
            ready = connection.audio.push(chunk.seq, chunk.pcm, time.monotonic())
        except TooFast as exc:
            raise proto.ProtocolError("too_fast", str(exc)) from None
        self.metrics.audio_in_s += len(chunk.pcm) / (proto.SAMPLE_RATE * 2)
        if session.call is None:
            return
        for pcm in ready:
            session.call.push_audio(pcm)

    def _latency(self, connection: _Connection, report: proto.LatencyReport) -> None:
        key = connection.session.session_id if connection.session else connection.sid
        if self._latency_limit.check(key) is not None:
            raise proto.ProtocolError(
                "rate_limited", f"at most {LATENCY_REPORTS_PER_MINUTE} latency reports a minute"
            )
        self.metrics.client_latency[report.name] += 1

    # -------------------------------------------------------- conversations
    async def _start(self, connection: _Connection, start: proto.Start) -> None:
        if connection.session is not None and not connection.session.ended:
            raise proto.ProtocolError("busy", "a session is already running: end it first")
        user = connection.user
        persona = start.persona or user.persona or self.default_persona
        language = start.language or user.language or self.default_language
        try:
            self.calls.factory.persona(persona)
        except Exception:
            raise proto.ProtocolError("bad_payload", f"unknown persona {persona!r}") from None
        call_id = f"web-{uuid.uuid4().hex}"
        connection.emitter.hold()
        try:
            await self._open(connection, call_id, persona, language, history=())
        finally:
            session_id = connection.session.session_id if connection.session else ""
            connection.emitter.release(
                (
                    "session_started",
                    {
                        "session_id": session_id,
                        "persona": persona,
                        "language": language,
                        "sample_rate": proto.SAMPLE_RATE,
                    },
                )
            )

    async def _resume(self, connection: _Connection, resume: proto.Resume) -> None:
        if connection.session is not None and not connection.session.ended:
            raise proto.ProtocolError("busy", "a session is already running on this connection")
        self._forget_expired()
        live = self.live.get(resume.session_id)
        if live is not None and live.user_id == connection.user.user_id:
            # The page is back before its old connection was seen to drop: take it over.
            await self._close(live, "resumed_elsewhere", keep=True)
        saved = self.resumable.get(resume.session_id)
        if saved is None and live is None and self.shared_resume is not None:
            saved = await self.shared_resume.find(resume.session_id)  # another instance's
            if saved is not None:
                self.resumable[saved.session_id] = saved
        if saved is None or saved.user_id != connection.user.user_id:
            raise proto.ProtocolError(
                "unknown_session", "that session cannot be resumed (expired, or unknown here)"
            )
        del self.resumable[saved.session_id]
        connection.emitter.hold()
        try:
            await self._open(
                connection,
                saved.call_id,
                saved.persona,
                saved.language,
                history=saved.history,
                session_id=saved.session_id,
            )
        finally:
            connection.emitter.release(
                (
                    "session_resumed",
                    {
                        "session_id": saved.session_id,
                        "persona": saved.persona,
                        "language": saved.language,
                        "history": [
                            {"role": m.role, "text": m.text, "interrupted": m.interrupted}
                            for m in saved.history
                        ],
                    },
                )
            )

    async def _open(
        self,
        connection: _Connection,
        call_id: str,
        persona: str,
        language: str,
        *,
        history: tuple[Any, ...],
        session_id: str | None = None,
    ) -> None:
        user = connection.user
        info = CallInfo(
            call_id=call_id,
            channel=ChannelKind.BROWSER,
            direction="inbound",
            caller=user.user_id,
            persona=persona,
            language=language,
            session_id=session_id,
        )
        session = BrowserSession(
            session_id=session_id or "",
            user_id=user.user_id,
            persona=persona,
            language=language,
            emitter=connection.emitter,
            channel=BrowserChannel(
                connection.emitter,
                echo_margin_db=self.echo_margin_db,
                on_hangup=lambda reason: self._hung_up(session, reason),
            ),
            on_turn=self._turn,
        )
        connection.audio.restart()
        connection.session = session
        call = await self.calls.open(info, session.channel, observer=session, history=history)
        session.call = call
        session.session_id = call.info.session_id or call_id
        session.channel.mark_played = call.mark_played
        self.live[session.session_id] = session
        if self.shared_resume is not None:
            await self.shared_resume.opened(
                session.session_id, call_id, user.user_id, persona, language
            )

    async def _hung_up(self, session: BrowserSession, reason: str) -> None:
        """The agent ended the conversation (goodbye, transfer, no input, shutdown)."""
        asyncio.get_running_loop().create_task(self._close(session, reason, keep=False))

    async def _close(self, session: BrowserSession, reason: str, *, keep: bool) -> None:
        """End the conversation: the record completes; ``keep`` lets a reconnect resume it.

        The session leaves ``live`` (and, when kept, is resumable) before anything is awaited,
        so a page that is back before its old connection was seen to drop finds it."""
        if session.ended:
            return
        session.ended = True
        self.live.pop(session.session_id, None)
        if keep:
            self.resumable[session.session_id] = session.resumable(self.session_ttl_s)
            while len(self.resumable) > MAX_RESUMABLE:
                self.resumable.popitem(last=False)
        call = session.call
        if call is not None:
            if not call.ended:
                await call.end(reason)
            await call.wait()
            await self.calls.close(call)
        for hook in self.on_session_closed:
            await hook(session)
        session.emitter.emit("session_ended", {"reason": call.outcome if call else reason})
        self.metrics.audio_out_s += session.channel.chunks_sent * 0.04

    def _turn(self, turn: TurnTimeline) -> None:
        if turn.first_audio_sent is not None:
            latencies = turn.latencies()
            self.metrics.turn({stage: latencies.get(stage) for stage in STAGES})

    def _forget_expired(self) -> None:
        now = time.time()
        for session_id in [k for k, r in self.resumable.items() if r.expires_at < now]:
            del self.resumable[session_id]

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, object]:
        return {
            "status": "draining" if self.calls.draining else "ok",
            "connected_sockets": len(self.connections),
            "sessions": {"live": len(self.live), "resumable": len(self.resumable)},
        }

    async def shutdown(self) -> None:
        for session in list(self.live.values()):
            await self._close(session, "server_shutdown", keep=True)

    async def send_elsewhere(self) -> None:
        """This instance is draining and others are alive: every session is kept resumable
        (``session_ended``, reason ``server_shutdown``) and every socket closed, so each page
        reconnects through the balancer to another instance and resumes there."""
        await self.shutdown()
        for sid, connection in list(self.connections.items()):
            await connection.emitter.close()  # session_ended reaches the page first
            await self.disconnect(sid)
