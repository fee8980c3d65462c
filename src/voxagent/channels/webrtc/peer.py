"""One browser's peer connection (aiortc): the agent's track out, the microphone in, and the
``events`` data channel, with the timers that close a peer nobody can reach.

A :class:`Peer` knows nothing of calls: it hands microphone audio to ``on_audio`` and data
channel messages to ``on_message``, and the session decides what they mean. It closes itself
when it does not connect within ``connect_timeout_s``, when ICE fails, or when ICE stays
``disconnected`` past ``grace_s``; ``on_closed`` is told once, whatever the cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from voxagent.channels.webrtc.ice_servers import IceServer
from voxagent.channels.webrtc.signaling import Candidate
from voxagent.channels.webrtc.tracks import AgentAudioTrack, consume

__all__ = ["DATA_CHANNEL", "Peer", "new_pc_id"]

log = logging.getLogger(__name__)

DATA_CHANNEL = "events"
MAX_DATA_MESSAGE = 16 * 1024


def new_pc_id() -> str:
    return f"pc-{uuid.uuid4().hex}"


class Peer:
    def __init__(
        self,
        *,
        session_id: str,
        user_id: str,
        ice_servers: list[IceServer],
        connect_timeout_s: float,
        grace_s: float,
        on_audio: Callable[[bytes], None],
        on_message: Callable[[Peer, str], None],
        on_connected: Callable[[Peer], None],
        on_closed: Callable[[Peer, str], None],
    ) -> None:
        self.pc_id = new_pc_id()
        self.session_id = session_id
        self.user_id = user_id
        self.created = time.monotonic()
        self.connected_after_s: float | None = None
        self.track = AgentAudioTrack()
        self.channel: RTCDataChannel | None = None
        self.closed = False
        self.close_reason = ""
        self._on_audio = on_audio
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_closed = on_closed
        self._grace_s = grace_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._disconnected: asyncio.TimerHandle | None = None
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[
                    RTCIceServer(list(s.urls), s.username, s.credential) for s in ice_servers
                ]
            )
        )
        self.pc.on("track", self._track)
        self.pc.on("datachannel", self._datachannel)
        self.pc.on("connectionstatechange", self._state_changed)
        loop = asyncio.get_running_loop()
        self._connect_timer = loop.call_later(connect_timeout_s, self._not_connected)

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    # ------------------------------------------------------------- signaling
    async def answer(self, offer_sdp: str) -> str:
        """Take the browser's offer; returns our answer (with every candidate gathered)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        self.pc.addTrack(self.track)
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "audio" and transceiver.sender.track is self.track:
                transceiver.direction = "sendrecv"
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def offer(self) -> str:
        """We offer (the three-endpoint shape): audio both ways and the ``events`` channel."""
        self.pc.addTransceiver(self.track, direction="sendrecv")
        self._datachannel(self.pc.createDataChannel(DATA_CHANNEL))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, answer_sdp: str) -> None:
        if self.pc.signalingState != "have-local-offer":
            raise RuntimeError("this peer connection is not waiting for an answer")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    async def add_candidates(self, candidates: list[Candidate]) -> int:
        added = 0
        for c in candidates:
            if c.end_of_candidates:
                await self.pc.addIceCandidate(None)
                continue
            candidate = candidate_from_sdp(c.candidate.removeprefix("a=").split(":", 1)[1])
            candidate.sdpMid = c.sdp_mid
            candidate.sdpMLineIndex = c.sdp_mline_index
            if c.sdp_mid is None and c.sdp_mline_index is None:
                candidate.sdpMLineIndex = 0
            await self.pc.addIceCandidate(candidate)
            added += 1
        return added

    # ----------------------------------------------------------------- events
    def send(self, event: str, data: Any) -> bool:
        """Send ``{event, data}`` on the data channel; False when it is not open."""
        channel = self.channel
        if channel is None or channel.readyState != "open":
            return False
        try:
            channel.send(json.dumps({"event": event, "data": data}, default=str))
        except Exception:  # a closing transport: the event is lost, not the session
            return False
        return True

    def _track(self, track: Any) -> None:
        want = self._on_audio if track.kind == "audio" else None
        self._spawn(consume(track, want), f"rx-{self.pc_id}-{track.kind}")

    def _datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != DATA_CHANNEL:
            return
        self.channel = channel

        @channel.on("message")
        def _message(message: str | bytes) -> None:
            if isinstance(message, bytes) or len(message) > MAX_DATA_MESSAGE:
                self.send("error", {"code": "too_large", "message": "text messages ≤ 16 KiB"})
                return
            self._on_message(self, message)

    async def _state_changed(self) -> None:
        state = self.pc.connectionState
        log.debug("peer %s is %s", self.pc_id, state)
        if state == "connected":
            self._connect_timer.cancel()
            if self._disconnected is not None:
                self._disconnected.cancel()
                self._disconnected = None
            if self.connected_after_s is None:
                self.connected_after_s = time.monotonic() - self.created
                self._on_connected(self)
        elif state == "failed":
            await self.close("ice_failed")
        elif state == "disconnected" and self._disconnected is None:
            loop = asyncio.get_running_loop()
            self._disconnected = loop.call_later(
                self._grace_s, lambda: self._spawn(self.close("ice_disconnected"), "close")
            )
        elif state == "closed":
            await self.close("closed")

    def _not_connected(self) -> None:
        if not self.connected:
            self._spawn(self.close("connect_timeout"), f"close-{self.pc_id}")

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- close
    async def close(self, reason: str) -> None:
        """Free everything: timers, the track, the connection, the readers. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._connect_timer.cancel()
        if self._disconnected is not None:
            self._disconnected.cancel()
        self.track.clear()
        self.track.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        log.info("peer %s closed (%s)", self.pc_id, reason)
        self._on_closed(self, reason)
