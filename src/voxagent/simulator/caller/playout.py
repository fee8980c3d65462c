"""The line as the caller sees it, as pure arithmetic on explicit times (no I/O, no clock).

:class:`Playout` models Telnyx's playout buffer for the audio the app sends (marks, ``clear``,
what was heard of each reply), :class:`FrameClock` the 20 ms send schedule, and the frame
helpers cut G.711 into the 160-byte frames the send loop picks from.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from voxagent.audio.g711 import G711Codec

__all__ = [
    "FRAME_BYTES",
    "FRAME_S",
    "LINE_RATE",
    "Cleared",
    "FrameClock",
    "Playout",
    "line_noise_frames",
    "split_frames",
]

LINE_RATE = 8000
FRAME_S = 0.02
FRAME_BYTES = 160  # 20 ms of 8 kHz G.711, one byte per sample
LINE_NOISE_LSB = 8
"""Amplitude of the line hiss sent between utterances: real lines are never digitally
silent, and a VAD that fires on ±8 LSB would misbehave on every real call."""


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
        return self._marks[0][0] if self.pending_marks else None

    def is_idle(self, now: float) -> bool:
        return self.busy_until <= now

    def idle_for(self, now: float) -> float:
        """Seconds since playback last went quiet (0 while playing, ``inf`` if never played)."""
        return max(0.0, now - self.busy_until) if self.is_idle(now) else 0.0

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
