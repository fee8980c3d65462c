"""A browser session without a browser: the ``/sandra`` Socket.IO protocol spoken like the page.

:class:`BrowserCaller` gets a token, connects, starts a conversation, and talks: each line is
16 kHz PCM sent as 40 ms ``audio`` chunks in real time (seq from 0), the agent's audio is
"played" on a clock and reported back with ``playback`` as the page does, and it can barge in
with the page's ``barge_in`` event. :func:`simulate_browser_session` runs a whole scripted
conversation and reports what happened; ``voxagent simulate --browser`` prints it, and the
browser benchmark drives many at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import socketio

from voxagent.audio.resample import resample
from voxagent.simulator.caller.results import percentile
from voxagent.simulator.caller.script import SPEECH_GAIN, SpeechRenderer, trim_silence

__all__ = ["BrowserCaller", "BrowserResult", "get_token", "simulate_browser_session"]

RATE = 16000
CHUNK_BYTES = 1280  # 40 ms
CHUNK_S = 0.04


async def get_token(
    base_url: str,
    user_id: str,
    *,
    persona: str | None = None,
    language: str | None = None,
    api_key: str | None = None,
) -> str:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body: dict[str, str] = {"user_id": user_id}
    if persona:
        body["persona"] = persona
    if language:
        body["language"] = language
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        response = await client.post("/api/sandra/token", json=body, headers=headers)
    response.raise_for_status()
    return str(response.json()["token"])


@dataclass
class _Played:
    seq: int
    sentence: int
    pcm: bytes
    at: float
    """When this chunk plays out on the caller's clock."""


