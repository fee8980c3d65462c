"""Webhook mode: Telnyx listens and speaks; we answer each final transcript.

The older of the two conversation modes (and the fallback when a media stream fails): Telnyx
transcribes the caller (``transcription_start``) and sends ``call.transcription`` webhooks; we
run the same agent and answer with ``speak`` (Telnyx's voice) or, with an
:class:`OwnVoicePlayback`, with ``playback_start`` of our own voice's audio stored where Telnyx
can fetch it. The same history, turn telemetry and records as stream mode are kept; latency is
measured from the transcript's arrival (Telnyx's endpointing happens before we hear of the
turn) to ``call.speak.started`` / ``call.playback.started``.

The caller is not left in silence here either: when they say nothing for the no-input timeout
after the agent finished, the agent asks whether they are still there, then says goodbye.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import assert_never

from voxagent.agents.base import Agent, AgentAction, EndCall, Say, Transfer
from voxagent.audio.format import AudioFormat, Encoding
from voxagent.audio.wav import wav_bytes
from voxagent.calls.info import CallInfo
from voxagent.channels.telnyx.call_control import CallControlClient, TelnyxApiError
from voxagent.conversation.counters import CallCounters
from voxagent.conversation.history import History
from voxagent.conversation.parts import EngineLines
from voxagent.conversation.timeline import ANSWERING, TurnKind, TurnTimeline
from voxagent.providers.errors import ProviderError
from voxagent.providers.tts.base import TextToSpeech
from voxagent.storage import Storage, StorageError, key_segment

log = logging.getLogger(__name__)

SPEAK_LANGUAGES = {"en": "en-US", "es": "es-MX"}
PLAYBACK_FORMAT = AudioFormat(Encoding.PCM16, 8000)
"""Our voice for Telnyx playback: a WAV at the phone's rate (no larger than it needs to be)."""
MAX_TURNS_KEPT = 100


class OwnVoicePlayback:
    """Our voice for a webhook-mode call: synthesize, store as WAV, give Telnyx the URL.

    Built once per call, so its voice chain (and any fallback it took) lasts the whole call.
    """

    def __init__(self, call_id: str, voice: TextToSpeech, storage: Storage) -> None:
        self.call_id = call_id
        self.voice = voice
        self.storage = storage

    async def render(self, text: str, index: int) -> str:
        audio = b"".join([chunk async for chunk in self.voice.synthesize(text)])
        fmt = self.voice.output_format
        data = wav_bytes(fmt.decode(audio), fmt.sample_rate)
        return await self.storage.put(
            f"tts/{key_segment(self.call_id)}/{index:03d}.wav", data, "audio/wav"
        )


