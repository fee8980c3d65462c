"""One live conversation: hear the caller, let the agent answer, speak, and yield when cut off.

Three tasks per call, connected by queues:

* **ingest** — caller audio → VAD windows → turn detector; opens a recognition stream when
  speech starts (with pre-roll so the first syllable is not lost) and closes it at end of turn.
  Sustained caller speech while the agent is thinking or talking is a barge-in.
* **respond** — one per turn: agent actions → sentences → TTS → the outbox. The next sentence is
  synthesized while the previous one plays.
* **send** — outbox → channel, one 20 ms frame at a time paced by the wall clock, a mark after
  every sentence, so we always know what the caller has actually heard.

Barge-in cancels the respond task, empties the outbox, tells the channel to drop its buffer,
and writes to the history only the part of the reply that was played.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from voxagent.agents.base import Agent, AgentAction, EndCall, Say, Transfer
from voxagent.audio.resample import StreamResampler
from voxagent.audio.vad import GatedVad, SpeechProbability
from voxagent.conversation.channel import Channel
from voxagent.conversation.history import History
from voxagent.conversation.recorder import CallRecorder
from voxagent.conversation.sentences import SentenceSplitter
from voxagent.conversation.timeline import TurnTimeline
from voxagent.conversation.turns import SpeechStarted, SpeechStopped, TurnDetector
from voxagent.providers.errors import ProviderError
from voxagent.providers.fallback import (
    FallbackRecognizer,
    FallbackVoice,
    ProviderChain,
    SwitchCallback,
)
from voxagent.providers.stt.base import SpeechToText, TranscriptionStream
from voxagent.providers.tts.base import TextToSpeech

log = logging.getLogger(__name__)
turn_log = logging.getLogger("voxagent.turns")

FRAME_MS = 20
PRE_ROLL_MS = 300
STT_TRAILING_SILENCE_MS = 300
"""Silence inside a turn beyond this is held back from the recognizer (and given to it only if
speech resumes): PocketSphinx's accuracy drops sharply on long silent tails (measured:
"my dog's name is luna" → "my dog when a woman" with 700 ms of trailing line noise)."""
INBOUND_QUEUE_FRAMES = 250
"""Five seconds of caller audio; beyond that the loop is hopelessly behind and we drop."""


class CallState(StrEnum):
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    THINKING = "thinking"
    BOT_SPEAKING = "bot_speaking"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    vad_threshold: float = 0.5
    min_speech_ms: int = 120
    end_of_turn_silence_ms: int = 600
    barge_in_min_ms: int = 200
    max_history_messages: int = 50
    max_call_seconds: int = 1800
    send_lead_ms: int = 80
    speculative: bool = False
    """Let the agent start on an interim transcript that stayed unchanged for
    ``speculation_stable_ms`` (agents that can, i.e. have ``prefetch``)."""
    speculation_stable_ms: int = 200
    """How far ahead of real time audio is sent: enough to ride out jitter, short enough that
    the far end never holds more than a few frames."""


@dataclass(slots=True)
class _Segment:
    """One sentence of agent audio. It may still be growing while it plays: a streaming
    voice's first chunk is sent at once instead of after the whole sentence."""

    turn: TurnTimeline
    text: str
    pcm: np.ndarray
    mark: str = ""
    play_start: float = 0.0
    duration: float = 0.0
    sent_frames: int = 0
    complete: bool = True
    grew: asyncio.Event = field(default_factory=asyncio.Event)

    def extend(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self.pcm = np.concatenate([self.pcm, pcm])
            self.grew.set()

    def finish(self) -> None:
        self.complete = True
        self.grew.set()


@dataclass(frozen=True, slots=True)
class _CallAction:
    turn: TurnTimeline
    action: EndCall | Transfer


@dataclass(frozen=True, slots=True)
class _TurnDone:
    turn: TurnTimeline


_OutboxItem = _Segment | _CallAction | _TurnDone


@dataclass
class CallSummary:
    call_id: str
    outcome: str
    started_at: float
    ended_at: float
    history: list[dict[str, object]]
    turns: list[dict[str, object]]
    barge_ins: int
    dropped_frames: int


@dataclass
class CallServices:
    """What all calls share: providers, worker pools, tunables."""

    stt: SpeechToText
    tts: TextToSpeech
    vad_factory: Callable[[int], SpeechProbability]
    vad_executor: Executor
    config: EngineConfig = field(default_factory=EngineConfig)
    stt_fallbacks: Sequence[SpeechToText] = ()
    tts_fallbacks: Sequence[TextToSpeech] = ()
    on_provider_switch: SwitchCallback | None = None

    def recognizer_for(self, call_id: str, language: str | None = None) -> FallbackRecognizer:
        """This call's walk through the recognizer chain; one that cannot understand the
        call's language is no fallback for it."""
        recognizers = [self.stt, *self.stt_fallbacks]
        if language is not None:
            recognizers = [r for r in recognizers if language in r.languages] or recognizers[:1]
        return FallbackRecognizer(
            ProviderChain("stt", recognizers, call_id=call_id, on_switch=self.on_provider_switch)
        )

    def voice_for(self, call_id: str) -> FallbackVoice:
        """This call's walk through the voice chain."""
        return FallbackVoice(
            ProviderChain(
                "tts",
                [self.tts, *self.tts_fallbacks],
                call_id=call_id,
                on_switch=self.on_provider_switch,
            )
        )


ApologyFactory = Callable[[], AsyncIterator[AgentAction]]
"""What to say and do when a stage has no working provider left (the runtime knows the
persona: an apology, then a transfer to a person or a hang-up)."""


async def _hang_up_quietly() -> AsyncIterator[AgentAction]:
    yield EndCall("provider_failure")


TurnCallback = Callable[["Call", TurnTimeline], Awaitable[None]]


class Call:
    def __init__(
        self,
        call_id: str,
        channel: Channel,
        agent: Agent,
        services: CallServices,
        *,
        on_turn: TurnCallback | None = None,
        on_transcript: Callable[[str, str, bool], None] | None = None,
        language: str | None = None,
        apology: ApologyFactory | None = None,
        recorder: CallRecorder | None = None,
    ) -> None:
        self.call_id = call_id
        self.channel = channel
        self.agent = agent
        self.services = services
        self.config = services.config
        self.history = History(self.config.max_history_messages)
        self.turns: list[TurnTimeline] = []
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self.outcome = "in_progress"
        self.barge_ins = 0
        self.dropped_frames = 0
        self.last_interim = ""
        self._on_turn = on_turn
        self._on_transcript = on_transcript
        self._apology = apology or _hang_up_quietly
        self.recorder = recorder
        self.stt = services.recognizer_for(call_id, language)
        self.tts = services.voice_for(call_id)
        self.transfer_to: str | None = None
        """Where to send the caller when no voice is left (the persona's phone number)."""

        rate = channel.sample_rate
        self._frame_samples = rate * FRAME_MS // 1000
        self._vad = GatedVad(services.vad_factory(rate))
        self._turns = TurnDetector(
            self._vad.window_samples * 1000 / rate,
            threshold=self.config.vad_threshold,
            min_speech_ms=self.config.min_speech_ms,
            end_silence_ms=self.config.end_of_turn_silence_ms,
        )
        self._pre_roll: deque[np.ndarray] = deque(
            maxlen=max(1, (PRE_ROLL_MS + self.config.min_speech_ms) // FRAME_MS + 2)
        )
        self._inbound: asyncio.Queue[np.ndarray] = asyncio.Queue(INBOUND_QUEUE_FRAMES)
        self._outbox: asyncio.Queue[_OutboxItem] = asyncio.Queue()
        self._stt_stream: TranscriptionStream | None = None
        self._held: list[np.ndarray] = []
        self._respond_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._turn_index = itertools.count()
        self._mark_ids = itertools.count(1)
        self._playing: _Segment | None = None
        self._played: list[_Segment] = []
        self._unacked_marks: dict[str, _Segment] = {}
        self._play_clock = 0.0
        self._ended = asyncio.Event()
        self._speaking_turn: TurnTimeline | None = None
        self._speculation: asyncio.TimerHandle | None = None

    @property
    def agent_provider(self) -> str:
        """Which brain answers now (an LLM agent's model may have fallen back)."""
        return str(getattr(self.agent, "provider_name", "scripted"))

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> CallState:
        if self._ended.is_set():
            return CallState.ENDED
        if self._playing is not None or not self._outbox.empty():
            return CallState.BOT_SPEAKING
        if self._turns.speaking:
            return CallState.USER_SPEAKING
        if self._respond_task is not None and not self._respond_task.done():
            return CallState.THINKING
        return CallState.LISTENING

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    # ------------------------------------------------------- channel → call
    def start(self) -> None:
        """Begin: greet the caller and start listening."""
        loop = asyncio.get_running_loop()
        self._play_clock = loop.time()
        self._tasks = [
            asyncio.create_task(self._ingest(), name=f"ingest-{self.call_id}"),
            asyncio.create_task(self._send(), name=f"send-{self.call_id}"),
            asyncio.create_task(self._watchdog(), name=f"watchdog-{self.call_id}"),
        ]
        self._start_response(self.agent.greeting(), self._new_turn())

    def push_audio(self, pcm: np.ndarray) -> None:
        """Caller audio (int16 at the channel rate). Never blocks; drops if hopelessly behind."""
        if self._ended.is_set():
            return
        if self.recorder is not None:
            self.recorder.caller(pcm)
        try:
            self._inbound.put_nowait(pcm)
        except asyncio.QueueFull:
            self.dropped_frames += 1

    def mark_played(self, name: str) -> None:
        """The far end has played everything up to mark ``name``."""
        self._unacked_marks.pop(name, None)

    def say_and_end(self, actions: AsyncIterator[AgentAction]) -> None:
        """Cut in with ``actions`` (say a line, then end): used to close calls at shutdown."""

        async def cut_in() -> None:
            if self._agent_has_floor():
                await self._interrupt(reason="server")
            self._start_response(actions, self._new_turn())

        self._spawn(cut_in(), f"cut-in-{self.call_id}")

    def _spawn(self, coro: Coroutine[object, object, None], name: str) -> None:
        """A short-lived task the call keeps a reference to (and cancels when it ends)."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def wait(self) -> None:
        await self._ended.wait()

    async def end(self, outcome: str = "completed") -> None:
        """Stop everything; safe to call more than once and from any task."""
        if self._ended.is_set():
            return
        self._ended.set()
        self.ended_at = time.monotonic()
        if self.outcome == "in_progress":
            self.outcome = outcome
        current = asyncio.current_task()
        for task in [*self._tasks, *self._background, self._respond_task]:
            if task is not None and task is not current and not task.done():
                task.cancel()
        if self._stt_stream is not None:
            self._stt_stream.abort()
            self._stt_stream = None
        log.info("call %s ended: %s", self.call_id, self.outcome)

    def summary(self) -> CallSummary:
        return CallSummary(
            call_id=self.call_id,
            outcome=self.outcome,
            started_at=self.started_at,
            ended_at=self.ended_at or time.monotonic(),
            history=self.history.as_dicts(),
            turns=[t.as_record() for t in self.turns],
            barge_ins=self.barge_ins,
            dropped_frames=self.dropped_frames,
        )

    # ---------------------------------------------------------------- ingest
    async def _ingest(self) -> None:
        loop = asyncio.get_running_loop()
        executor = self.services.vad_executor
        while True:
            pcm = await self._inbound.get()
            self._pre_roll.append(pcm)
            if self._stt_stream is not None:
                self._feed_recognizer(pcm)
            for window in self._vad.windows(pcm):
                if self._vad.is_quiet(window):
                    probability = 0.0
                else:
                    probability = await loop.run_in_executor(
                        executor, self._vad.model_probability, window
                    )
                event = self._turns.update(probability)
                if isinstance(event, SpeechStarted):
                    self._on_speech_started()
                elif isinstance(event, SpeechStopped):
                    self._on_speech_stopped(event)
                if self._turns.run_ms >= self.config.barge_in_min_ms and self._agent_has_floor():
                    await self._barge_in()

    def _feed_recognizer(self, pcm: np.ndarray) -> None:
        assert self._stt_stream is not None
        if self._turns.silence_ms >= STT_TRAILING_SILENCE_MS:
            self._held.append(pcm)
            return
        for chunk in self._held:
            self._stt_stream.feed(chunk)
        self._held.clear()
        self._stt_stream.feed(pcm)

    def _agent_has_floor(self) -> bool:
        """The agent is thinking, sending, or its last audio is still playing out."""
        responding = self._respond_task is not None and not self._respond_task.done()
        still_playing = asyncio.get_running_loop().time() < self._play_clock
        return responding or still_playing or self._playing is not None or not self._outbox.empty()

    def _on_speech_started(self) -> None:
        if self._stt_stream is not None:
            self._stt_stream.abort()
        self.last_interim = ""
        self._stt_stream = self.stt.open_stream(self.channel.sample_rate, self._interim)
        self._held.clear()
        for chunk in self._pre_roll:
            self._stt_stream.feed(chunk)

    def _interim(self, text: str) -> None:
        changed = text != self.last_interim
        self.last_interim = text
        if self._on_transcript is not None:
            self._on_transcript("user", text, False)
        if changed and self.config.speculative and text and hasattr(self.agent, "prefetch"):
            if self._speculation is not None:
                self._speculation.cancel()
            self._speculation = asyncio.get_running_loop().call_later(
                self.config.speculation_stable_ms / 1000, self._speculate, text
            )

    def _speculate(self, text: str) -> None:
        """The interim transcript held still: let the agent start thinking now. The agent
        keeps the result only if the final transcript is the same words (see its prefetch)."""
        self._speculation = None
        if self._ended.is_set() or self.last_interim != text or self._stt_stream is None:
            return
        log.debug("call %s: speculating on %r", self.call_id, text)
        self.agent.prefetch(text)  # type: ignore[attr-defined]

    def _on_speech_stopped(self, event: SpeechStopped) -> None:
        if self._speculation is not None:  # from now on the final transcript decides
            self._speculation.cancel()
            self._speculation = None
        stream, self._stt_stream = self._stt_stream, None
        self._held.clear()
        if stream is None:
            return
        now = time.monotonic()
        speech_end = now - event.silence_ms / 1000
        self._spawn(self._complete_turn(stream, speech_end, now), f"stt-{self.call_id}")

    async def _complete_turn(
        self, stream: TranscriptionStream, speech_end: float, end_of_turn: float
    ) -> None:
        try:
            text = await stream.finish()
        except ProviderError as exc:
            log.error("call %s: no recognizer left (%s); apologizing", self.call_id, exc)
            if not self._ended.is_set() and not self._agent_has_floor():
                self._start_response(self._apology(), self._new_turn())
            return
        if self._ended.is_set():
            return
        if not text:
            log.debug("call %s: speech without words (noise?)", self.call_id)
            return
        turn = self._new_turn()
        turn.speech_end = speech_end
        turn.end_of_turn = end_of_turn
        turn.mark("stt_final")
        turn.providers["stt"] = getattr(stream, "provider_name", self.stt.name)
        turn.user_text = text
        self.history.add_user(text)
        if self._on_transcript is not None:
            self._on_transcript("user", text, True)
        if self._agent_has_floor():
            await self._interrupt(reason="new turn")
        self._start_response(self.agent.reply(text), turn)

    # ---------------------------------------------------------------- respond
    def _new_turn(self) -> TurnTimeline:
        turn = TurnTimeline(index=next(self._turn_index))
        self.turns.append(turn)
        return turn

    def _start_response(self, actions: AsyncIterator[AgentAction], turn: TurnTimeline) -> None:
        self._respond_task = asyncio.create_task(
            self._respond(actions, turn), name=f"respond-{self.call_id}"
        )

    async def _respond(self, actions: AsyncIterator[AgentAction], turn: TurnTimeline) -> None:
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        ending: list[EndCall | Transfer] = []

        async def think() -> None:
            splitter = SentenceSplitter()
            turn.mark("agent_request")
            turn.providers["llm"] = self.agent_provider
            try:
                async for action in actions:
                    if isinstance(action, Say):
                        if turn.agent_first_text is None:
                            turn.speculative = bool(
                                getattr(self.agent, "last_reply_speculative", False)
                            )
                            turn.providers["llm"] = self.agent_provider
                        turn.mark("agent_first_text")
                        for sentence in splitter.feed(action.text):
                            sentences.put_nowait(sentence)
                    else:
                        ending.append(action)
                        break
                for sentence in splitter.flush():
                    sentences.put_nowait(sentence)
            finally:
                sentences.put_nowait(None)
                aclose = getattr(actions, "aclose", None)
                if aclose is not None:
                    await aclose()

        async def speak() -> None:
            rate = self.channel.sample_rate
            tts = self.tts
            while (sentence := await sentences.get()) is not None:
                turn.mark("tts_request")
                resampler = StreamResampler(tts.sample_rate, rate)
                segment: _Segment | None = None
                try:
                    async for audio in tts.synthesize(sentence):
                        if turn.tts_first_audio is None:
                            turn.mark("tts_first_audio")
                            turn.providers["tts"] = tts.name
                        pcm = resampler.process(audio)
                        if segment is None and len(pcm):
                            # Play from the first chunk; the rest follows as it arrives.
                            segment = _Segment(turn, sentence, pcm, complete=False)
                            await self._outbox.put(segment)
                        elif segment is not None:
                            segment.extend(pcm)
                    tail = resampler.flush()
                    if segment is None and len(tail):
                        segment = _Segment(turn, sentence, tail, complete=False)
                        await self._outbox.put(segment)
                    elif segment is not None:
                        segment.extend(tail)
                finally:
                    if segment is not None:
                        segment.finish()

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(think())
                group.create_task(speak())
        except* ProviderError as errors:
            # Every voice failed: nothing can be said, so hand the caller on rather than
            # leave them in silence.
            log.error("call %s: response failed: %r", self.call_id, errors.exceptions)
            ending = [
                Transfer(self.transfer_to) if self.transfer_to else EndCall("provider_failure")
            ]
        except* Exception as errors:
            log.error("call %s: response failed: %r", self.call_id, errors.exceptions)
        # The turn is recorded before any hang-up, so the goodbye is in the history.
        await self._outbox.put(_TurnDone(turn))
        for action in ending:
            await self._outbox.put(_CallAction(turn, action))

    # ------------------------------------------------------------------ send
    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        frame_seconds = FRAME_MS / 1000
        lead = self.config.send_lead_ms / 1000
        while True:
            item = await self._outbox.get()
            if isinstance(item, _TurnDone):
                await self._finish_turn(item.turn)
                continue
            if isinstance(item, _CallAction):
                await self._wait_played(loop)
                await self._perform(item.action)
                continue
            segment = item
            size = self._frame_samples
            segment.play_start = max(self._play_clock, loop.time())
            self._playing = segment
            i = 0
            while True:
                segment.duration = max(i, -(-len(segment.pcm) // size)) * frame_seconds
                if (i + 1) * size > len(segment.pcm) and not segment.complete:
                    # The voice is behind the caller's ear: wait, then resume the clock
                    # from now (the caller hears a pause, never a burst).
                    segment.grew.clear()
                    await segment.grew.wait()
                    late = loop.time() - (segment.play_start + i * frame_seconds)
                    if late > 0:
                        segment.play_start += late
                    continue
                if i * size >= len(segment.pcm):
                    break
                due = segment.play_start + i * frame_seconds - lead
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                frame = segment.pcm[i * size : (i + 1) * size]
                if len(frame) < size:
                    frame = np.pad(frame, (0, size - len(frame)))
                await self.channel.send_audio(frame)
                if self.recorder is not None:
                    self.recorder.agent(frame)
                segment.sent_frames = i + 1
                if i == 0:
                    segment.turn.mark("first_audio_sent")
                    if self._on_transcript is not None:
                        self._on_transcript("assistant", segment.text, True)
                i += 1
            self._play_clock = segment.play_start + segment.duration
            segment.mark = f"seg-{next(self._mark_ids)}"
            self._unacked_marks[segment.mark] = segment
            await self.channel.send_mark(segment.mark)
            self._played.append(segment)
            self._playing = None

    async def _wait_played(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the caller has heard everything sent: every mark echoed and the play
        clock reached; at most 2 s past the clock, for a peer that never echoes marks."""
        deadline = self._play_clock + 2.0
        while loop.time() < deadline:
            if not self._unacked_marks and loop.time() >= self._play_clock - 0.05:
                return
            await asyncio.sleep(0.02)

    async def _finish_turn(self, turn: TurnTimeline) -> None:
        spoken = [s.text for s in self._played if s.turn is turn]
        self._played = [s for s in self._played if s.turn is not turn]
        turn.agent_text = " ".join(spoken)
        self.history.add_assistant(turn.agent_text)
        await self._report(turn)

    async def _perform(self, action: EndCall | Transfer) -> None:
        if isinstance(action, Transfer):
            self.outcome = "transferred"
            await self.channel.transfer(action.to)
        else:
            self.outcome = action.reason
            await self.channel.hangup(action.reason)
        await self.end(self.outcome)

    # --------------------------------------------------------------- barge-in
    async def _barge_in(self) -> None:
        self.barge_ins += 1
        await self._interrupt(reason="caller spoke")

    async def _interrupt(self, *, reason: str) -> None:
        now = time.monotonic()
        loop_now = asyncio.get_running_loop().time()
        await self.channel.clear()
        if self.recorder is not None:
            self.recorder.cut_agent()
        task = self._respond_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending: list[_OutboxItem] = []
        while not self._outbox.empty():
            pending.append(self._outbox.get_nowait())
        # Restart the sender so the sentence in flight stops at once.
        sender = self._tasks[1]
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        playing = self._playing
        self._playing = None
        self._tasks[1] = asyncio.create_task(self._send(), name=f"send-{self.call_id}")
        self._play_clock = loop_now
        self._unacked_marks.clear()

        turn: TurnTimeline | None = playing.turn if playing is not None else None
        heard = [s.text for s in self._played]
        if turn is None and self._played:
            turn = self._played[-1].turn
        if playing is not None:
            heard.append(_heard_prefix(playing, loop_now))
        for item in pending:
            if turn is None and isinstance(item, _Segment | _TurnDone):
                turn = item.turn
        self._played = []
        heard_text = " ".join(t for t in heard if t)
        if turn is None:
            return
        turn.mark("interrupted_at", now)
        turn.interrupted = True
        turn.agent_text = heard_text
        self.history.add_assistant(heard_text, interrupted=True)
        self.agent.interrupted(heard_text)
        log.info("call %s: interrupted (%s); caller heard %r", self.call_id, reason, heard_text)
        await self._report(turn)

    # ------------------------------------------------------------- telemetry
    async def _report(self, turn: TurnTimeline) -> None:
        record = turn.as_record()
        turn_log.info(json.dumps({"event": "turn", "call_id": self.call_id, **record}))
        if self._on_turn is not None:
            try:
                await self._on_turn(self, turn)
            except Exception:
                log.exception("call %s: turn callback failed", self.call_id)

    async def _watchdog(self) -> None:
        await asyncio.sleep(self.config.max_call_seconds)
        log.warning("call %s reached the maximum duration", self.call_id)
        self.outcome = "max_duration"
        with contextlib.suppress(Exception):
            await self.channel.hangup("max_duration")
        await self.end("max_duration")


def _heard_prefix(segment: _Segment, now: float) -> str:
    """The words of a sentence played before ``now``, by the fraction of its audio played."""
    if segment.duration <= 0 or segment.play_start <= 0:
        return ""
    fraction = min(1.0, max(0.0, (now - segment.play_start) / segment.duration))
    words = segment.text.split()
    return " ".join(words[: int(len(words) * fraction)])
