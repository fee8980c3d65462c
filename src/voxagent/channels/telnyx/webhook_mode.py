"""Webhook mode: Telnyx listens and speaks; we answer each final transcript.

The older of the two conversation modes (and the fallback when a media stream fails): Telnyx
transcribes the caller (``transcription_start``) and sends ``call.transcription`` webhooks; we
run the same agent and answer with ``speak`` (Telnyx's voice) or, with ``render_audio``, with
``playback_start`` of our own voice's audio stored where Telnyx can fetch it. The same history
and turn telemetry as stream mode are kept; latency is measured from the transcript's arrival
(Telnyx's endpointing happens before we hear of the turn) to ``call.speak.started`` /
``call.playback.started``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from voxagent.agents.base import Agent, AgentAction, EndCall, Say, Transfer
from voxagent.channels.telnyx.call_control import CallControlClient, TelnyxApiError
from voxagent.conversation.history import History
from voxagent.conversation.timeline import TurnTimeline
from voxagent.providers.errors import ProviderError
from voxagent.storage import StorageError

log = logging.getLogger(__name__)

SPEAK_LANGUAGES = {"en": "en-US", "es": "es-MX"}


class WebhookModeCall:
    """One call driven by Telnyx webhooks. Methods are called in webhook order, one at a time."""

    def __init__(
        self,
        call_id: str,
        client: CallControlClient,
        agent: Agent,
        *,
        language: str,
        voice: str,
        transcription_engine: str,
        max_history_messages: int = 50,
        on_turn: Callable[[WebhookModeCall, TurnTimeline], Awaitable[None]] | None = None,
        render_audio: Callable[[str, int], Awaitable[str]] | None = None,
    ) -> None:
        """``render_audio(text, turn_index)``: synthesize with our voice, store, return the URL
        Telnyx plays; without it Telnyx speaks with its own voice."""
        self.call_id = call_id
        self.client = client
        self.agent = agent
        self.language = language
        self.voice = voice
        self.transcription_engine = transcription_engine
        self.history = History(max_history_messages)
        self.turns: list[TurnTimeline] = []
        self.outcome = "in_progress"
        self.barge_ins = 0
        self.dropped_frames = 0
        self.ended = False
        self._on_turn = on_turn
        self._render_audio = render_audio
        self._speaking: TurnTimeline | None = None
        self._after_speech: EndCall | Transfer | None = None

    async def start(self) -> None:
        """The call is answered: start Telnyx's recognizer and greet."""
        await self.client.transcription_start(
            self.call_id, language=self.language, engine=self.transcription_engine
        )
        turn = TurnTimeline(index=len(self.turns))
        self.turns.append(turn)
        await self._answer(self.agent.greeting(), turn)

    async def on_transcript(self, text: str, is_final: bool) -> None:
        if self.ended or not is_final or not text.strip():
            return
        now = time.monotonic()
        turn = TurnTimeline(index=len(self.turns), started_at=now)
        turn.speech_end = now
        turn.end_of_turn = now
        turn.mark("stt_final", now)
        turn.user_text = text.strip()
        self.turns.append(turn)
        if self._speaking is not None:
            # The caller talked over the agent: Telnyx keeps speaking unless told to stop.
            self.barge_ins += 1
            self._speaking.interrupted = True
            self._speaking.mark("interrupted_at", now)
            self.agent.interrupted("")
        self.history.add_user(turn.user_text)
        await self._answer(self.agent.reply(turn.user_text), turn)

    async def _answer(self, actions: AsyncIterator[AgentAction], turn: TurnTimeline) -> None:
        texts: list[str] = []
        async for action in actions:
            if isinstance(action, Say):
                turn.mark("agent_first_text")
                texts.append(action.text.strip())
            else:
                self._after_speech = action
                break
        text = " ".join(t for t in texts if t)
        turn.agent_text = text
        if not text:
            await self._finish_turn(turn)
            await self._after_speaking()
            return
        self._speaking = turn
        try:
            if await self._play_own_voice(text, turn):
                pass
            else:
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
        if self._render_audio is None:
            return False
        turn.mark("tts_request")
        try:
            url = await self._render_audio(text, turn.index)
        except (ProviderError, StorageError) as exc:
            log.warning("call %s: own voice failed (%s); Telnyx speaks instead", self.call_id, exc)
            return False
        await self.client.playback_start(self.call_id, audio_url=url, stop="current")
        return True

    async def on_speak_started(self) -> None:
        if self._speaking is not None:
            self._speaking.mark("first_audio_sent")

    async def on_speak_ended(self, status: str) -> None:
        turn, self._speaking = self._speaking, None
        if turn is not None:
            await self._finish_turn(turn)
        if status in ("completed", "") and not self.ended:
            await self._after_speaking()

    async def _finish_turn(self, turn: TurnTimeline) -> None:
        if self._on_turn is not None:
            await self._on_turn(self, turn)

    async def _after_speaking(self) -> None:
        action, self._after_speech = self._after_speech, None
        if action is None:
            return
        if isinstance(action, Transfer):
            self.outcome = "transferred"
            if action.to:
                await self.client.transfer(self.call_id, action.to)
            else:
                await self.client.hangup(self.call_id)
        else:
            self.outcome = action.reason
            await self.client.hangup(self.call_id)

    def ended_by(self, outcome: str) -> None:
        self.ended = True
        if self.outcome == "in_progress":
            self.outcome = outcome
