"""A simulated phone caller that plays Telnyx's side of a media stream against our server.

It lets people develop and load-test an agent without a phone number, and it is the engine
of the end-to-end tests. The caller connects to ``WS /stream/media`` exactly as Telnyx
would (``connected``, ``start``, then one 20 ms ``media`` frame at a time, paced by the
wall clock), speaks a script synthesized with Piper, listens to the agent through a model
of Telnyx's playout buffer (marks echoed when the audio before them has played, ``clear``
drops what is queued), and transcribes what it heard with PocketSphinx (in a child
process: the binding holds the GIL and would stall the 20 ms send clock).

Layout: the pure pieces (:class:`Playout`, :class:`FrameClock`, frame slicing, barge-in
arithmetic) know nothing about sockets or clocks and are unit-tested with plain data;
:class:`_CallSession` is the thin asyncio layer that drives them.

Cost: benchmarks run tens of callers in one process, so everything per frame is a slice
lookup plus one JSON/base64 build. Utterances are encoded to G.711 once, before dialling,
and pre-cut into 160-byte frames; line noise is a pre-encoded loop of frames.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import logging
import math
import os
import secrets
import struct
import sys
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voxagent.audio.g711 import G711Codec, codec_for
from voxagent.audio.resample import resample
from voxagent.audio.wav import write_wav
from voxagent.channels.telnyx import media_protocol as proto

__all__ = [
    "DEFAULT_SCRIPT",
    "BargeInResult",
    "Cleared",
    "FrameClock",
    "Playout",
    "SimulationResult",
    "SpeechRenderer",
    "Turn",
    "line_noise_frames",
    "measure_barge_in",
    "percentile",
    "simulate_call",
    "split_frames",
    "trim_silence",
]

log = logging.getLogger(__name__)

Int16Array = npt.NDArray[np.int16]

DEFAULT_SCRIPT: list[str] = [
    # Phrases PocketSphinx hears reliably in Piper's voice over G.711 (measured; "luna",
    # "a vaccination" alone and "three p m" were often misheard, "three in the afternoon" not).
    "i would like to book an appointment",
    "my dog's name is charlie",
    "it is for a vaccination",
    "monday at three in the afternoon",
    "yes that is correct",
    "no thank you goodbye",
]

LINE_RATE = 8000
FRAME_S = 0.02
FRAME_BYTES = 160  # 20 ms of 8 kHz G.711, one byte per sample
ASR_RATE = 16000  # PocketSphinx's US English model
BARGE_IN_DELAY_S = 1.0
"""How long after the agent's reply starts playing the barge-in utterance begins."""
STOP_WINDOW_S = 1.0
"""After ``clear``, agent media arriving within this window means the agent kept talking."""
LINE_NOISE_LSB = 8
"""Amplitude of the line hiss sent between utterances: real lines are never digitally
silent, and a VAD that fires on ±8 LSB would misbehave on every real call."""
SPEECH_GAIN = 0.5
"""Piper normalises to full scale; -6 dB leaves headroom for the resampler's overshoot
and is closer to a real handset level."""


# --------------------------------------------------------------------------- pure helpers


def split_frames(data: bytes, frame_bytes: int = FRAME_BYTES, pad: int = 0xFF) -> list[bytes]:
    """Cut encoded audio into fixed frames once, padding the last with ``pad`` bytes.

    Done before dialling so the 50 Hz send loop only picks list items.
    """
    if frame_bytes <= 0:
        raise ValueError(f"frame size must be positive, got {frame_bytes}")
    frames = [data[i : i + frame_bytes] for i in range(0, len(data), frame_bytes)]
    if frames and len(frames[-1]) < frame_bytes:
        frames[-1] = frames[-1] + bytes([pad]) * (frame_bytes - len(frames[-1]))
    return frames


def line_noise_frames(
    codec: G711Codec,
    frames: int = 50,
    *,
    amplitude: int = LINE_NOISE_LSB,
    rng: np.random.Generator | None = None,
) -> list[bytes]:
    """A loop of G.711 frames of near-silence (uniform noise of ±``amplitude`` LSB)."""
    rng = rng or np.random.default_rng()
    noise = rng.integers(-amplitude, amplitude + 1, size=frames * FRAME_BYTES).astype(np.int16)
    return split_frames(codec.encode(noise), FRAME_BYTES, codec.silence_byte)


