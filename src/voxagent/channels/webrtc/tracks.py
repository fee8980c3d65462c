"""Audio over a peer connection: the agent's outgoing track and the browser's incoming ones.

Out: one :class:`AgentAudioTrack` per peer. aiortc asks it for a frame whenever it wants one;
the track answers every 20 ms by the wall clock (speech when the engine has queued some,
silence otherwise), so the RTP stream is continuous and the track, not aiortc, sets the pace.
Frames leave at the call's 16 kHz; aiortc's Opus encoder resamples them once to 48 kHz.

What was heard: a frame that left at time *t* plays at *t* plus the browser's jitter-buffer
delay. The page measures that delay (``getStats()``: ``jitterBufferDelay`` /
``jitterBufferEmittedCount`` of its inbound audio) and reports it; until it does, 60 ms is
assumed. :meth:`AgentAudioTrack.played_bytes` is everything that left before *now − delay*:
on a barge-in the history keeps that, and no more.

In: every received track is read to its end (:func:`consume`), so no frame piles up in aiortc.
Audio is resampled once from Opus's 48 kHz stereo to the call's 16 kHz mono.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

__all__ = ["AgentAudioTrack", "consume", "pcm_frame"]

RATE = 16000
FRAME_SAMPLES = RATE // 50
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_S = 0.02
DEFAULT_JITTER_S = 0.06
MAX_QUEUED_FRAMES = 250
"""5 s of agent audio: the engine runs at most 80 ms ahead, so this is only a safety net."""
SILENCE = bytes(FRAME_BYTES)


def pcm_frame(pcm: bytes, pts: int) -> av.AudioFrame:
    """20 ms of 16 kHz mono PCM as the frame aiortc's encoder takes, stamped at ``pts``."""
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate = RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, RATE)
    return frame


class AgentAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._queue: deque[bytes | str] = deque()
        """20 ms frames and, between them, mark names (a sentence's end)."""
        self._pushed = 0
        """Agent audio bytes handed to the track (dropped ones included: the engine counts them)."""
        self._queued_end: deque[int] = deque()
        """The cumulative position at the end of each queued frame."""
        self._sent: deque[tuple[float, int]] = deque(maxlen=200)
        """(time a speech frame left, position at its end), newest last (4 s)."""
        self._started: float | None = None
        self._frames_out = 0
        self.jitter_s = DEFAULT_JITTER_S
        self.speech_frames = 0
        self.on_mark: Callable[[str], None] = lambda name: None
        """Told when a sentence's last frame has been played (left, plus the jitter delay)."""

    # --------------------------------------------------------------- the engine
    def push(self, frame: bytes) -> None:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"frames are {FRAME_BYTES} bytes (20 ms at 16 kHz), got {len(frame)}")
        self._pushed += len(frame)
        if len(self._queued_end) >= MAX_QUEUED_FRAMES:
            return  # the engine is far ahead of the clock: count it as sent, drop it
        self._queue.append(frame)
        self._queued_end.append(self._pushed)

    def mark(self, name: str) -> None:
        if not self._queue:
            self._mark_after_jitter(name)
        else:
            self._queue.append(name)

    def clear(self) -> int:
        """Stop at once: drop every queued frame (and its marks). Returns the bytes dropped."""
        dropped = sum(len(item) for item in self._queue if isinstance(item, bytes))
        self._queue.clear()
        self._queued_end.clear()
        return dropped

    def played_bytes(self) -> int:
        """Agent audio the browser has played by now (see the module's note)."""
        heard_before = self._clock() - self.jitter_s
        played = 0
        for sent_at, position in self._sent:
            if sent_at > heard_before:
                break
            played = position
        return played

    @property
    def queued_frames(self) -> int:
        return len(self._queued_end)

    # --------------------------------------------------------------- aiortc
    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = self._clock()
        if self._started is None:
            self._started = now
        due = self._started + self._frames_out * FRAME_S
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.2:  # the loop stalled: don't burst to catch up, start again
            self._started = now - self._frames_out * FRAME_S
        frame = pcm_frame(self._next_frame(), self._frames_out * FRAME_SAMPLES)
        self._frames_out += 1
        return frame

    def _next_frame(self) -> bytes:
        while self._queue and isinstance(self._queue[0], str):
            self._mark_after_jitter(str(self._queue.popleft()))
        if not self._queue:
            return SILENCE
        frame = self._queue.popleft()
        assert isinstance(frame, bytes)
        position = self._queued_end.popleft()
        self._sent.append((self._clock(), position))
        self.speech_frames += 1
        while self._queue and isinstance(self._queue[0], str):
            self._mark_after_jitter(str(self._queue.popleft()))
        return frame

    def _mark_after_jitter(self, name: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.on_mark(name)
            return
        loop.call_later(self.jitter_s, self.on_mark, name)


async def consume(track: MediaStreamTrack, on_pcm: Callable[[bytes], None] | None) -> None:
    """Read ``track`` until it ends; audio goes to ``on_pcm`` as 16 kHz mono PCM (video, or
    audio nobody wants, is read and dropped so it does not pile up)."""
    resampler = (
        av.AudioResampler(format="s16", layout="mono", rate=RATE)
        if track.kind == "audio" and on_pcm is not None
        else None
    )
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if resampler is None or on_pcm is None or not isinstance(frame, av.AudioFrame):
            continue
        for out in resampler.resample(frame):
            on_pcm(bytes(out.planes[0])[: out.samples * 2])
