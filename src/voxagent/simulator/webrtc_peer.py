"""A page's WebRTC side, in Python (aiortc): what the console does once its session started.

It offers a peer connection for a running browser session (``POST /api/webrtc/offer`` with the
session's token), sends its microphone on an audio track (16 kHz PCM the caller queues, silence
otherwise, paced by the clock like a real microphone), listens to the agent's track, and talks
on the ``events`` data channel. Tests and the benchmark use it as the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voxagent.channels.webrtc.tracks import pcm_frame

__all__ = ["MicrophoneTrack", "PagePeer"]

RATE = 16000
FRAME = RATE // 50
LOUD_RMS = 300.0
"""A received 20 ms frame louder than this (of 32768) is the agent speaking."""


class MicrophoneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._spoken = asyncio.Event()
        self._start: float | None = None
        self._frames = 0

    def queue(self, pcm: bytes) -> asyncio.Event:
        """Speak ``pcm`` (16 kHz mono PCM); the event is set when the last of it was sent."""
        self._spoken.clear()
        self._pending += pcm
        return self._spoken

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._frames * 0.02
        if due > now:
            await asyncio.sleep(due - now)
        chunk = bytes(self._pending[: FRAME * 2]).ljust(FRAME * 2, b"\0")
        del self._pending[: FRAME * 2]
        if not self._pending:
            self._spoken.set()
        frame = pcm_frame(chunk, self._frames * FRAME)
        self._frames += 1
        return frame


@dataclass
class PagePeer:
    base_url: str
    token: str
    session_id: str
    events: list[tuple[str, Any, float]] = field(default_factory=list)
    loud_frames: list[float] = field(default_factory=list)
    """When each loud frame of the agent's audio arrived."""
    frames_heard: int = 0
    pc_id: str = ""
    connected_after_s: float | None = None
    mic: MicrophoneTrack = field(default_factory=MicrophoneTrack)

    def __post_init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(self.mic)
        self.channel = self.pc.createDataChannel("events")
        self.channel.on("message", self._message)
        self.pc.on("track", self._track)
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("connectionstatechange", self._state)

    async def _state(self) -> None:
        if self.pc.connectionState == "connected":
            self._connected.set()
        self._changed.set()

    def _message(self, text: str | bytes) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = json.loads(text)
            self.events.append((str(message["event"]), message.get("data"), time.monotonic()))
            self._changed.set()

    def _track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.create_task(self._listen(track)))

    async def _listen(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            samples = frame.to_ndarray().astype(np.float32)
            self.frames_heard += 1
            if samples.size and float(np.sqrt(np.mean(samples**2))) > LOUD_RMS:
                self.loud_frames.append(time.monotonic())
                self._changed.set()

    # ---------------------------------------------------------------- signaling
    async def connect(self, *, within_s: float = 10.0, restart_of: str | None = None) -> float:
        """Offer, take the answer, wait until connected; returns the seconds it took."""
        started = time.monotonic()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        body: dict[str, Any] = {
            "sdp": self.pc.localDescription.sdp,
            "type": "offer",
            "session_id": self.session_id,
        }
        if restart_of:
            body |= {"restart": True, "pc_id": restart_of}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=15) as http:
            reply = await http.post(
                "/api/webrtc/offer", json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        reply.raise_for_status()
        answer = reply.json()
        self.pc_id = str(answer["pc_id"])
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(self._connected.wait(), within_s)
        self.connected_after_s = time.monotonic() - started
        return self.connected_after_s

    def send(self, event: str, data: Any = None) -> None:
        self.channel.send(json.dumps({"event": event, "data": data or {}}))

    async def wait_channel_open(self, within_s: float = 5.0) -> None:
        deadline = time.monotonic() + within_s
        while self.channel.readyState != "open":
            if time.monotonic() > deadline:
                raise TimeoutError("the data channel did not open")
            await asyncio.sleep(0.02)

    async def wait_for(self, event: str, *, after: int = 0, within_s: float = 15.0) -> Any:
        deadline = time.monotonic() + within_s
        while True:
            for name, data, _ in self.events[after:]:
                if name == event:
                    return data
            if time.monotonic() > deadline:
                names = [n for n, _, _ in self.events][-20:]
                raise TimeoutError(f"no {event!r} on the data channel within {within_s} s: {names}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)

    async def wait_loud(self, *, after: float, within_s: float = 15.0) -> float:
        """When the agent's audio was first heard loud after monotonic time ``after``."""
        deadline = time.monotonic() + within_s
        while True:
            later = [t for t in self.loud_frames if t > after]
            if later:
                return later[0]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no agent audio over WebRTC within {within_s} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.mic.stop()
        await self.pc.close()