def trim_silence(
    pcm: Int16Array, sample_rate: int, *, threshold: float = 0.02, margin_s: float = 0.03
) -> Int16Array:
    """Drop leading/trailing near-silence (below ``threshold`` of the peak) from TTS output.

    Piper pads ~0.2 s of silence after a sentence; sending it would make the measured
    response latency include our own padding instead of starting at the caller's last word.
    """
    if len(pcm) == 0:
        return pcm
    magnitude = np.abs(pcm.astype(np.int32))
    loud = np.flatnonzero(magnitude > threshold * int(magnitude.max()))
    if len(loud) == 0:
        return pcm[:0]
    margin = int(margin_s * sample_rate)
    return pcm[max(0, int(loud[0]) - margin) : int(loud[-1]) + 1 + margin]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100); ``None`` for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class FrameClock:
    """The absolute 20 ms send schedule: frame *n* is due at ``start + n * period``.

    Sleeping a fixed 20 ms after each send would drift by the send cost every frame;
    scheduling against absolute deadlines does not. If the event loop stalls, the missed
    frames are sent at once (as a real network delivers a burst of late RTP), but at most
    ``max_burst``; beyond that the schedule is moved forward and the gap counted in
    :attr:`slipped`, so one long stall cannot turn into a flood.
    """

    def __init__(self, start: float, period: float = FRAME_S, *, max_burst: int = 5) -> None:
        if period <= 0 or max_burst < 1:
            raise ValueError("period must be positive and max_burst at least 1")
        self.start = start
        self.period = period
        self.max_burst = max_burst
        self.index = 0
        self.slipped = 0

    @property
    def next_deadline(self) -> float:
        return self.start + self.index * self.period

    def take(self, now: float) -> list[float]:
        """Claim the frames due at ``now``; returns their nominal send times (maybe none)."""
        # The epsilon keeps float error from postponing a frame whose deadline is ``now``.
        due = math.floor((now - self.start) / self.period + 1e-6) + 1 - self.index
        if due <= 0:
            return []
        if due > self.max_burst:
            skip = due - self.max_burst
            self.start += skip * self.period
            self.slipped += skip
            due = self.max_burst
        times = [self.start + (self.index + i) * self.period for i in range(due)]
        self.index += due
        return times


@dataclass(slots=True)
class _Segment:
    start: float
    payload: bytes
    tag: int


@dataclass(frozen=True, slots=True)
class Cleared:
    """What a ``clear`` did: marks to echo now, unplayed audio dropped, replies cut short."""

    marks: tuple[str, ...]
    dropped_s: float
    tags: frozenset[int]


class Playout:
    """Telnyx's playout buffer for audio the app sends, fed with explicit times (no I/O).

    Received audio plays in real time from the moment it arrives, or from the end of
    what is already queued. A mark is due when playback reaches the point where it was
    received (at once if nothing is queued). ``clear`` cuts the audio playing now, drops
    everything queued and releases every pending mark. Each chunk carries a ``tag`` (the
    simulator uses the agent-reply number) so what was actually *heard* of each reply can
    be recovered after clears.
    """

    def __init__(self, sample_rate: int = LINE_RATE, bytes_per_sample: int = 1) -> None:
        self._bytes_per_s = sample_rate * bytes_per_sample
        self._bytes_per_sample = bytes_per_sample
        self._segments: list[_Segment] = []
        self._marks: deque[tuple[float, str]] = deque()
        self._end = float("-inf")
        self._tag_span: dict[int, tuple[float, float]] = {}

    # --- feeding -----------------------------------------------------------------
    def push_audio(self, now: float, payload: bytes, tag: int = 0) -> float:
        """Queue audio received at ``now``; returns when it starts playing."""
        start = max(now, self._end)
        self._end = start + len(payload) / self._bytes_per_s
        self._segments.append(_Segment(start, payload, tag))
        first = self._tag_span.get(tag)
        self._tag_span[tag] = (first[0] if first else start, self._end)
        return start

    def push_mark(self, now: float, name: str) -> list[str]:
        """Queue a mark; returns ``[name]`` if it must be echoed right away."""
        if self._end <= now and not self._marks:
            return [name]
        self._marks.append((max(self._end, now), name))
        return []

    def due_marks(self, now: float) -> list[str]:
        """Pop the marks whose audio has finished playing by ``now``, in order."""
        names: list[str] = []
        while self._marks and self._marks[0][0] <= now:
            names.append(self._marks.popleft()[1])
        return names

    def clear(self, now: float) -> Cleared:
        """Stop playback at ``now``: truncate, drop the queue, release all pending marks."""
        marks = tuple(name for _, name in self._marks)
        self._marks.clear()
        dropped = 0
        tags: set[int] = set()
        while self._segments:
            seg = self._segments[-1]
            if seg.start >= now:
                dropped += len(seg.payload)
                tags.add(seg.tag)
                self._segments.pop()
                continue
            keep = self._bytes_at(now - seg.start)
            if keep < len(seg.payload):
                dropped += len(seg.payload) - keep
                tags.add(seg.tag)
                seg.payload = seg.payload[:keep]
            break
        for tag, (first, last) in list(self._tag_span.items()):
            if last > now:
                self._tag_span[tag] = (min(first, now), now)
        self._end = min(self._end, now)
        return Cleared(marks, dropped / self._bytes_per_s, frozenset(tags))

    # --- questions ---------------------------------------------------------------
    @property
    def busy_until(self) -> float:
        """When the queued audio ends (``-inf`` before any audio)."""
        return self._end

    @property
    def pending_marks(self) -> int:
        return len(self._marks)

    def next_mark_at(self) -> float | None:
        return self._marks[0][0] if self._marks else None

    def is_idle(self, now: float) -> bool:
        return self._end <= now

    def idle_for(self, now: float) -> float:
        """Seconds since playback last went quiet (0 while playing, ``inf`` if never played)."""
        return max(0.0, now - self._end)

    def tag_start(self, tag: int) -> float | None:
        span = self._tag_span.get(tag)
        return span[0] if span else None

    def tag_end(self, tag: int) -> float | None:
        span = self._tag_span.get(tag)
        return span[1] if span else None

    def played(
        self, tag: int | None = None, until: float = float("inf")
    ) -> list[tuple[float, bytes]]:
        """``(start, payload)`` of audio heard up to ``until`` (one reply if ``tag`` given)."""
        out: list[tuple[float, bytes]] = []
        for seg in self._segments:
            if seg.start >= until:
                break
            if tag is not None and seg.tag != tag:
                continue
            payload = seg.payload
            if seg.start + len(payload) / self._bytes_per_s > until:
                payload = payload[: self._bytes_at(until - seg.start)]
            if payload:
                out.append((seg.start, payload))
        return out

    def _bytes_at(self, seconds: float) -> int:
        samples = round(seconds * self._bytes_per_s / self._bytes_per_sample)
        return max(0, samples * self._bytes_per_sample)


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class Turn:
    """One side's turn in the dialogue; agent text is what the caller *heard*, recognized."""

    speaker: Literal["caller", "agent"]
    text: str
    response_ms: float | None = None
    interrupted: bool = False
    timed_out: bool = False
    audio_s: float = 0.0