@dataclass
class BrowserCaller:
    """One page's connection. Events land in ``events`` (name, payload, arrival time)."""

    base_url: str
    token: str
    events: list[tuple[str, Any, float]] = field(default_factory=list)
    played: list[_Played] = field(default_factory=list)
    session_id: str | None = None
    _sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient())
    _seq: int = 0
    _play_clock: float = 0.0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reporter: asyncio.Task[None] | None = None
    _microphone: asyncio.Task[None] | None = None
    _speech: bytearray = field(default_factory=bytearray)
    _spoken: asyncio.Event = field(default_factory=asyncio.Event)
    _stopped_at: float | None = None

    async def connect(self) -> None:
        sio = self._sio
        sio.on("*", self._on_event, namespace="/sandra")
        await sio.connect(
            self.base_url,
            namespaces=["/sandra"],
            transports=["websocket"],
            socketio_path="socket.io",
            auth={"token": self.token},
            wait_timeout=10,
        )
        self._reporter = asyncio.create_task(self._report_playback())

    async def close(self) -> None:
        for task in (self._reporter, self._microphone):
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            await self._sio.disconnect()

    async def _on_event(self, event: str, data: Any = None) -> None:
        now = time.monotonic()
        self.events.append((event, data, now))
        if event == "audio" and isinstance(data, dict):
            start = max(self._play_clock, now)
            pcm = bytes(data.get("pcm") or b"")
            self._play_clock = start + len(pcm) / (RATE * 2)
            self.played.append(_Played(int(data["seq"]), int(data["sentence"]), pcm, start))
        elif event == "barge_in_ack":
            self._play_clock = now  # the page drops what it had queued
            self._stopped_at = now
        elif event in ("session_started", "session_resumed") and isinstance(data, dict):
            self.session_id = str(data["session_id"])
        self._changed.set()

    async def emit(self, event: str, data: Any = None) -> None:
        await self._sio.emit(event, data if data is not None else {}, namespace="/sandra")

    # ------------------------------------------------------------ talking
    async def start(self, persona: str | None = None, language: str | None = None) -> None:
        payload: dict[str, Any] = {"sample_rate": RATE}
        if persona:
            payload["persona"] = persona
        if language:
            payload["language"] = language
        self._seq = 0
        await self.emit("start", payload)
        await self.wait_for("session_started")

    async def resume(self, session_id: str) -> None:
        self._seq = 0
        await self.emit("resume", {"session_id": session_id})

    def open_microphone(self) -> None:
        """Send 40 ms every 40 ms from now on, like a page's microphone: what :meth:`speak`
        queued, else silence (a turn only ends when the server hears the silence after it)."""
        if self._microphone is None:
            self._microphone = asyncio.create_task(self._stream_microphone())

    async def speak(self, pcm: bytes) -> float:
        """Through the open microphone: returns when the last of ``pcm`` was sent."""
        self.open_microphone()
        self._spoken.clear()
        self._speech += pcm
        await self._spoken.wait()
        return time.monotonic()

    async def _stream_microphone(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        silence = bytes(CHUNK_BYTES)
        for step in range(1 << 62):
            chunk = bytes(self._speech[:CHUNK_BYTES])
            del self._speech[:CHUNK_BYTES]
            if not self._speech:
                self._spoken.set()
            with contextlib.suppress(Exception):
                await self.emit("audio", {"seq": self._seq, "pcm": chunk or silence})
            self._seq += 1
            await asyncio.sleep(max(0.0, start + (step + 1) * CHUNK_S - loop.time()))

    async def say(self, pcm: bytes, *, realtime: bool = True) -> float:
        """Send ``pcm`` (16 kHz PCM) as 40 ms chunks, paced like a microphone unless
        ``realtime`` is off, without an open microphone; returns when the last chunk left."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(0, len(pcm), CHUNK_BYTES):
            await self.emit("audio", {"seq": self._seq, "pcm": pcm[i : i + CHUNK_BYTES]})
            self._seq += 1
            if realtime:
                due = start + (i // CHUNK_BYTES + 1) * CHUNK_S
                await asyncio.sleep(max(0.0, due - loop.time()))
        return time.monotonic()

    async def silence(self, seconds: float) -> None:
        await self.say(bytes(int(seconds * RATE) * 2))

    async def barge_in(self) -> float:
        """The page's own VAD heard the user: stop the agent. Returns when it was sent."""
        sent = time.monotonic()
        await self.emit("barge_in", {"played_ms": 0})
        return sent

    # ------------------------------------------------------------- waiting
    def count(self, event: str) -> int:
        return sum(1 for name, _, _ in self.events if name == event)

    async def wait_for(
        self,
        event: str,
        *,
        after: int = 0,
        predicate: Callable[[Any], bool] = lambda data: True,
        within_s: float = 15.0,
    ) -> Any:
        """The first ``event`` (past the first ``after`` events of any kind) that matches."""
        deadline = time.monotonic() + within_s
        while True:
            for name, data, _ in self.events[after:]:
                if name == event and predicate(data):
                    return data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event!r} within {within_s:g} s: {self.event_names()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def event_names(self) -> list[str]:
        return [
            f"{name}:{data.get('code')}" if name == "error" and isinstance(data, dict) else name
            for name, data, _ in self.events
        ][-30:]

    def agent_quiet_for(self) -> float:
        """Seconds since the agent's audio stopped playing (0 while it plays)."""
        return max(0.0, time.monotonic() - self._play_clock) if self.played else 0.0

    async def _report_playback(self) -> None:
        """Report played chunks every 100 ms, as the page does."""
        reported = -1
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            done = [p.seq for p in self.played if p.at + len(p.pcm) / (RATE * 2) <= now]
            if done and max(done) > reported:
                reported = max(done)
                with contextlib.suppress(Exception):
                    await self.emit("playback", {"chunk": reported})


@dataclass
class BrowserResult:
    session_id: str | None
    turns: list[tuple[str, str, float | None]] = field(default_factory=list)
    """(speaker, text, response ms)."""
    barge_in_ack_ms: float | None = None
    events: list[str] = field(default_factory=list)

    @property
    def response_times_ms(self) -> list[float]:
        return [ms for _, _, ms in self.turns if ms is not None]

    def format_dialogue(self) -> str:
        lines = [f"session {self.session_id}"]
        for speaker, text, ms in self.turns:
            latency = f"  ({ms:.0f} ms)" if ms is not None else ""
            lines.append(f"  {speaker:>6}: {text}{latency}")
        times = self.response_times_ms
        if times:
            lines.append(
                f"response p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms"
            )
        if self.barge_in_ack_ms is not None:
            lines.append(f"barge-in acknowledged after {self.barge_in_ack_ms:.0f} ms")
        return "\n".join(lines)


def render_line(tts: SpeechRenderer, text: str) -> bytes:
    """A line as the page's microphone would send it: 16 kHz PCM, trimmed, at speech level."""
    audio = tts.render_blocking(text)
    pcm = resample(np.asarray(audio, dtype=np.int16), tts.sample_rate, RATE)
    pcm = trim_silence(pcm, RATE)
    return (pcm.astype(np.float32) * SPEECH_GAIN).astype("<i2").tobytes()


async def simulate_browser_session(
    base_url: str,
    utterances: Sequence[str],
    *,
    tts: SpeechRenderer,
    user_id: str = "simulated-guest",
    persona: str | None = None,
    language: str | None = None,
    api_key: str | None = None,
    pause_s: float = 0.9,
    reply_timeout_s: float = 15.0,
    barge_in_turn: int | None = None,
    on_event: Callable[[str], None] | None = None,
) -> BrowserResult:
    """One scripted conversation: greet, then each line once the agent has been quiet for
    ``pause_s``; with ``barge_in_turn`` the page barges in 1 s into that reply."""
    say = on_event or (lambda line: None)
    lines = await asyncio.to_thread(lambda: [render_line(tts, u) for u in utterances])
    token = await get_token(base_url, user_id, persona=persona, language=language, api_key=api_key)
    caller = BrowserCaller(base_url, token)
    result = BrowserResult(session_id=None)
    await caller.connect()
    try:
        await caller.start(persona, language)
        caller.open_microphone()
        result.session_id = caller.session_id
        await _wait_reply(caller, 0, pause_s, reply_timeout_s)
        result.turns.append(("agent", _agent_text(caller, 0), None))
        say(f" agent: {_agent_text(caller, 0)}")
        for index, (text, pcm) in enumerate(zip(utterances, lines, strict=True)):
            mark = len(caller.events)
            say(f"caller: {text}")
            spoke = await caller.speak(pcm)
            result.turns.append(("caller", text, None))
            first = await _first_audio_after(caller, mark, reply_timeout_s)
            if barge_in_turn == index and first is not None:
                await asyncio.sleep(1.0)
                sent = await caller.barge_in()
                ack = await caller.wait_for("barge_in_ack", after=mark, within_s=5)
                arrived = next(t for n, d, t in caller.events[mark:] if n == "barge_in_ack")
                result.barge_in_ack_ms = (arrived - sent) * 1000
                say(f"(barged in; the agent stopped, heard: {ack.get('heard')!r})")
            else:
                await _wait_reply(caller, mark, pause_s, reply_timeout_s)
            reply = _agent_text(caller, mark)
            response = None if first is None else (first - spoke) * 1000
            result.turns.append(("agent", reply, response))
            say(f" agent: {reply}" + (f"  ({response:.0f} ms)" if response else ""))
            if caller.count("session_ended"):
                break
        if not caller.count("session_ended"):
            await caller.emit("end", {})
            with contextlib.suppress(TimeoutError):
                await caller.wait_for("session_ended", within_s=5)
    finally:
        result.events = [name for name, _, _ in caller.events]
        await caller.close()
    return result


async def _first_audio_after(caller: BrowserCaller, mark: int, within_s: float) -> float | None:
    with contextlib.suppress(TimeoutError):
        await caller.wait_for("audio", after=mark, within_s=within_s)
        return next(t for name, _, t in caller.events[mark:] if name == "audio")
    return None


async def _wait_reply(caller: BrowserCaller, mark: int, pause_s: float, within_s: float) -> None:
    """Until the agent's reply has played and it has been quiet for ``pause_s``."""
    deadline = time.monotonic() + within_s
    with contextlib.suppress(TimeoutError):
        await caller.wait_for("audio", after=mark, within_s=within_s)
    while time.monotonic() < deadline:
        if caller.count("session_ended"):
            return
        if caller.agent_quiet_for() >= pause_s:
            return
        await asyncio.sleep(0.05)


def _agent_text(caller: BrowserCaller, mark: int) -> str:
    return " ".join(d["text"] for n, d, _ in caller.events[mark:] if n == "agent_text")
