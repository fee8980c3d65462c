"""One live conversation: hear the caller, let the agent answer, speak, and yield when cut off.

Three long-lived tasks per call, whatever line carries it:

* **listen** (:mod:`listener`) — caller audio → VAD → turns; a recognizer open while they talk.
  Sustained caller speech while the agent holds the floor is a barge-in.
* **respond** — one per turn: agent actions → sentences → the voice → the outbox. The next
  sentence is synthesized while the previous one plays.
* **send** (:mod:`speaker`) — outbox → channel, paced by the wall clock, a mark per sentence.

Barge-in cancels the respond task, empties the outbox, tells the channel to drop its buffer,
and writes to the history only the part of the reply that was heard.

The caller is never left in silence: speech that was long enough to be words but came back
without any gets "could you say that again?"; silence after the agent finished gets "are you
still there?", and a second silence a goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from enum import StrEnum
from typing import assert_never

from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.audio.vad import GatedVad
from voxagent.calls.info import CallInfo
from voxagent.conversation.channel import Channel
from voxagent.conversation.counters import CallCounters
from voxagent.conversation.history import History
from voxagent.conversation.listener import FinishedSpeech, Listener
from voxagent.conversation.observer import CallObserver, NoObserver
from voxagent.conversation.parts import CallParts
from voxagent.conversation.sentences import SentenceSplitter
from voxagent.conversation.speaker import CallAction, Segment, Speaker, TurnDone
from voxagent.conversation.timeline import ANSWERING, TurnKind, TurnTimeline
from voxagent.conversation.turns import TurnDetector
from voxagent.providers.errors import ProviderError

__all__ = ["Call", "CallState"]

log = logging.getLogger(__name__)
turn_log = logging.getLogger("voxagent.turns")


class CallState(StrEnum):
    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    THINKING = "thinking"
    BOT_SPEAKING = "bot_speaking"
    ENDED = "ended"


TurnCallback = Callable[["Call", TurnTimeline], Awaitable[None]]


class Call:
    def __init__(
        self,
        info: CallInfo,
        channel: Channel,
        parts: CallParts,
        *,
        on_turn: TurnCallback | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.info = info
        self.call_id = info.call_id
        self.channel = channel
        self.agent = parts.agent
        self.voice = parts.voice
        self.config = config = parts.config
        self.lines = parts.lines
        self.recorder = parts.recorder
        self.history = History(config.max_history_messages)
        self.turns: deque[TurnTimeline] = deque(maxlen=config.max_turns_kept)
        self.counters = CallCounters()
        self.started_at = time.monotonic()
        self.ended_at: float | None = None
        self.outcome = "in_progress"
        self.last_interim = ""
        self._on_turn = on_turn
        self.observer: CallObserver = observer or NoObserver()
        self._shown_state = ""
        fmt = channel.audio_format
        vad = GatedVad(parts.vad)
        self.listener = Listener(
            fmt,
            vad,
            TurnDetector(
                vad.window_samples * 1000 / fmt.sample_rate,
                threshold=config.vad_threshold,
                min_speech_ms=config.min_speech_ms,
                end_silence_ms=config.end_of_turn_silence_ms,
            ),
            parts.recognizer,
            parts.vad_executor,
            min_speech_ms=config.min_speech_ms,
            on_interim=self._interim,
            on_speech_started=self._speech_started,
            on_speech_stopped=self._speech_stopped,
            on_voice=self._voice_heard,
        )
        self.speaker = Speaker(
            channel,
            lead_ms=config.send_lead_ms,
            recorder=self.recorder,
            on_first_audio=self._first_audio,
            on_turn_done=self._turn_done,
            on_action=self._perform,
            name=self.call_id,
        )
        self.listener.echo = self.speaker.echo
        self._respond_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._turn_index = itertools.count()
        self._ended = asyncio.Event()
        self._context: contextvars.Context | None = None
        self._speculation: asyncio.TimerHandle | None = None
        self._no_input: asyncio.TimerHandle | None = None
        self._silent_prompts = 0

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> CallState:
        if self._ended.is_set():
            return CallState.ENDED
        if self.speaker.playing is not None or not self.speaker.outbox.empty():
            return CallState.BOT_SPEAKING
        if self.listener.speaking:
            return CallState.USER_SPEAKING
        if self._responding:
            return CallState.THINKING
        return CallState.LISTENING

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def _responding(self) -> bool:
        return self._respond_task is not None and not self._respond_task.done()

    def _agent_has_floor(self) -> bool:
        """The agent is thinking, sending, or its last audio is still playing out."""
        return self._responding or self.speaker.busy

    def _state_may_have_changed(self) -> None:
        state = self.state.value
        if state != self._shown_state:
            self._shown_state = state
            self.observer.state_changed(state)

    # ------------------------------------------------------- channel → call
    def start(self, *, greet: bool = True, reconnected: bool = False) -> None:
        """Begin: greet the caller (unless this resumes a conversation; after a lost
        instance, say so instead) and listen."""
        self._context = contextvars.copy_context()  # its log lines name the call
        self.speaker.start()
        self._tasks = [
            asyncio.create_task(self.listener.run(), name=f"listen-{self.call_id}"),
            asyncio.create_task(self._watchdog(), name=f"watchdog-{self.call_id}"),
        ]
        if greet:
            self._start_response(self.agent.greeting(), self._new_turn("greeting"))
        elif reconnected:
            self._start_response(_say(self.lines.reconnected), self._new_turn("reconnected"))
        else:
            self._state_may_have_changed()

    def push_audio(self, frame: bytes) -> None:
        """Caller audio in the channel's format. Never blocks; drops if hopelessly behind."""
        if self._ended.is_set():
            return
        if self.recorder is not None:
            self.recorder.caller(frame)
        if not self.listener.push(frame):
            self.counters.dropped_frames += 1

    def mark_played(self, name: str) -> None:
        """The far end has played everything up to mark ``name``."""
        self.speaker.mark_played(name)

    def hear_text(self, text: str) -> None:
        """The caller typed instead of speaking: a final transcript, as if heard."""
        text = text.strip()
        if text and not self._ended.is_set():
            self._spawn(self._take_turn(text, None), f"text-{self.call_id}")

    async def interrupt(self, reason: str) -> bool:
        """The far end says the caller talked over the agent (a page's own VAD): stop now.
        False when the agent was not speaking (nothing to stop)."""
        if self._ended.is_set() or not self._agent_has_floor():
            return False
        self.counters.barge_ins += 1
        await self._interrupt(reason=reason)
        return True

    def say_and_end(self, line: str, outcome: str) -> None:
        """Cut in with ``line``, then end the call (a server shutting down says goodbye)."""

        async def cut_in() -> None:
            if self._agent_has_floor():
                await self._interrupt(reason="server")
            self._start_response(_say_then_end(line, outcome), self._new_turn("goodbye"))

        self._spawn(cut_in(), f"cut-in-{self.call_id}")

    async def wait(self) -> None:
        await self._ended.wait()

    async def hang_up(self, reason: str) -> None:
        """Someone (an operator, through the API) ends the call now: the line is hung up."""
        if not self._ended.is_set():
            await self._perform(EndCall(reason))

    async def transfer_to(self, to: str) -> None:
        """Someone hands the caller to ``to`` now (a blind transfer)."""
        if not self._ended.is_set():
            await self._perform(Transfer(to))

    def announce(self, text: str) -> None:
        """Someone has the agent say ``text``: once the agent has the floor no more, never
        over its own reply."""

        async def when_free() -> None:
            # The floor changes with the speaker's playout clock, which has no event.
            while self._agent_has_floor() and not self._ended.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if not self._ended.is_set():
                self._start_response(_say(text), self._new_turn("announcement"))

        self._spawn(when_free(), f"announce-{self.call_id}")

    async def between_turns(self, timeout_s: float) -> bool:
        """Wait until nobody has the floor (the agent's reply has played out, the caller is
        not speaking): the moment a call can change hands without cutting a sentence.
        False if that did not happen within ``timeout_s`` or the call ended."""
        deadline = time.monotonic() + timeout_s
        while not self._ended.is_set() and time.monotonic() < deadline:
            if not self._agent_has_floor() and not self.listener.speaking:
                return True
            await asyncio.sleep(0.02)
        return False

    async def end(self, outcome: str = "completed") -> None:
        """Stop everything; safe to call more than once and from any task."""
        if self._ended.is_set():
            return
        self._ended.set()
        self.ended_at = time.monotonic()
        if self.outcome == "in_progress":
            self.outcome = outcome
        self._cancel_timers()
        self._state_may_have_changed()
        current = asyncio.current_task()
        for task in [*self._tasks, *self._background, self._respond_task]:
            if task is not None and task is not current and not task.done():
                task.cancel()
        self.speaker.stop()
        self.listener.abort()
        log.info("call %s ended: %s", self.call_id, self.outcome)

    def _task_context(self) -> contextvars.Context | None:
        """A copy of the context the call started in (its id for the log), whoever asks for
        the task: a page's event, an operator's command, a drain."""
        return self._context.copy() if self._context is not None else None

    def _spawn(self, coro: Coroutine[object, object, None], name: str) -> None:
        """A short-lived task the call keeps a reference to (and cancels when it ends)."""
        task = asyncio.create_task(coro, name=name, context=self._task_context())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --------------------------------------------------------------- hearing
    async def _voice_heard(self, run_ms: float) -> None:
        if run_ms >= self.config.barge_in_min_ms and self._agent_has_floor():
            self.counters.barge_ins += 1
            onset = time.monotonic() - run_ms / 1000
            await self._interrupt(reason="caller spoke", onset=onset)

    def _speech_started(self) -> None:
        self.last_interim = ""
        self._silent_prompts = 0
        self._disarm_no_input()
        self._state_may_have_changed()

    def _interim(self, text: str) -> None:
        changed = text != self.last_interim
        self.last_interim = text
        if changed and text:
            self.observer.user_text(text, final=False, turn=None)
        if changed and text and self.config.speculative and self.agent.can_prefetch:
            if self._speculation is not None:
                self._speculation.cancel()
            self._speculation = asyncio.get_running_loop().call_later(
                self.config.speculation_stable_ms / 1000, self._speculate, text
            )

    def _speculate(self, text: str) -> None:
        """The interim transcript held still: let the agent start thinking now. The agent
        keeps the result only if the final transcript is the same words (see its prefetch)."""
        self._speculation = None
        if self._ended.is_set() or self.last_interim != text or self.listener.stream is None:
            return
        log.debug("call %s: speculating on %r", self.call_id, text)
        self.agent.prefetch(text)

    def _speech_stopped(self, speech: FinishedSpeech) -> None:
        if self._speculation is not None:  # from now on the final transcript decides
            self._speculation.cancel()
            self._speculation = None
        self._spawn(self._complete_turn(speech), f"stt-{self.call_id}")
        self._state_may_have_changed()

    async def _complete_turn(self, speech: FinishedSpeech) -> None:
        try:
            text = await speech.stream.finish()
        except ProviderError as exc:
            log.error("call %s: no recognizer left (%s); apologizing", self.call_id, exc)
            if not self._ended.is_set() and not self._agent_has_floor():
                self._start_response(self._apology(), self._new_turn("apology"))
            return
        if self._ended.is_set():
            return
        if not text:
            self._no_words(speech)
            return
        await self._take_turn(text, speech)

    async def _take_turn(self, text: str, speech: FinishedSpeech | None) -> None:
        """Answer ``text``: from the recognizer (``speech``), or typed."""
        turn = self._new_turn("reply")
        if speech is not None:
            turn.speech_end = speech.speech_end
            turn.end_of_turn = speech.end_of_turn
            turn.providers["stt"] = speech.stream.provider_name
        else:
            turn.speech_end = turn.end_of_turn = time.monotonic()
            turn.providers["stt"] = "typed"
        turn.mark("stt_final")
        turn.user_text = text
        self.history.add_user(text)
        self.observer.user_text(text, final=True, turn=turn.index)
        if self._agent_has_floor():
            await self._interrupt(reason="new turn")
        self._start_response(self.agent.reply(text), turn)

    def _no_words(self, speech: FinishedSpeech) -> None:
        """Speech came back without words: long enough to be words, ask again; else noise."""
        if speech.speech_ms < self.config.min_words_speech_ms or self._agent_has_floor():
            log.debug("call %s: %.0f ms of sound without words", self.call_id, speech.speech_ms)
            self._arm_no_input()
            return
        log.info(
            "call %s: %.0f ms of speech without words; asking to repeat",
            self.call_id,
            speech.speech_ms,
        )
        self.counters.reprompts += 1
        turn = self._new_turn("reprompt")
        turn.speech_end = speech.speech_end
        turn.end_of_turn = speech.end_of_turn
        turn.mark("stt_final")
        self._start_response(_say(self.lines.say_again), turn)

    # ------------------------------------------------------------ no input
    def _arm_no_input(self) -> None:
        self._disarm_no_input()
        if self._ended.is_set() or self.config.no_input_timeout_s <= 0:
            return
        loop = asyncio.get_running_loop()
        at = max(self.speaker.play_clock, loop.time()) + self.config.no_input_timeout_s
        self._no_input = loop.call_at(at, self._on_no_input)

    def _disarm_no_input(self) -> None:
        if self._no_input is not None:
            self._no_input.cancel()
            self._no_input = None

    def _on_no_input(self) -> None:
        self._no_input = None
        if self._ended.is_set() or self.listener.speaking or self._agent_has_floor():
            return  # someone is talking: the next turn re-arms the timer
        self._silent_prompts += 1
        self.counters.no_input_prompts += 1
        if self._silent_prompts == 1:
            log.info("call %s: no input; asking whether the caller is still there", self.call_id)
            self._start_response(_say(self.lines.still_there), self._new_turn("no_input"))
        else:
            log.info("call %s: still no input; saying goodbye", self.call_id)
            self._start_response(
                _say_then_end(self.lines.no_input_goodbye, "no_input"),
                self._new_turn("no_input"),
            )

    def _cancel_timers(self) -> None:
        self._disarm_no_input()
        if self._speculation is not None:
            self._speculation.cancel()
            self._speculation = None

    # ---------------------------------------------------------------- respond
    def _new_turn(self, kind: TurnKind) -> TurnTimeline:
        turn = TurnTimeline(index=next(self._turn_index), kind=kind)
        self.turns.append(turn)
        return turn

    def _start_response(
        self, actions: AsyncGenerator[AgentAction, None], turn: TurnTimeline
    ) -> None:
        self._disarm_no_input()
        self._respond_task = asyncio.create_task(
            self._respond(actions, turn),
            name=f"respond-{self.call_id}",
            context=self._task_context(),
        )
        self._state_may_have_changed()

    async def _respond(
        self, actions: AsyncGenerator[AgentAction, None], turn: TurnTimeline
    ) -> None:
        ANSWERING.set(turn)  # this task's own context: the tools it runs belong to ``turn``
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        ending: list[EndCall | Transfer] = []

        async def think() -> None:
            splitter = SentenceSplitter()
            turn.mark("agent_request")
            turn.providers["llm"] = self.agent.provider_name
            try:
                async for action in actions:
                    match action:
                        case Say(text=text):
                            if turn.agent_first_text is None:
                                turn.speculative = self.agent.last_reply_speculative
                                turn.providers["llm"] = self.agent.provider_name
                            turn.mark("agent_first_text")
                            self.observer.agent_text(text, turn.index)
                            for sentence in splitter.feed(text):
                                sentences.put_nowait(sentence)
                        case EndCall() | Transfer():
                            ending.append(action)
                            break
                        case _:
                            assert_never(action)
                for sentence in splitter.flush():
                    sentences.put_nowait(sentence)
            finally:
                sentences.put_nowait(None)
                await actions.aclose()

        async def speak() -> None:
            voice = self.voice
            while (sentence := await sentences.get()) is not None:
                turn.mark("tts_request")
                segment: Segment | None = None
                try:
                    async with contextlib.aclosing(voice.synthesize(sentence)) as chunks:
                        async for audio in chunks:
                            if turn.tts_first_audio is None:
                                turn.mark("tts_first_audio")
                                turn.providers["tts"] = voice.name
                            if segment is None:
                                # Play from the first chunk; the rest follows as it arrives.
                                segment = Segment(turn, sentence, bytearray(audio), complete=False)
                                await self.speaker.outbox.put(segment)
                            else:
                                segment.extend(audio)
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
            to = self.lines.transfer_to
            ending = [Transfer(to) if to else EndCall("provider_failure")]
        except* Exception as errors:
            log.error("call %s: response failed: %r", self.call_id, errors.exceptions)
        # The turn is recorded before any hang-up, so the goodbye is in the history.
        await self.speaker.outbox.put(TurnDone(turn))
        for action in ending:
            await self.speaker.outbox.put(CallAction(turn, action))

    def _apology(self) -> AsyncGenerator[AgentAction, None]:
        """No recognizer is left for this call: say so, then hand over to a person."""
        to = self.lines.transfer_to
        return _say_then(
            self.lines.technical_trouble, Transfer(to) if to else EndCall("provider_failure")
        )

    # ------------------------------------------------------------------ send
    def _first_audio(self, segment: Segment) -> None:
        segment.turn.mark("first_audio_sent")
        self._state_may_have_changed()

    async def _turn_done(self, turn: TurnTimeline, spoken: str) -> None:
        turn.agent_text = spoken
        self.history.add_assistant(spoken)
        self.counters.turns += 1
        await self._report(turn)
        if self.speaker.outbox.empty() and not self._responding:
            self._arm_no_input()
        self._state_may_have_changed()

    async def _perform(self, action: EndCall | Transfer) -> None:
        match action:
            case Transfer(to=to):
                self.outcome = "transferred"
                await self.channel.transfer(to)
            case EndCall(reason=reason):
                self.outcome = reason
                await self.channel.hangup(reason)
            case _:
                assert_never(action)
        await self.end(self.outcome)

    # --------------------------------------------------------------- barge-in
    async def _interrupt(self, *, reason: str, onset: float | None = None) -> None:
        """Stop the agent; ``onset`` (when the caller's voice began, if we heard it) times
        the barge-in: from the first interrupting sound to the ``clear``."""
        now = time.monotonic()
        await self.channel.clear()
        cleared_at = time.monotonic()
        if self.recorder is not None:
            self.recorder.cut_agent()
        task = self._respond_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        cut = await self.speaker.interrupt()
        turn = cut.turn
        if turn is None:
            return
        turn.mark("interrupted_at", now)
        turn.interrupted = True
        if onset is not None:
            turn.barge_in_ms = round((cleared_at - onset) * 1000, 1)
        turn.agent_text = cut.heard
        self.history.add_assistant(cut.heard, interrupted=True)
        self.agent.interrupted(cut.heard)
        log.info("call %s: interrupted (%s); caller heard %r", self.call_id, reason, cut.heard)
        self.observer.interrupted(turn, cut.heard, reason)
        self._state_may_have_changed()
        await self._report(turn)

    # ------------------------------------------------------------- telemetry
    async def _report(self, turn: TurnTimeline) -> None:
        record = turn.as_record()
        turn_log.info(json.dumps({"event": "turn", "call_id": self.call_id, **record}))
        self.observer.turn_finished(turn)
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


async def _say(line: str) -> AsyncGenerator[AgentAction, None]:
    yield Say(line)


async def _say_then(line: str, action: EndCall | Transfer) -> AsyncGenerator[AgentAction, None]:
    yield Say(line)
    yield action


def _say_then_end(line: str, outcome: str) -> AsyncGenerator[AgentAction, None]:
    return _say_then(line, EndCall(outcome))