@dataclass(frozen=True, slots=True)
class BargeInResult:
    """How the agent reacted when the caller talked over it.

    ``clear_ms``: caller speech start → ``clear`` received. ``last_audio_ms``: caller
    speech start → last agent media frame received while the caller spoke (``None`` if the
    agent had sent everything before). ``heard_ms``: how long the caller still *heard* the
    agent after starting to speak (the playout model, including clear).
    """

    utterance: int
    overlapped: bool
    clear_received: bool
    clear_ms: float | None
    last_audio_ms: float | None
    heard_ms: float | None
    agent_audio_stopped: bool


def measure_barge_in(
    *,
    utterance: int,
    speech_start: float,
    speech_end: float,
    overlapped: bool,
    clear_times: Sequence[float],
    media_times: Sequence[float],
    heard_until: float | None,
    stop_window_s: float = STOP_WINDOW_S,
) -> BargeInResult:
    """Barge-in arithmetic on recorded times (seconds, one clock), kept pure for tests.

    Agent media received between the caller's speech start and end belongs to the reply
    being interrupted; after ``clear`` none of it should arrive within ``stop_window_s``.
    """
    clear_at = next((t for t in clear_times if t >= speech_start), None)
    during = [t for t in media_times if speech_start <= t < speech_end]
    last = max(during) if during else None
    stopped = False
    if clear_at is not None:
        window_end = min(clear_at + stop_window_s, speech_end)
        stopped = not any(clear_at < t <= window_end for t in media_times)
    heard = None if heard_until is None else max(0.0, heard_until - speech_start) * 1000

    def ms(t: float | None) -> float | None:
        return None if t is None else (t - speech_start) * 1000

    return BargeInResult(
        utterance=utterance,
        overlapped=overlapped,
        clear_received=clear_at is not None,
        clear_ms=ms(clear_at),
        last_audio_ms=ms(last),
        heard_ms=heard,
        agent_audio_stopped=stopped,
    )


