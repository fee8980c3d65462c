"""The agent's mouth: sentences of audio out to the channel, paced like a person's ear hears them.

The respond side puts :class:`Segment` s (one per sentence) and a :class:`TurnDone` in the outbox;
the sender plays them one 20 ms frame at a time, at most ``lead_ms`` ahead of the wall clock,
with a mark after every sentence. So at any moment the call knows what the caller has actually
heard: the play clock, and which marks came back.

A barge-in (:meth:`Speaker.interrupt`) stops the sentence in flight at once, takes back what
was queued, and says what was already heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voxagent.agents.base import EndCall, Transfer
from voxagent.audio.format import AudioFormat
from voxagent.audio.levels import rms_dbfs
from voxagent.conversation.channel import Channel
from voxagent.conversation.echo import EchoGate
from voxagent.conversation.recorder import CallRecorder
from voxagent.conversation.timeline import TurnTimeline

__all__ = [
    "CallAction",
    "OutboxItem",
    "Segment",
    "Speaker",
    "TurnDone",
    "heard_prefix",
    "reported_prefix",
]

FRAME_MS = 20
MARK_WAIT_S = 2.0
"""How long past the play clock a call action waits for marks a peer may never echo."""


@dataclass(slots=True)
class Segment:
    """One sentence of agent audio, in the call's format. It may still be growing while it
    plays: a streaming voice's first chunk is sent at once instead of after the sentence."""

    turn: TurnTimeline
    text: str
    audio: bytearray
    complete: bool = True
    mark: str = ""
    play_start: float = 0.0
    duration: float = 0.0
    sent_from: int = 0
    """Bytes of agent audio the channel had been sent before this sentence began."""
    sent: int = 0
    """Bytes of this sentence sent so far."""
    grew: asyncio.Event = field(default_factory=asyncio.Event)

    def extend(self, data: bytes) -> None:
        if data:
            self.audio += data
            self.grew.set()

    def finish(self) -> None:
        self.complete = True
        self.grew.set()


@dataclass(frozen=True, slots=True)
class CallAction:
    """Hang up or transfer once everything before it has been heard."""

    turn: TurnTimeline
    action: EndCall | Transfer


@dataclass(frozen=True, slots=True)
class TurnDone:
    """Every sentence of the turn is queued before this."""

    turn: TurnTimeline


OutboxItem = Segment | CallAction | TurnDone


@dataclass(slots=True)
class Interrupted:
    """What a barge-in took back: the turn it cut, and the words the caller did hear."""

    turn: TurnTimeline | None
    heard: str


