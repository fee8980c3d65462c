"""WebRTC for browser sessions: peers made from signaling, tied to the session they belong to.

A browser session always starts on Socket.IO (the event channel). The page then offers a peer
connection for that session; once it connects, the agent's audio leaves on the peer's track
and the microphone arrives on it (echo-cancelled by the browser), and the ``events`` data
channel carries the same events as Socket.IO. If the peer closes (ICE failed, never connected,
killed), audio falls back to Socket.IO at once and the page may build a new peer (``restart``):
the conversation never notices.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voxagent.channels.browser import protocol as proto
from voxagent.channels.browser.auth import UserClaims
from voxagent.channels.browser.namespace import SandraNamespace
from voxagent.channels.browser.session import BrowserSession
from voxagent.channels.webrtc.ice_servers import IcePlan
from voxagent.channels.webrtc.peer import Peer
from voxagent.channels.webrtc.signaling import (
    AnswerRequest,
    IceRequest,
    OfferRequest,
    SignalingError,
)
from voxagent.settings import Settings

__all__ = ["NetworkReport", "WebRTCService"]

log = logging.getLogger(__name__)

DATA_CHANNEL_EVENTS = frozenset({"barge_in", "playback", "latency", "ping", "text", "jitter"})
"""What a page may send on the data channel (the rest stays on Socket.IO)."""


class NetworkReport(BaseModel):
    """The console's pre-call check."""

    model_config = ConfigDict(extra="ignore")

    stun_ok: bool = False
    rtt_ms: float | None = Field(None, ge=0, le=60_000)
    candidate_types: list[str] = Field(default_factory=list, max_length=16)