@dataclass(slots=True)
class SimulationResult:
    """Everything one simulated call observed, plus the audio to write a stereo WAV."""

    url: str
    encoding: str
    stream_id: str
    call_control_id: str
    turns: list[Turn] = field(default_factory=list)
    barge_in: BargeInResult | None = None
    hung_up_by: Literal["caller", "agent"] | None = None
    close_code: int | None = None
    close_reason: str = ""
    duration_s: float = 0.0
    greeting_ms: float | None = None
    frames_sent: int = 0
    frames_received: int = 0
    marks_received: int = 0
    marks_echoed: int = 0
    clears_received: int = 0
    timeouts: int = 0
    malformed_received: int = 0
    schedule_slips: int = 0
    unplayed_at_end_s: float = 0.0
    caller_audio: list[tuple[float, bytes]] = field(default_factory=list, repr=False)
    agent_audio: list[tuple[float, bytes]] = field(default_factory=list, repr=False)

    @property
    def response_times_ms(self) -> list[float]:
        """Caller speech end → first agent audio, for every answered caller turn."""
        times: list[float] = []
        previous = None
        for turn in self.turns:
            if turn.speaker == "agent" and previous == "caller" and turn.response_ms is not None:
                times.append(turn.response_ms)
            previous = turn.speaker
        return times

    def latency_summary(self) -> dict[str, float | None]:
        values = self.response_times_ms
        return {
            "greeting_ms": self.greeting_ms,
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "max_ms": max(values) if values else None,
        }

    def format_dialogue(self) -> str:
        lines: list[str] = []
        for turn in self.turns:
            if turn.speaker == "caller":
                lines.append(f"caller: {turn.text}")
                continue
            lines.append(_agent_line(turn))
        summary = self.latency_summary()
        lines.append("")
        lines.append(
            f"latency: greeting {_fmt_ms(summary['greeting_ms'])}, "
            f"response p50 {_fmt_ms(summary['p50_ms'])}, p95 {_fmt_ms(summary['p95_ms'])} "
            f"over {len(self.response_times_ms)} turn(s)"
            + (f", {self.timeouts} timeout(s)" if self.timeouts else "")
        )
        if self.barge_in is not None:
            b = self.barge_in
            lines.append(
                f"barge-in: clear {'received' if b.clear_received else 'NOT received'}"
                + (f" after {_fmt_ms(b.clear_ms)}" if b.clear_received else "")
                + f", agent heard for {_fmt_ms(b.heard_ms)}, last agent frame "
                + (_fmt_ms(b.last_audio_ms) if b.last_audio_ms is not None else "before speech")
                + f", agent audio {'stopped' if b.agent_audio_stopped else 'DID NOT stop'}"
                + ("" if b.overlapped else " (agent was already silent)")
            )
        lines.append(
            f"call: {self.duration_s:.1f} s, hung up by {self.hung_up_by or 'nobody'}, "
            f"{self.frames_sent} frames sent, {self.frames_received} received, "
            f"{self.marks_echoed} marks echoed, {self.clears_received} clear(s)"
        )
        if self.unplayed_at_end_s > 0.05:
            lines.append(
                f"note: the line went down with {self.unplayed_at_end_s:.1f} s of agent audio "
                "still queued (never heard)"
            )
        return "\n".join(lines)

    def write_wav(self, path: str | os.PathLike[str]) -> None:
        """Stereo 8 kHz WAV: left = what the caller sent, right = agent audio as played."""
        codec = codec_for(self.encoding)
        end = 0
        for track in (self.caller_audio, self.agent_audio):
            for offset, payload in track:
                end = max(end, round(offset * LINE_RATE) + len(payload))
        stereo = np.zeros((end, 2), dtype=np.int16)
        for channel, track in enumerate((self.caller_audio, self.agent_audio)):
            for offset, payload in track:
                at = round(offset * LINE_RATE)
                stereo[at : at + len(payload), channel] = codec.decode(payload)
        write_wav(path, stereo, LINE_RATE)


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _agent_line(turn: Turn) -> str:
    if turn.timed_out:
        return "agent: (no reply)"
    text = turn.text or f"[{turn.audio_s:.1f} s of audio]"
    notes = [] if turn.response_ms is None else [f"response {turn.response_ms:.0f} ms"]
    if turn.interrupted:
        notes.append("interrupted")
    return f"agent: {text}" + (f" ({', '.join(notes)})" if notes else "")


# --------------------------------------------------------------------------- the caller


class SpeechRenderer(Protocol):
    """What the caller needs from a TTS engine (``PiperVoiceSynthesizer`` fits)."""

    sample_rate: int

    def render_blocking(self, text: str) -> npt.NDArray[Any]: ...


@dataclass(slots=True)
class _Utterance:
    index: int
    text: str
    frames: list[bytes]
    barge_in: bool
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(slots=True)
class _Reply:
    """The agent's audio between two caller utterances (reply 0 is the greeting)."""

    index: int
    opened_at: float
    first_received: float | None = None
    frames: int = 0
    interrupted: bool = False
    timed_out: bool = False
    text: str = ""
    audio_s: float = 0.0


class _Action(enum.Enum):
    WAIT = enum.auto()
    SPEAK = enum.auto()
    HANG_UP = enum.auto()


