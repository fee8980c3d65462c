"""One simulated call on its socket: the paced sender with the turn-taking policy, the
receiver feeding the playout model, and the dialogue printed in order."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from voxagent.audio.g711 import G711Codec
from voxagent.channels.telnyx import media_protocol as proto
from voxagent.simulator.caller.playout import LINE_RATE, FrameClock, Playout, line_noise_frames
from voxagent.simulator.caller.recognizer import _Recognizer
from voxagent.simulator.caller.results import (
    SimulationResult,
    Turn,
    _agent_line,
    measure_barge_in,
)
from voxagent.simulator.caller.resume import PLANNED_STOP, RESUME_WAIT_S, resume_line
from voxagent.simulator.caller.script import _Utterance

__all__ = ["BARGE_IN_DELAY_S"]

log = logging.getLogger(__package__)

BARGE_IN_DELAY_S = 1.0
"""How long after the agent's reply starts playing the barge-in utterance begins."""
MAX_REPEATS = 2
"""How many times the caller says a line again when the agent asks again."""
HEARING_WAIT_S = 3.0
"""How long the caller waits to make sense of the agent's reply before answering anyway."""
ASKED_AGAIN = ("sorry", "catch", "again", "what time on", "what day would", "yes or no")
"""Words of an agent that did not get the caller's last line (recognized loosely, lowercase)."""


def asks_again(reply_text: str) -> bool:
    """Whether the agent's reply, as the caller heard it, asks for the last line again."""
    text = reply_text.lower()
    return any(words in text for words in ASKED_AGAIN)


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
    hearing: asyncio.Task[None] | None = None
    """The caller making sense of this reply before answering (only with a recognizer)."""


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
        resumed: bool = False,
        resume_wait_s: float = RESUME_WAIT_S,
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
        self.resumed = resumed
        """The call went on before this stream (another stream, maybe another server): no
        greeting is due, and reply 0 is whatever the agent says first, if anything."""
        self.resume_wait_s = resume_wait_s
        self.loop = asyncio.get_running_loop()
        self.playout = Playout(LINE_RATE)
        self.noise = line_noise_frames(codec, rng=np.random.default_rng(secrets.randbits(64)))
        self.seq = 0
        self.t0 = self.loop.time()
        self.over = asyncio.Event()
        self.replies: list[_Reply] = [_Reply(0, self.t0)]
        self.next_utt = 0
        self.repeats = 0
        self.speaking: _Utterance | None = None
        self.pos = 0
        self.noise_pos = 0
        self.clear_times: list[float] = []
        self.media_times: list[float] = []
        self.ended_at: float | None = None
        self.quiet_at_end = 0.0
        """How long the agent's audio had been played out when the line went down."""
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
        self.quiet_at_end = self.playout.idle_for(now)
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
                if script_done:
                    return _Action.HANG_UP
                return _Action.SPEAK if self._understood(reply, now) else _Action.WAIT
            return _Action.WAIT
        if self.resumed and reply.index == 0:
            # A planned hand-over says nothing: after a while of silence, go on (or, with the
            # script done, hang up as after any quiet agent).
            wait = self.hangup_after_s if script_done else self.resume_wait_s
            if now - reply.opened_at >= wait:
                return _Action.HANG_UP if script_done else _Action.SPEAK
            return _Action.WAIT
        if now - reply.opened_at >= self.reply_timeout_s:
            reply.timed_out = True
            self.result.timeouts += 1
            return _Action.HANG_UP if script_done else _Action.SPEAK
        return _Action.WAIT

    def _understood(self, reply: _Reply, now: float) -> bool:
        """Like a person, make sense of the reply before answering: when the agent asks for
        the last line again, say it again (at most ``MAX_REPEATS`` times). False while the
        caller is still listening back."""
        if self.recognizer is None or reply.index == 0 or reply.interrupted:
            return True
        if reply.hearing is None:
            reply.hearing = asyncio.create_task(self._hear(reply, now))
            return False
        if not reply.hearing.done() and now - reply.opened_at < self.reply_timeout_s:
            quiet = self.playout.idle_for(now)
            if quiet < self.pause_s + HEARING_WAIT_S:
                return False
        if reply.hearing.done() and asks_again(reply.text) and self.repeats < MAX_REPEATS:
            self.repeats += 1
            again = self.utterances[self.next_utt - 1]
            self.utterances.insert(
                self.next_utt, _Utterance(again.index, again.text, again.frames, False)
            )
        else:
            self.repeats = 0
        return True

    async def _hear(self, reply: _Reply, until: float) -> None:
        assert self.recognizer is not None
        heard = b"".join(p for _, p in self.playout.played(reply.index, until))
        if heard:
            reply.text = await self.recognizer.recognize(self.codec, heard)

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
                if self.resumed and item.index == 0 and not item.frames:
                    continue  # the new stream began in silence: nothing was said
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
        if reply.hearing is not None:
            await asyncio.wait({reply.hearing})  # already heard before answering
        elif self.recognizer is not None and heard:
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
                said = self.utterances[index - 1]
                turns.append(Turn(speaker="caller", text=said.text, line=said.index))
            if reply.frames or reply.timed_out:
                turns.append(self._reply_turn(reply))
        if self.speaking is not None:  # the line went down mid-sentence
            said = self.speaking
            turns.append(Turn("caller", said.text, interrupted=True, line=said.index))
        result.turns = turns
        last = self.utterances[self.next_utt - 1] if self.next_utt else None
        result.resume_at = resume_line(
            None if last is None else last.index,
            mid_utterance=self.speaking is not None,
            reply_frames=self.replies[-1].frames,
            quiet_s=self.quiet_at_end,
            unplayed_s=result.unplayed_at_end_s,
            planned=result.close_reason == PLANNED_STOP,
        )
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


def _random_number() -> str:
    return (
        "+1" + str(2 + secrets.randbelow(8)) + "".join(str(secrets.randbelow(10)) for _ in range(9))
    )