class Speaker:
    def __init__(
        self,
        channel: Channel,
        *,
        lead_ms: int,
        recorder: CallRecorder | None,
        on_first_audio: Callable[[Segment], None],
        on_turn_done: Callable[[TurnTimeline, str], Awaitable[None]],
        on_action: Callable[[EndCall | Transfer], Awaitable[None]],
        name: str = "",
    ) -> None:
        self.channel = channel
        self.format: AudioFormat = channel.audio_format
        self.frame_bytes = self.format.bytes_for_ms(FRAME_MS)
        self._silence = self.format.silence(self.frame_bytes)
        self._lead = lead_ms / 1000
        self._recorder = recorder
        self._on_first_audio = on_first_audio
        self._on_turn_done = on_turn_done
        self._on_action = on_action
        self._name = name
        self.outbox: asyncio.Queue[OutboxItem] = asyncio.Queue()
        self.playing: Segment | None = None
        self._played: list[Segment] = []
        self._unacked: dict[str, Segment] = {}
        self._mark_ids = itertools.count(1)
        self.play_clock = 0.0
        """Loop time at which the caller will have heard everything sent so far."""
        self.sent_bytes = 0
        """All agent audio sent to the channel so far (what ``played_bytes`` is counted in)."""
        self.echo = EchoGate(channel.echo_margin_db) if channel.echo_margin_db is not None else None
        """On a line without echo cancellation: what the agent plays, to tell its echo apart."""
        self._task: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- control
    def start(self) -> None:
        self.play_clock = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._send(), name=f"send-{self._name}")

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def mark_played(self, name: str) -> None:
        self._unacked.pop(name, None)

    @property
    def busy(self) -> bool:
        """Something is queued, being sent, or still playing out at the far end."""
        return (
            self.playing is not None
            or not self.outbox.empty()
            or asyncio.get_running_loop().time() < self.play_clock
        )

    async def interrupt(self) -> Interrupted:
        """Stop now: cancel the sender, drop the queue, restart clean. Returns what was heard."""
        now = asyncio.get_running_loop().time()
        pending: list[OutboxItem] = []
        while not self.outbox.empty():
            pending.append(self.outbox.get_nowait())
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        playing, self.playing = self.playing, None
        self._task = asyncio.create_task(self._send(), name=f"send-{self._name}")
        self.play_clock = now
        self._unacked.clear()

        if self.echo is not None:
            self.echo.reset()
        turn = playing.turn if playing is not None else None
        if turn is None and self._played:
            turn = self._played[-1].turn
        for item in pending:
            if turn is None and not isinstance(item, CallAction):
                turn = item.turn
        segments = [*self._played, *([playing] if playing is not None else [])]
        played = self.channel.played_bytes()
        if played is None:  # go by the clock
            heard = [s.text for s in self._played]
            if playing is not None:
                heard.append(heard_prefix(playing, now))
        else:  # go by what the far end reports it played
            heard = [reported_prefix(s, played) for s in segments]
        self._played = []
        return Interrupted(turn, " ".join(t for t in heard if t))

    # ------------------------------------------------------------------- send
    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self.outbox.get()
            match item:
                case TurnDone(turn=turn):
                    self._forget_stale_marks(loop.time())
                    spoken = [s.text for s in self._played if s.turn is turn]
                    self._played = [s for s in self._played if s.turn is not turn]
                    await self._on_turn_done(turn, " ".join(spoken))
                case CallAction(action=action):
                    await self._wait_heard(loop)
                    await self._on_action(action)
                case Segment():
                    await self._play(item, loop)

    async def _play(self, segment: Segment, loop: asyncio.AbstractEventLoop) -> None:
        size = self.frame_bytes
        seconds = FRAME_MS / 1000
        segment.play_start = max(self.play_clock, loop.time())
        self.playing = segment
        i = 0
        while True:
            audio = segment.audio
            segment.duration = max(i, -(-len(audio) // size)) * seconds
            if (i + 1) * size > len(audio) and not segment.complete:
                # The voice is behind the caller's ear: wait, then resume the clock from now
                # (the caller hears a pause, never a burst).
                segment.grew.clear()
                await segment.grew.wait()
                late = loop.time() - (segment.play_start + i * seconds)
                if late > 0:
                    segment.play_start += late
                continue
            if i * size >= len(audio):
                break
            delay = segment.play_start + i * seconds - self._lead - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = bytes(audio[i * size : (i + 1) * size])
            if len(frame) < size:
                frame += self._silence[len(frame) :]
            if i == 0:
                segment.sent_from = self.sent_bytes
            if self.echo is not None:
                self.echo.played(loop.time(), rms_dbfs(self.format.decode(frame)))
            await self.channel.send_audio(frame)
            self.sent_bytes += size
            segment.sent += size
            if self._recorder is not None:
                self._recorder.agent(frame)
            if i == 0:
                self._on_first_audio(segment)
            i += 1
        self.play_clock = segment.play_start + segment.duration
        segment.mark = f"seg-{next(self._mark_ids)}"
        segment.audio = bytearray()  # heard and recorded: nothing needs the samples any more
        self._unacked[segment.mark] = segment
        await self.channel.send_mark(segment.mark)
        self._played.append(segment)
        self.playing = None

    def _forget_stale_marks(self, now: float) -> None:
        """A peer that never echoes marks must not make them pile up for the whole call."""
        stale = [
            name
            for name, segment in self._unacked.items()
            if segment.play_start + segment.duration < now - MARK_WAIT_S
        ]
        for name in stale:
            del self._unacked[name]

    async def _wait_heard(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the caller has heard everything sent: every mark echoed and the play
        clock reached; at most ``MARK_WAIT_S`` past the clock, for a peer that never echoes."""
        deadline = self.play_clock + MARK_WAIT_S
        while loop.time() < deadline:
            if not self._unacked and loop.time() >= self.play_clock - 0.05:
                return
            await asyncio.sleep(0.02)


def reported_prefix(segment: Segment, played: int) -> str:
    """The words of a sentence the far end reports it played, by the share of its bytes."""
    if segment.sent <= 0 or played <= segment.sent_from:
        return ""
    fraction = min(1.0, (played - segment.sent_from) / segment.sent)
    words = segment.text.split()
    return " ".join(words[: int(len(words) * fraction)])


def heard_prefix(segment: Segment, now: float) -> str:
    """The words of a sentence played before ``now``, by the fraction of its audio played."""
    if segment.duration <= 0 or segment.play_start <= 0:
        return ""
    fraction = min(1.0, max(0.0, (now - segment.play_start) / segment.duration))
    words = segment.text.split()
    return " ".join(words[: int(len(words) * fraction)])