class _CallSession:
    """One call on one socket: a paced sender/policy task and a receiver task."""

    def __init__(
        self,
        ws: ClientConnection,
        result: SimulationResult,
        utterances: list[_Utterance],
        codec: G711Codec,
        *,
        auth_token: str | None,
        pause_s: float,
        reply_timeout_s: float,
        hangup_after_s: float,
        max_call_s: float,
        recognizer: _Recognizer | None,
        on_event: Callable[[str], None] | None,
        client_state: str | None = None,
    ) -> None:
        self.ws = ws
        self.result = result
        self.client_state = client_state
        self.utterances = utterances
        self.codec = codec
        self.auth_token = auth_token
        self.pause_s = pause_s
        self.reply_timeout_s = reply_timeout_s
        self.hangup_after_s = hangup_after_s
        self.max_call_s = max_call_s
        self.recognizer = recognizer
        self.on_event = on_event
        self.loop = asyncio.get_running_loop()
        self.playout = Playout(LINE_RATE)
        self.noise = line_noise_frames(codec, rng=np.random.default_rng(secrets.randbits(64)))
        self.seq = 0
        self.t0 = self.loop.time()
        self.over = asyncio.Event()
        self.replies: list[_Reply] = [_Reply(0, self.t0)]
        self.next_utt = 0
        self.speaking: _Utterance | None = None
        self.pos = 0
        self.noise_pos = 0
        self.clear_times: list[float] = []
        self.media_times: list[float] = []
        self.ended_at: float | None = None
        self.lines: asyncio.Queue[str | _Reply | None] = asyncio.Queue()

    # --- plumbing ----------------------------------------------------------------
    def _seq(self) -> int:
        self.seq += 1
        return self.seq

    def _say(self, line: str) -> None:
        self.lines.put_nowait(line)

    async def run(self) -> None:
        stream_id = self.result.stream_id
        await self.ws.send(proto.connected_message(auth_token=self.auth_token))
        await self.ws.send(
            proto.start_message(
                stream_id,
                self.result.call_control_id,
                call_session_id=str(uuid.uuid4()),
                from_number=_random_number(),
                to_number=_random_number(),
                encoding=self.codec.name,
                sample_rate=LINE_RATE,
                client_state=self.client_state,
                sequence_number=self._seq(),
            )
        )
        self._say(f"calling {self.result.url} ({self.codec.name}, stream {stream_id[:8]}…)")
        printer = asyncio.create_task(self._print_lines(), name="sim-lines")
        receiver = asyncio.create_task(self._receive(), name="sim-receive")
        sender = asyncio.create_task(self._send_loop(), name="sim-send")
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            self.over.set()
            self._end_call(self.loop.time())
            for task in done:
                if (error := task.exception()) is not None:
                    raise error
            await self._hang_up_if_needed()
            await asyncio.gather(sender, receiver, return_exceptions=True)
            self.lines.put_nowait(None)
            await printer
        finally:
            for task in (sender, receiver, printer):
                task.cancel()
            await asyncio.gather(sender, receiver, printer, return_exceptions=True)

    def _end_call(self, now: float) -> None:
        if self.ended_at is not None:
            return
        self.ended_at = now
        # Nothing more is heard once the line is down: audio still queued is lost.
        self.result.unplayed_at_end_s = self.playout.clear(now).dropped_s
        if self.speaking is None:  # else the open reply was queued when the caller began
            self.lines.put_nowait(self.replies[-1])
        who = self.result.hung_up_by or "agent"
        self.result.hung_up_by = who
        self._say(f"({who} hung up after {now - self.t0:.1f} s)")

    async def _hang_up_if_needed(self) -> None:
        if self.result.hung_up_by != "caller":
            return
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(
                proto.stop_message(
                    self.result.stream_id, self.result.call_control_id, sequence_number=self._seq()
                )
            )
        await self.ws.close(1000)

    # --- sending and turn-taking -------------------------------------------------
    async def _send_loop(self) -> None:
        clock = FrameClock(self.loop.time())
        stream_id = self.result.stream_id
        try:
            while not self.over.is_set():
                delay = clock.next_deadline - self.loop.time()
                # Always yield: when running late, the receiver must still get its turn.
                await asyncio.sleep(max(delay, 0.0))
                now = self.loop.time()
                for nominal in clock.take(now):
                    frame = self._next_frame(now)
                    if frame is None:
                        self.result.hung_up_by = "caller"
                        return
                    chunk = self.result.frames_sent + 1
                    self.result.caller_audio.append((nominal - self.t0, frame))
                    await self.ws.send(
                        proto.inbound_media_message(
                            stream_id,
                            frame,
                            chunk=chunk,
                            timestamp=(chunk - 1) * 20,  # ms of audio, like an RTP clock
                            sequence_number=self._seq(),
                        )
                    )
                    self.result.frames_sent = chunk
        except ConnectionClosed:
            return
        finally:
            self.result.schedule_slips = clock.slipped

    def _next_frame(self, now: float) -> bytes | None:
        if self.speaking is None:
            action = self._decide(now)
            if action is _Action.HANG_UP:
                return None
            if action is _Action.SPEAK:
                self._start_utterance(now)
        utt = self.speaking
        if utt is None:
            frame = self.noise[self.noise_pos]
            self.noise_pos = (self.noise_pos + 1) % len(self.noise)
            return frame
        frame = utt.frames[self.pos]
        self.pos += 1
        if self.pos == len(utt.frames):
            self._finish_utterance(now)
        return frame

    def _decide(self, now: float) -> _Action:
        """Turn-taking: speak after the agent went quiet for ``pause_s``, or barge in."""
        reply = self.replies[-1]
        script_done = self.next_utt >= len(self.utterances)
        if now - self.t0 >= self.max_call_s:
            return _Action.HANG_UP
        if not script_done and self.utterances[self.next_utt].barge_in:
            started = self.playout.tag_start(reply.index)
            if started is not None and now >= started + BARGE_IN_DELAY_S:
                return _Action.SPEAK
        if reply.frames > 0:
            quiet = self.playout.idle_for(now)
            if quiet >= (self.hangup_after_s if script_done else self.pause_s):
                return _Action.HANG_UP if script_done else _Action.SPEAK
            return _Action.WAIT
        if now - reply.opened_at >= self.reply_timeout_s:
            reply.timed_out = True
            self.result.timeouts += 1
            return _Action.HANG_UP if script_done else _Action.SPEAK
        return _Action.WAIT

    def _start_utterance(self, now: float) -> None:
        utt = self.utterances[self.next_utt]
        self.next_utt += 1
        self.speaking, self.pos = utt, 0
        utt.started_at = now
        self.lines.put_nowait(self.replies[-1])
        self._say(f"caller{' (barging in)' if utt.barge_in else ''}: {utt.text}")
        if not utt.frames:
            self._finish_utterance(now)

    def _finish_utterance(self, now: float) -> None:
        assert self.speaking is not None
        self.speaking.ended_at = now
        self.speaking = None
        self.replies.append(_Reply(len(self.replies), now))

    # --- receiving and the playout model -----------------------------------------
    async def _receive(self) -> None:
        ws = self.ws
        try:
            while True:
                due = self.playout.next_mark_at()
                if due is None:
                    raw = await ws.recv()
                else:
                    timeout = due - self.loop.time()
                    if timeout > 0:
                        try:
                            raw = await asyncio.wait_for(ws.recv(), timeout)
                        except TimeoutError:
                            raw = None
                    else:
                        raw = None
                now = self.loop.time()
                await self._echo(self.playout.due_marks(now))
                if raw is not None:
                    await self._handle(raw, now)
        except ConnectionClosed as exc:
            if self.result.hung_up_by is None:
                self.result.hung_up_by = "agent"
            rcvd = exc.rcvd
            self.result.close_code = rcvd.code if rcvd is not None else 1006
            self.result.close_reason = rcvd.reason if rcvd is not None else ""

    async def _handle(self, raw: str | bytes, now: float) -> None:
        try:
            msg = proto.parse_outbound(raw)
        except proto.MalformedMessage as exc:
            self.result.malformed_received += 1
            if self.result.malformed_received == 1:
                log.warning("simulated caller: malformed message from the app: %s", exc)
            return
        if isinstance(msg, proto.OutboundMedia):
            reply = self.replies[-1]
            self.playout.push_audio(now, msg.payload, reply.index)
            self.media_times.append(now)
            self.result.frames_received += 1
            reply.frames += 1
            if reply.first_received is None:
                reply.first_received = now
        elif isinstance(msg, proto.OutboundMark):
            self.result.marks_received += 1
            await self._echo(self.playout.push_mark(now, msg.name))
        else:
            self.result.clears_received += 1
            self.clear_times.append(now)
            cleared = self.playout.clear(now)
            for tag in cleared.tags:
                self.replies[tag].interrupted = True
            await self._echo(list(cleared.marks))

    async def _echo(self, names: list[str]) -> None:
        for name in names:
            await self.ws.send(
                proto.mark_echo_message(self.result.stream_id, name, sequence_number=self._seq())
            )
            self.result.marks_echoed += 1

    # --- transcript, printed in dialogue order -----------------------------------
    async def _print_lines(self) -> None:
        while (item := await self.lines.get()) is not None:
            if isinstance(item, _Reply):
                await self._finish_reply(item)
                item_line = _agent_line(self._reply_turn(item))
            else:
                item_line = item
            if self.on_event is not None:
                try:
                    self.on_event(item_line)
                except Exception:  # a broken progress printer must not end the call
                    log.exception("simulated caller: on_event callback failed")

    async def _finish_reply(self, reply: _Reply) -> None:
        """Wait until the reply has played out (or was cut), then recognize what was heard."""
        while True:
            end = self.playout.tag_end(reply.index)
            now = self.loop.time()
            if end is None or end <= now or self.ended_at is not None:
                break
            await asyncio.sleep(min(end - now, 0.25))
        until = self.ended_at if self.ended_at is not None else self.loop.time()
        heard = b"".join(p for _, p in self.playout.played(reply.index, until))
        reply.audio_s = len(heard) / LINE_RATE
        if self.recognizer is not None and heard:
            reply.text = await self.recognizer.recognize(self.codec, heard)

    def _reply_turn(self, reply: _Reply) -> Turn:
        if reply.index == 0:
            since: float | None = self.t0
        else:
            since = self.utterances[reply.index - 1].ended_at
        response = (
            None
            if reply.first_received is None or since is None
            else (reply.first_received - since) * 1000
        )
        return Turn(
            speaker="agent",
            text=reply.text,
            response_ms=response,
            interrupted=reply.interrupted,
            timed_out=reply.timed_out,
            audio_s=reply.audio_s,
        )

    # --- the result ----------------------------------------------------------------
    def finish_result(self) -> SimulationResult:
        result = self.result
        end = self.ended_at if self.ended_at is not None else self.loop.time()
        result.duration_s = end - self.t0
        turns: list[Turn] = []
        for index, reply in enumerate(self.replies):
            if index > 0:
                turns.append(Turn(speaker="caller", text=self.utterances[index - 1].text))
            if reply.frames or reply.timed_out:
                turns.append(self._reply_turn(reply))
        if self.speaking is not None:  # the line went down mid-sentence
            turns.append(Turn(speaker="caller", text=self.speaking.text, interrupted=True))
        result.turns = turns
        first = self.replies[0].first_received
        result.greeting_ms = None if first is None else (first - self.t0) * 1000
        result.agent_audio = [(t - self.t0, p) for t, p in self.playout.played(until=end)]
        barge = next((u for u in self.utterances if u.barge_in), None)
        if barge is not None and barge.started_at is not None:
            speech_end = barge.ended_at if barge.ended_at is not None else end
            interrupted = self.replies[barge.index]
            heard_until = self.playout.tag_end(interrupted.index)
            result.barge_in = measure_barge_in(
                utterance=barge.index,
                speech_start=barge.started_at,
                speech_end=speech_end,
                overlapped=heard_until is not None and heard_until > barge.started_at,
                clear_times=self.clear_times,
                media_times=self.media_times,
                heard_until=heard_until,
            )
        return result