class WebhookModeCall:
    """One call driven by Telnyx webhooks. Methods are called in webhook order, one at a time."""

    def __init__(
        self,
        info: CallInfo,
        client: CallControlClient,
        agent: Agent,
        lines: EngineLines,
        *,
        voice: str,
        transcription_engine: str,
        max_history_messages: int = 50,
        no_input_timeout_s: float = 8.0,
        on_turn: Callable[[WebhookModeCall, TurnTimeline], Awaitable[None]] | None = None,
        playback: OwnVoicePlayback | None = None,
    ) -> None:
        """Without ``playback`` Telnyx speaks with its own voice."""
        self.info = info
        self.call_id = info.call_id
        self.client = client
        self.agent = agent
        self.lines = lines
        self.language = info.language
        self.voice = voice
        self.transcription_engine = transcription_engine
        self.history = History(max_history_messages)
        self.turns: deque[TurnTimeline] = deque(maxlen=MAX_TURNS_KEPT)
        self.counters = CallCounters()
        self.outcome = "in_progress"
        self.ended = False
        self._next_index = 0
        self._on_turn = on_turn
        self._playback = playback
        self._no_input_timeout_s = no_input_timeout_s
        self._speaking: TurnTimeline | None = None
        self._after_speech: EndCall | Transfer | None = None
        self._no_input: asyncio.TimerHandle | None = None
        self._silent_prompts = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """The call is answered: start Telnyx's recognizer and greet."""
        await self.client.transcription_start(
            self.call_id, language=self.language, engine=self.transcription_engine
        )
        await self._answer(self.agent.greeting(), self._new_turn("greeting"))

    async def on_transcript(self, text: str, is_final: bool) -> None:
        if self.ended or not is_final or not text.strip():
            return
        self._disarm_no_input()
        self._silent_prompts = 0
        now = time.monotonic()
        turn = self._new_turn("reply")
        turn.started_at = now
        turn.speech_end = now
        turn.end_of_turn = now
        turn.mark("stt_final", now)
        turn.user_text = text.strip()
        if self._speaking is not None:
            # The caller talked over the agent: Telnyx keeps speaking unless told to stop.
            self.counters.barge_ins += 1
            self._speaking.interrupted = True
            self._speaking.mark("interrupted_at", now)
            self.agent.interrupted("")
        self.history.add_user(turn.user_text)
        await self._answer(self.agent.reply(turn.user_text), turn)

    async def on_speak_started(self) -> None:
        if self._speaking is not None:
            self._speaking.mark("first_audio_sent")

    async def on_speak_ended(self, status: str) -> None:
        turn, self._speaking = self._speaking, None
        if turn is not None:
            await self._finish_turn(turn)
        if status in ("completed", "") and not self.ended:
            if self._after_speech is not None:
                await self._after_speaking()
            else:
                self._arm_no_input()

    # ----------------------------------------------------- the Conversation API
    async def end(self, outcome: str) -> None:
        """The call is over (its hang-up webhook): stop timers; nothing more is said."""
        self.ended = True
        self._disarm_no_input()
        for task in list(self._tasks):
            task.cancel()
        if self.outcome == "in_progress":
            self.outcome = outcome

    def say_and_end(self, line: str, outcome: str) -> None:
        """Say ``line`` over whatever is being said, then hang up when it has been heard."""
        self._spawn(self._say_then_end(line, outcome))

    async def hang_up(self, reason: str) -> None:
        """Someone (an operator, through the API) ends the call: Telnyx hangs it up and its
        hang-up webhook ends the conversation."""
        if not self.ended:
            self.outcome = reason
            await self.client.hangup(self.call_id)

    async def transfer_to(self, to: str) -> None:
        if not self.ended:
            self.outcome = "transferred"
            await self.client.transfer(self.call_id, to)

    def announce(self, text: str) -> None:
        """Someone has the agent say ``text`` now (over whatever is being said)."""
        self._spawn(self._answer(_say(text), self._new_turn("announcement")))

    async def _say_then_end(self, line: str, outcome: str) -> None:
        self._after_speech = EndCall(outcome)
        await self._answer(_say(line), self._new_turn("goodbye"))

    # ------------------------------------------------------------- answering
    def _new_turn(self, kind: TurnKind) -> TurnTimeline:
        turn = TurnTimeline(index=self._next_index, kind=kind)
        self._next_index += 1
        self.turns.append(turn)
        return turn

    async def _answer(self, actions: AsyncGenerator[AgentAction, None], turn: TurnTimeline) -> None:
        texts: list[str] = []
        answering = ANSWERING.set(turn)  # the tools run now belong to this turn
        try:
            async for action in actions:
                match action:
                    case Say(text=text):
                        turn.mark("agent_first_text")
                        texts.append(text.strip())
                    case EndCall() | Transfer():
                        self._after_speech = self._after_speech or action
                        break
                    case _:
                        assert_never(action)
            await actions.aclose()
        finally:
            ANSWERING.reset(answering)
        text = " ".join(t for t in texts if t)
        turn.agent_text = text
        if not text:
            await self._finish_turn(turn)
            await self._after_speaking()
            return
        self._speaking = turn
        try:
            if not await self._play_own_voice(text, turn):
                await self.client.speak(
                    self.call_id,
                    text,
                    voice=self.voice,
                    language=SPEAK_LANGUAGES.get(self.language, "en-US"),
                    stop="current",
                )
        except TelnyxApiError as exc:
            log.warning("call %s: speak failed: %s", self.call_id, exc)
            self._speaking = None
            return
        turn.mark("tts_first_audio")
        self.history.add_assistant(text)

    async def _play_own_voice(self, text: str, turn: TurnTimeline) -> bool:
        """Play our own voice's audio; False when there is none (Telnyx's voice then speaks,
        so a failed voice or store costs the caller a change of voice, never silence)."""
        if self._playback is None:
            return False
        turn.mark("tts_request")
        try:
            url = await self._playback.render(text, turn.index)
        except (ProviderError, StorageError) as exc:
            log.warning("call %s: own voice failed (%s); Telnyx speaks instead", self.call_id, exc)
            return False
        turn.providers["tts"] = self._playback.voice.name
        await self.client.playback_start(self.call_id, audio_url=url, stop="current")
        return True

    async def _finish_turn(self, turn: TurnTimeline) -> None:
        self.counters.turns += 1
        if self._on_turn is not None:
            await self._on_turn(self, turn)

    async def _after_speaking(self) -> None:
        action, self._after_speech = self._after_speech, None
        match action:
            case None:
                return
            case Transfer(to=to):
                self.outcome = "transferred"
                if to:
                    await self.client.transfer(self.call_id, to)
                else:
                    await self.client.hangup(self.call_id)
            case EndCall(reason=reason):
                self.outcome = reason
                await self.client.hangup(self.call_id)
            case _:
                assert_never(action)

    # -------------------------------------------------------------- no input
    def _arm_no_input(self) -> None:
        self._disarm_no_input()
        if self._no_input_timeout_s > 0 and not self.ended:
            loop = asyncio.get_running_loop()
            self._no_input = loop.call_later(self._no_input_timeout_s, self._on_no_input)

    def _disarm_no_input(self) -> None:
        if self._no_input is not None:
            self._no_input.cancel()
            self._no_input = None

    def _on_no_input(self) -> None:
        self._no_input = None
        if self.ended or self._speaking is not None:
            return
        self._silent_prompts += 1
        self.counters.no_input_prompts += 1
        if self._silent_prompts == 1:
            self._spawn(self._answer(_say(self.lines.still_there), self._new_turn("no_input")))
        else:
            self._after_speech = EndCall("no_input")
            self._spawn(self._answer(_say(self.lines.no_input_goodbye), self._new_turn("no_input")))

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except TelnyxApiError as exc:
                log.warning("call %s: %s", self.call_id, exc)

        task = asyncio.create_task(run(), name=f"webhook-call-{self.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _say(line: str) -> AsyncGenerator[AgentAction, None]:
    yield Say(line)