class WebRTCService:
    def __init__(self, settings: Settings, namespace: SandraNamespace) -> None:
        self.namespace = namespace
        self.plan = IcePlan.from_settings(
            stun_servers=settings.stun_servers,
            turn_url=settings.turn_url,
            turn_username=settings.turn_username,
            turn_password=settings.turn_password,
            turn_secret=settings.turn_secret,
            turn_ttl_s=settings.turn_ttl_seconds,
        )
        self.max_peers = settings.webrtc_max_peers
        self.connect_timeout_s = settings.webrtc_connect_timeout_s
        self.grace_s = settings.webrtc_disconnect_grace_s
        self.peers: dict[str, Peer] = {}
        self.by_session: dict[str, str] = {}
        self.counters: Counter[str] = Counter()
        self.connect_times: list[float] = []
        namespace.signaler = self.signal
        namespace.on_session_closed.append(self._session_closed)

    # ----------------------------------------------------------------- doors
    def config(self, user: UserClaims) -> dict[str, object]:
        servers = self.plan.for_browser(user.user_id, now=time.time())
        return {
            "iceServers": [s.as_browser() for s in servers],
            "connect_timeout_s": self.connect_timeout_s,
        }

    async def offer(self, user: UserClaims, request: OfferRequest) -> dict[str, str]:
        session = self._session(user, request.session_id)
        self.counters["offers"] += 1
        if request.restart or request.pc_id is not None:
            old = self.peers.get(request.pc_id or "")
            if request.pc_id is not None and old is None and not request.restart:
                raise SignalingError(404, "unknown_session", f"no peer {request.pc_id}")
            if old is not None:
                self._owned(user, old)
                self.counters["restarts"] += 1
                await old.close("restarted")
        current = self.by_session.get(session.session_id)
        if current is not None and current in self.peers:
            await self.peers[current].close("replaced")
        if len(self.peers) >= self.max_peers:
            self.counters["refused_full"] += 1
            raise SignalingError(
                503, "unavailable", f"this server holds {self.max_peers} peers (WEBRTC_MAX_PEERS)"
            )
        peer = Peer(
            session_id=session.session_id,
            user_id=user.user_id,
            ice_servers=self.plan.for_server(user.user_id, now=time.time()),
            connect_timeout_s=self.connect_timeout_s,
            grace_s=self.grace_s,
            on_audio=lambda pcm: self._audio(peer, pcm),
            on_message=self._message,
            on_connected=self._connected,
            on_closed=self._closed,
        )
        self.peers[peer.pc_id] = peer
        self.by_session[session.session_id] = peer.pc_id
        try:
            if request.sdp is None:
                return {"sdp": await peer.offer(), "type": "offer", "pc_id": peer.pc_id}
            return {"sdp": await peer.answer(request.sdp), "type": "answer", "pc_id": peer.pc_id}
        except Exception as exc:
            await peer.close("bad_sdp")
            raise SignalingError(400, "bad_payload", f"the SDP was refused: {exc}") from None

    async def answer(self, user: UserClaims, request: AnswerRequest) -> dict[str, str]:
        peer = self._peer(user, request.pc_id)
        try:
            await peer.accept_answer(request.sdp)
        except Exception as exc:
            raise SignalingError(400, "bad_payload", f"the answer was refused: {exc}") from None
        return {"pc_id": peer.pc_id, "status": "ok"}

    async def ice(self, user: UserClaims, request: IceRequest) -> dict[str, object]:
        peer = self._peer(user, request.pc_id)
        try:
            added = await peer.add_candidates(request.all())
        except Exception as exc:
            raise SignalingError(400, "bad_payload", f"a candidate was refused: {exc}") from None
        return {"pc_id": peer.pc_id, "added": added}

    def network_report(self, user: UserClaims, report: NetworkReport) -> dict[str, object]:
        types = {t.lower() for t in report.candidate_types}
        self.counters["network_checks"] += 1
        self.counters["network_stun_ok"] += int(report.stun_ok)
        for kind in ("host", "srflx", "relay"):
            self.counters[f"network_{kind}"] += int(kind in types)
        verdict = "relay" if "relay" in types else "direct" if "srflx" in types else "local"
        if not types:
            verdict = "none"
        return {"verdict": verdict, "checks": self.counters["network_checks"]}

    async def signal(self, user: UserClaims, kind: str, payload: dict[str, Any]) -> tuple[str, Any]:
        """The same doors over Socket.IO (``webrtc_offer`` → ``webrtc_answer`` …)."""
        try:
            match kind:
                case "webrtc_offer":
                    reply = await self.offer(user, OfferRequest.model_validate(payload))
                    return ("webrtc_answer" if reply["type"] == "answer" else "webrtc_offer"), reply
                case "webrtc_answer":
                    return "webrtc_state", await self.answer(
                        user, AnswerRequest.model_validate(payload)
                    )
                case "webrtc_ice":
                    return "webrtc_ice_ack", await self.ice(
                        user, IceRequest.model_validate(payload)
                    )
                case _:
                    report = self.network_report(user, NetworkReport.model_validate(payload))
                    return "network_report_ack", report
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
            raise proto.ProtocolError("bad_payload", f"{kind}.{where}: {first['msg']}") from None
        except SignalingError as exc:
            codes: dict[int, proto.ErrorCode] = {
                403: "forbidden",
                404: "unknown_session",
                503: "unavailable",
            }
            raise proto.ProtocolError(codes.get(exc.status, "bad_payload"), exc.message) from None

    def health(self) -> dict[str, object]:
        connected = sum(1 for p in self.peers.values() if p.connected)
        times = sorted(self.connect_times[-200:])
        return {
            "peers": len(self.peers),
            "connected": connected,
            "max_peers": self.max_peers,
            "connect_p50_ms": round(times[len(times) // 2] * 1000) if times else None,
            **dict(self.counters),
        }

    async def close(self) -> None:
        for peer in list(self.peers.values()):
            await peer.close("server_shutdown")

    # ------------------------------------------------------------- internals
    def _session(self, user: UserClaims, session_id: str) -> BrowserSession:
        session = self.namespace.live.get(session_id)
        if session is None or session.ended:
            raise SignalingError(404, "unknown_session", f"no live session {session_id!r}")
        if session.user_id != user.user_id:
            raise SignalingError(403, "forbidden", "that session belongs to another user")
        return session

    def _owned(self, user: UserClaims, peer: Peer) -> None:
        if peer.user_id != user.user_id:
            raise SignalingError(403, "forbidden", "that peer belongs to another user")

    def _peer(self, user: UserClaims, pc_id: str) -> Peer:
        peer = self.peers.get(pc_id)
        if peer is None:
            raise SignalingError(404, "unknown_session", f"no peer {pc_id} (closed, or never made)")
        self._owned(user, peer)
        return peer

    def _audio(self, peer: Peer, pcm: bytes) -> None:
        session = self.namespace.live.get(peer.session_id)
        if session is None or session.call is None or session.channel.track is not peer.track:
            return
        self.namespace.metrics.audio_in_s += len(pcm) / (proto.SAMPLE_RATE * 2)
        session.call.push_audio(pcm)

    def _message(self, peer: Peer, text: str) -> None:
        try:
            message = json.loads(text)
            event, data = message["event"], message.get("data")
            if not isinstance(event, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            peer.send("error", {"code": "bad_payload", "message": "send {event, data} JSON"})
            return
        if event == "jitter":  # the page's jitter-buffer delay, for what was heard
            delay = data.get("ms") if isinstance(data, dict) else None
            if isinstance(delay, int | float) and 0 <= delay <= 2000:
                peer.track.jitter_s = delay / 1000
            return
        if event not in DATA_CHANNEL_EVENTS:
            peer.send("error", {"code": "bad_event", "message": f"{event!r} goes over Socket.IO"})
            return
        asyncio.get_running_loop().create_task(
            self.namespace.dispatch(peer.session_id, event, data)
        )

    def _connected(self, peer: Peer) -> None:
        self.counters["connected"] += 1
        if peer.connected_after_s is not None:
            self.connect_times.append(peer.connected_after_s)
            del self.connect_times[:-1000]
        session = self.namespace.live.get(peer.session_id)
        if session is None or self.by_session.get(peer.session_id) != peer.pc_id:
            return
        session.channel.use_track(peer.track)
        session.emitter.mirror = peer.send
        session.emitter.emit("webrtc_state", {"pc_id": peer.pc_id, "state": "connected"})
        log.info("session %s: audio over WebRTC (%s)", peer.session_id, peer.pc_id)

    def _closed(self, peer: Peer, reason: str) -> None:
        self.peers.pop(peer.pc_id, None)
        if self.by_session.get(peer.session_id) == peer.pc_id:
            del self.by_session[peer.session_id]
        self.counters[f"closed_{reason}"] += 1
        session = self.namespace.live.get(peer.session_id)
        if session is None or session.channel.track is not peer.track:
            return
        session.channel.use_track(None)
        session.emitter.mirror = None
        session.emitter.emit(
            "webrtc_state", {"pc_id": peer.pc_id, "state": "closed", "reason": reason}
        )
        log.info("session %s: WebRTC closed (%s), audio back on Socket.IO", peer.session_id, reason)

    async def _session_closed(self, session: BrowserSession) -> None:
        pc_id = self.by_session.get(session.session_id)
        if pc_id is not None and pc_id in self.peers:
            await self.peers[pc_id].close("session_ended")