_RECOGNIZER_ENTRY = "from voxagent.simulator.caller import _recognizer_main; _recognizer_main()"
_HEADER = struct.Struct(">cI")  # codec letter (b"U"/b"A"), payload length
RECOGNIZE_TIMEOUT_S = 60.0


def _recognizer_main() -> None:
    """Child process: length-prefixed G.711 on stdin, one line of recognized text per request.

    The protocol runs on a private copy of stdout; fd 1 is pointed at stderr so nothing a C
    library prints can corrupt it. An empty payload is a ping (answers once the model is
    loaded).
    """
    from pocketsphinx import Config, Decoder

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    decoder = Decoder(Config(samprate=ASR_RATE, loglevel="FATAL"))
    source = sys.stdin.buffer
    while header := source.read(_HEADER.size):
        if len(header) < _HEADER.size:
            break
        letter, size = _HEADER.unpack(header)
        payload = source.read(size)
        text = ""
        if payload:
            codec = codec_for("PCMA" if letter == b"A" else "PCMU")
            pcm = resample(codec.decode(payload), LINE_RATE, ASR_RATE)
            decoder.start_utt()
            decoder.process_raw(pcm.tobytes(), False, True)
            decoder.end_utt()
            hyp = decoder.hyp()
            text = hyp.hypstr if hyp is not None else ""
        out.write(" ".join(text.split()).encode("utf-8") + b"\n")
        out.flush()


class _Recognizer:
    """PocketSphinx in a child process, shared by all simulated calls on one event loop.

    PocketSphinx's binding holds the GIL while it decodes (measured: a 3 s clip stalls the
    event loop for ~1.3 s), so ``asyncio.to_thread`` would wreck the 20 ms send clock of
    every caller in the process, and the server's too when both share a loop (``voxagent
    demo``). A child process keeps the loop free. Requests are serialized (one decoder); a
    dead child degrades to empty transcripts with one warning, never a failed call.
    """

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._broken = False
        self.users = 0

    async def start(self) -> None:
        """Spawn the child and wait until its model is loaded (idempotent)."""
        async with self._lock:
            if self._proc is None and not self._broken:
                try:
                    self._proc = await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-c",
                        _RECOGNIZER_ENTRY,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                except OSError as exc:
                    self._fail(f"cannot start the recognizer process: {exc}")
                    return
                await self._request(b"U", b"")

    async def recognize(self, codec: G711Codec, payload: bytes) -> str:
        async with self._lock:
            return await self._request(b"A" if codec.name == "PCMA" else b"U", payload)

    async def _request(self, letter: bytes, payload: bytes) -> str:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None or self._broken:
            return ""
        try:
            proc.stdin.write(_HEADER.pack(letter, len(payload)) + payload)
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), RECOGNIZE_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            self._fail(f"recognizer process failed: {exc!r}")
            return ""
        if not line:
            self._fail(f"recognizer process exited (code {proc.returncode})")
            return ""
        return line.decode("utf-8", "replace").strip()

    def _fail(self, why: str) -> None:
        if not self._broken:
            log.warning("simulated caller: %s; agent replies will not be transcribed", why)
        self._broken = True

    async def close(self) -> None:
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()


_RECOGNIZERS: dict[asyncio.AbstractEventLoop, _Recognizer] = {}


@contextlib.asynccontextmanager
async def _borrow_recognizer() -> AsyncIterator[_Recognizer]:
    """The loop's shared recognizer; the last call to finish with it stops the child."""
    loop = asyncio.get_running_loop()
    recognizer = _RECOGNIZERS.get(loop)
    if recognizer is None:
        recognizer = _RECOGNIZERS[loop] = _Recognizer()
    recognizer.users += 1
    try:
        yield recognizer
    finally:
        recognizer.users -= 1
        if recognizer.users == 0:
            if _RECOGNIZERS.get(loop) is recognizer:
                del _RECOGNIZERS[loop]
            await recognizer.close()


def _random_number() -> str:
    return (
        "+1" + str(2 + secrets.randbelow(8)) + "".join(str(secrets.randbelow(10)) for _ in range(9))
    )


def _call_control_id() -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode("ascii").rstrip("=")
    return "v3:" + raw


async def _render_script(
    utterances: Sequence[str],
    tts: SpeechRenderer,
    codec: G711Codec,
    barge_in_turn: int | None,
) -> list[_Utterance]:
    """Synthesize, resample, encode and cut every utterance before dialling."""
    out: list[_Utterance] = []
    for index, text in enumerate(utterances):
        audio = await asyncio.to_thread(tts.render_blocking, text)
        pcm = np.asarray(audio, dtype=np.int16)
        pcm = trim_silence(pcm, tts.sample_rate)
        scaled = np.rint(pcm.astype(np.float32) * SPEECH_GAIN).astype(np.int16)
        line = resample(scaled, tts.sample_rate, LINE_RATE)
        frames = split_frames(codec.encode(line), FRAME_BYTES, codec.silence_byte)
        out.append(_Utterance(index, text, frames, barge_in=index == barge_in_turn))
    return out


async def simulate_call(
    url: str,
    utterances: list[str],
    *,
    encoding: str = "PCMU",
    barge_in: bool = False,
    barge_in_turn: int = 1,
    auth_token: str | None = None,
    tts: SpeechRenderer | None = None,
    pause_s: float = 0.9,
    reply_timeout_s: float = 15.0,
    transcribe: bool = True,
    wav_path: str | os.PathLike[str] | None = None,
    on_event: Callable[[str], None] | None = None,
    hangup_after_s: float = 2.0,
    max_call_s: float = 600.0,
    call_control_id: str | None = None,
    client_state: str | None = None,
) -> SimulationResult:
    """Place one simulated Telnyx call to ``url`` (our ``WS /stream/media``) and report it.

    The caller waits for the greeting, then says each utterance once the agent has been
    quiet for ``pause_s``; a reply that does not start within ``reply_timeout_s`` is
    recorded as a timeout. With ``barge_in``, utterance number ``barge_in_turn`` (0-based
    index into ``utterances``; 0 talks over the greeting, 1 over the reply to the first
    utterance) starts 1 s after the agent's reply begins playing. After the script the
    caller hangs up (``stop`` + close 1000) once the agent has been quiet for
    ``hangup_after_s``, unless the agent hung up first. ``tts`` lets many callers share one
    loaded voice (loading Piper takes ~1.5 s). Connection errors propagate (``OSError``,
    ``websockets.exceptions.InvalidHandshake``).
    """
    codec = codec_for(encoding)
    if barge_in and not 0 <= barge_in_turn < len(utterances):
        raise ValueError(
            f"barge_in_turn={barge_in_turn} is not an utterance index (0..{len(utterances) - 1})"
        )
    async with contextlib.AsyncExitStack() as stack:
        recognizer = None
        if transcribe:
            recognizer = await stack.enter_async_context(_borrow_recognizer())
        result = await _place_call(
            url,
            utterances,
            codec,
            barge_in_turn=barge_in_turn if barge_in else None,
            auth_token=auth_token,
            tts=tts,
            recognizer=recognizer,
            pause_s=pause_s,
            reply_timeout_s=reply_timeout_s,
            hangup_after_s=hangup_after_s,
            max_call_s=max_call_s,
            on_event=on_event,
            call_control_id=call_control_id,
            client_state=client_state,
        )
    if wav_path is not None:
        await asyncio.to_thread(result.write_wav, wav_path)
    return result


async def _place_call(
    url: str,
    utterances: list[str],
    codec: G711Codec,
    *,
    barge_in_turn: int | None,
    auth_token: str | None,
    tts: SpeechRenderer | None,
    recognizer: _Recognizer | None,
    pause_s: float,
    reply_timeout_s: float,
    hangup_after_s: float,
    max_call_s: float,
    on_event: Callable[[str], None] | None,
    call_control_id: str | None = None,
    client_state: str | None = None,
) -> SimulationResult:
    # The recognizer child loads its model while Piper renders the script.
    warming = asyncio.create_task(recognizer.start()) if recognizer is not None else None
    owned_tts = None
    try:
        if tts is None:
            from voxagent.providers.tts.piper import PiperVoiceSynthesizer

            owned_tts = await asyncio.to_thread(PiperVoiceSynthesizer)
            tts = owned_tts
        script = await _render_script(utterances, tts, codec, barge_in_turn)
    finally:
        if owned_tts is not None:
            await owned_tts.close()
        if warming is not None:
            await warming
    result = SimulationResult(
        url=url,
        encoding=codec.name,
        stream_id=str(uuid.uuid4()).upper(),
        call_control_id=call_control_id or _call_control_id(),
    )
    headers = {"x-telnyx-streaming-auth-token": auth_token} if auth_token else None
    async with connect(
        url,
        additional_headers=headers,
        compression=None,  # Telnyx sends plain frames; deflate would cost CPU per frame
        max_size=proto.MAX_OUTBOUND_MESSAGE_BYTES,
        user_agent_header="voxagent-simulated-caller",
    ) as ws:
        session = _CallSession(
            ws,
            result,
            script,
            codec,
            auth_token=auth_token,
            pause_s=pause_s,
            reply_timeout_s=reply_timeout_s,
            hangup_after_s=hangup_after_s,
            max_call_s=max_call_s,
            recognizer=recognizer,
            on_event=on_event,
            client_state=client_state,
        )
        await session.run()
        session.finish_result()
    return result
