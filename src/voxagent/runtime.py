"""The composition root: builds the shared providers once and opens calls with them.

Everything a request handler needs hangs off one ``Runtime`` (kept on ``app.state``), so
handlers stay thin and tests can build a runtime with other parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

from voxagent.agents.base import Agent, AgentAction, CallContext, EndCall, Say, Transfer
from voxagent.agents.persona import Persona, load_persona
from voxagent.agents.scripted import ScriptedReceptionist
from voxagent.agents.tools import ClinicTools
from voxagent.audio.vad import load_vad
from voxagent.audio.wav import wav_bytes
from voxagent.calls.batch import Batch
from voxagent.conversation.call import Call, CallServices, EngineConfig
from voxagent.conversation.channel import Channel
from voxagent.conversation.history import History
from voxagent.conversation.recorder import CallRecorder
from voxagent.conversation.timeline import TurnTimeline
from voxagent.providers.fallback import ProviderChain
from voxagent.providers.stt.base import SpeechToText
from voxagent.providers.stt.pocketsphinx import PocketSphinxRecognizer
from voxagent.providers.tts.base import TextToSpeech
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.settings import OFFLINE_AGENT, Settings, SettingsError
from voxagent.state.appointments import AppointmentBook
from voxagent.state.call_records import CallRecord, CallRecordStore
from voxagent.state.database import Database
from voxagent.state.recordings import Recording, RecordingStore
from voxagent.state.sessions import Session, SessionStore
from voxagent.storage import Storage, StorageError, build_storage, key_segment
from voxagent.telemetry.stats import ServerStats

if TYPE_CHECKING:
    from voxagent.channels.telnyx.controller import TelnyxCallController
    from voxagent.channels.telnyx.webhook_mode import WebhookModeCall
    from voxagent.providers.llm.base import Brain

log = logging.getLogger(__name__)


class Conversation(Protocol):
    """What a call record is made from, in either mode."""

    call_id: str
    history: History
    turns: list[TurnTimeline]
    outcome: str


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = time.monotonic()
        self.metrics = ServerStats()
        self.calls: dict[str, Call] = {}
        self.sessions = SessionStore()
        self.telnyx: TelnyxCallController | None = None
        self.draining = False
        self._call_meta: dict[str, dict[str, str]] = {}
        self._started_wall: dict[str, datetime] = {}
        self.persona: Persona
        self.services: CallServices
        self.db: Database
        self.book: AppointmentBook
        self.records: CallRecordStore
        self.batches: dict[str, Batch] = {}
        self.brains: list[Brain] = []
        self._no_calls = asyncio.Event()
        self._no_calls.set()
        self._vad_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        try:  # no I/O here: the S3 client opens on first use, and start() checks it
            self.storage: Storage = build_storage(
                bucket=settings.aws_bucket_name or None,
                region=settings.aws_region,
                access_key_id=settings.aws_access_key_id,
                secret_access_key=settings.aws_secret_access_key,
                endpoint_url=settings.aws_endpoint_url,
                folder=settings.s3_bucket_folder,
                local_dir=settings.media_dir,
                public_base_url=settings.webhook_base_url,
                url_expiry_seconds=settings.s3_url_expiry_seconds,
            )
        except StorageError as exc:
            raise SettingsError(str(exc)) from None

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        s = self.settings
        t0 = time.perf_counter()
        self.persona = load_persona(s.persona)
        self.db = Database(s.database_url)
        await self.db.connect()
        self.book = AppointmentBook(self.db, self.persona)
        self.records = CallRecordStore(self.db)
        self.recordings = RecordingStore(self.db)
        try:
            await self.storage.check()
        except StorageError as exc:
            raise SettingsError(str(exc)) from None
        self._start_brains()
        voices, recognizers = await asyncio.gather(self._start_tts(), self._start_stt())
        self.services = CallServices(
            stt=recognizers[0],
            tts=voices[0],
            stt_fallbacks=recognizers[1:],
            tts_fallbacks=voices[1:],
            on_provider_switch=self.on_provider_switch,
            vad_factory=lambda rate: load_vad(s.vad_engine, rate),
            vad_executor=self._vad_executor,
            config=EngineConfig(
                vad_threshold=s.vad_threshold,
                min_speech_ms=s.min_speech_ms,
                end_of_turn_silence_ms=s.end_of_turn_silence_ms,
                barge_in_min_ms=s.barge_in_min_ms,
                max_history_messages=s.max_history_messages,
                max_call_seconds=s.max_call_seconds,
                speculative=s.speculative_responses,
            ),
        )
        if s.telnyx_api_key:
            from voxagent.channels.telnyx.call_control import CallControlClient
            from voxagent.channels.telnyx.controller import TelnyxCallController

            client = CallControlClient(s.telnyx_api_key, s.telnyx_base_url)
            self.telnyx = TelnyxCallController(self, client)
        else:
            log.warning(
                "TELNYX_API_KEY is not set: no calls can be placed, and /stream/media accepts "
                "any connection (fine for local development and the simulator)"
            )
        if not s.telnyx_verify_signatures:
            log.warning(
                "TELNYX_VERIFY_SIGNATURES=false: webhooks are NOT authenticated; anyone can "
                "drive calls. Use this only for local development."
            )
        log.info(
            "ready in %.1f s: stt=%s llm=%s tts=%s vad=%s persona=%s language=%s db=%s",
            time.perf_counter() - t0,
            ",".join(r.name for r in recognizers),
            ",".join(s.llm_chain),
            ",".join(v.name for v in voices),
            s.vad_engine,
            s.persona,
            s.effective_language,
            self.db.safe_url,
        )

    async def _start_stt(self) -> list[SpeechToText]:
        s = self.settings
        recognizers: list[SpeechToText] = []
        for name in s.stt_chain:
            if name == "deepgram":
                from voxagent.providers.stt.deepgram import DeepgramRecognizer

                recognizers.append(
                    DeepgramRecognizer(
                        s.deepgram_api_key,
                        base_url=s.deepgram_base_url,
                        model=s.deepgram_model,
                        language=s.effective_language,
                        endpointing_ms=s.deepgram_endpointing_ms,
                    )
                )
            else:
                sphinx = PocketSphinxRecognizer(workers=s.stt_workers)
                await sphinx.warm_up()
                recognizers.append(sphinx)
        return recognizers

    async def _start_tts(self) -> list[TextToSpeech]:
        s = self.settings
        voices: list[TextToSpeech] = []
        for name in s.tts_chain:
            if name == "elevenlabs":
                from voxagent.providers.tts.elevenlabs import ElevenLabsVoice

                voices.append(
                    ElevenLabsVoice(
                        s.elevenlabs_api_key,
                        s.elevenlabs_voice_id,
                        base_url=s.elevenlabs_base_url,
                        model_id=s.elevenlabs_model,
                        output_format="ulaw_8000",  # the phone's own encoding: no resampling
                    )
                )
            elif name == "cartesia":
                from voxagent.providers.tts.cartesia import CartesiaVoice

                voices.append(
                    CartesiaVoice(
                        s.cartesia_api_key,
                        s.cartesia_voice_id,
                        base_url=s.cartesia_base_url,
                        model_id=s.cartesia_model,
                        encoding="pcm_mulaw",
                        sample_rate=8000,
                    )
                )
            else:
                voices.append(await asyncio.to_thread(PiperVoiceSynthesizer, workers=s.tts_workers))
        return voices

    async def render_for_playback(self, call_id: str, text: str, index: int) -> str:
        """Our voice for a webhook-mode turn: synthesize, store as WAV, return the URL Telnyx
        fetches. The voice chain is the same one stream mode uses, so are its fallbacks."""
        voice = self.services.voice_for(call_id)
        chunks = [chunk async for chunk in voice.synthesize(text)]
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        data = wav_bytes(pcm, voice.sample_rate)
        return await self.storage.put(
            f"tts/{key_segment(call_id)}/{index:03d}.wav", data, "audio/wav"
        )

    def on_provider_switch(self, stage: str, failed: str, to: str, reason: str) -> None:
        """A call's provider failed and the next in its chain took over: count it."""
        self.metrics.provider_switches[f"{stage}:{failed}->{to}"] += 1

    async def stop(self) -> None:
        if self.telnyx is not None:
            await self.telnyx.close()
        for call in list(self.calls.values()):
            await call.end("server_shutdown")
            await self.close_call(call)
        services = self.services
        for recognizer in [services.stt, *services.stt_fallbacks]:
            await recognizer.close()
        for voice in [services.tts, *services.tts_fallbacks]:
            await voice.close()
        for brain in self.brains:
            await brain.close()
        self._vad_executor.shutdown(wait=False, cancel_futures=True)
        await self.storage.close()
        await self.db.close()

    async def drain(self, grace_seconds: float) -> None:
        """Refuse new calls, let active ones finish, then end the rest politely."""
        self.draining = True
        if self.calls:
            log.info("draining: %d active call(s), up to %.0f s", len(self.calls), grace_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_calls.wait(), grace_seconds)
        remaining = list(self.calls.values())
        if not remaining:
            return
        line = self.persona.line("shutdown", self.settings.effective_language)
        for call in remaining:
            call.say_and_end(_say_then_end(line))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_calls.wait(), 10)

    # ---------------------------------------------------------------- calls
    def _start_brains(self) -> None:
        """The models of LLM_PROVIDER (shared by every call; each call walks its own chain)."""
        from voxagent.providers.llm import make_brain

        s = self.settings
        options = {
            "anthropic": (s.claude_api_key, s.claude_model, s.anthropic_base_url),
            "openai": (s.openai_api_key, s.openai_model, s.openai_base_url),
        }
        for name in s.llm_chain:
            if name == OFFLINE_AGENT:
                break  # the scripted receptionist ends the chain: it cannot fail
            key, model, base_url = options[name]
            self.brains.append(
                make_brain(
                    name,
                    api_key=key,
                    model=model,
                    base_url=base_url,
                    timeout=s.llm_timeout_seconds,
                )
            )

    def new_agent(self, context: CallContext) -> Agent:
        scripted = ScriptedReceptionist(self.persona, ClinicTools(self.book, context), context)
        if not self.brains:
            return scripted
        from voxagent.agents.backup import AgentWithBackup
        from voxagent.agents.llm import LlmAgent
        from voxagent.providers.llm.fallback import FallbackBrain

        brain = FallbackBrain(
            ProviderChain(
                "llm", self.brains, call_id=context.call_id, on_switch=self.on_provider_switch
            )
        )
        agent = LlmAgent(
            self.persona,
            ClinicTools(self.book, context),
            context,
            brain,
            max_history=self.settings.max_history_messages,
        )
        if OFFLINE_AGENT in self.settings.llm_chain:
            return AgentWithBackup(agent, scripted, on_switch=self.on_provider_switch)
        return agent

    async def open_call(
        self, context: CallContext, channel: Channel, *, mode: str, session: Session | None = None
    ) -> Call:
        call = Call(
            context.call_id,
            channel,
            self.new_agent(context),
            self.services,
            on_turn=self.on_turn,
            language=context.language,
            apology=lambda: self._apologize(context.language),
            recorder=CallRecorder(channel.sample_rate) if self.settings.record_calls else None,
        )
        call.transfer_to = self.persona.phone or None
        self.calls[call.call_id] = call
        self._no_calls.clear()
        self._remember(call.call_id, context, mode, session)
        self.metrics.calls_started += 1
        call.start()
        await self._save(call)
        return call

    def _remember(
        self, call_id: str, context: CallContext, mode: str, session: Session | None
    ) -> None:
        self._call_meta[call_id] = {
            "from": context.caller,
            "to": context.callee,
            "mode": mode,
            "language": context.language,
            "direction": session.direction if session else "inbound",
        }
        self._started_wall[call_id] = datetime.now(UTC)

    def register_conversation(self, conversation: WebhookModeCall, session: Session) -> None:
        """A webhook-mode call started (the controller owns it; we keep its record)."""
        context = CallContext(
            call_id=conversation.call_id,
            caller=session.from_number,
            callee=session.to_number,
            language=conversation.language,
        )
        self._remember(conversation.call_id, context, "webhook", session)
        self.metrics.calls_started += 1

    async def close_conversation(
        self, conversation: WebhookModeCall, *, hangup_cause: str | None = None
    ) -> None:
        self.metrics.calls_ended += 1
        await self._save(conversation, ended=True, hangup_cause=hangup_cause)
        self._forget(conversation.call_id)

    async def close_call(self, call: Call, *, hangup_cause: str | None = None) -> None:
        if self.calls.pop(call.call_id, None) is None:
            return
        if not self.calls:
            self._no_calls.set()
        self.metrics.calls_ended += 1
        self.metrics.barge_ins += call.barge_ins
        self.metrics.dropped_frames += call.dropped_frames
        await self._save(call, ended=True, hangup_cause=hangup_cause)
        self._forget(call.call_id)
        if call.recorder is not None:
            await self._store_recording(call.call_id, call.recorder)

    async def _store_recording(self, call_id: str, recorder: CallRecorder) -> None:
        """Upload the call's audio; a failure is logged, the call record stands regardless."""
        key = f"recordings/{key_segment(call_id)}.wav"
        try:
            data = await asyncio.to_thread(recorder.wav)
            await self.storage.put(key, data, "audio/wav")
            await self.recordings.save(Recording(call_id, key, recorder.duration_ms, len(data)))
        except Exception:
            log.exception("call %s: could not store the recording", call_id)

    async def recording_url(self, call_id: str) -> str | None:
        recording = await self.recordings.get(call_id)
        return None if recording is None else await self.storage.url(recording.storage_key)

    def _forget(self, call_id: str) -> None:
        self._call_meta.pop(call_id, None)
        self._started_wall.pop(call_id, None)

    async def record_hangup(
        self,
        call_id: str,
        session: Session | None,
        hangup_cause: str | None,
        outcome: str | None,
    ) -> str | None:
        """The hang-up webhook of a call whose stream already closed (or never opened):
        complete its record; returns the outcome the record holds."""
        record = await self.records.get(call_id)
        if record is None:
            if session is None:
                return outcome
            record = CallRecord(
                call_id=call_id,
                direction=session.direction,
                from_number=session.from_number,
                to_number=session.to_number,
                persona=self.persona.name,
                mode=session.mode,
                language=self.settings.effective_language,
            )
        record.hangup_cause = hangup_cause
        record.ended_at = record.ended_at or datetime.now(UTC)
        if outcome and record.outcome in (None, "in_progress"):
            record.outcome = outcome
        await self.records.save(record)
        return record.outcome

    def session_finished(self, session: Session | None) -> None:
        """A call ended for good (its hang-up webhook): free its batch slot, if any."""
        if session is not None and session.batch_id in self.batches:
            self.batches[session.batch_id].session_ended(session)

    async def on_turn(self, call: Conversation, turn: TurnTimeline) -> None:
        self.metrics.turns += 1
        await self._save(call)

    async def _save(
        self, call: Conversation, *, ended: bool = False, hangup_cause: str | None = None
    ) -> None:
        meta = self._call_meta.get(call.call_id, {})
        record = CallRecord(
            call_id=call.call_id,
            direction=meta.get("direction", "inbound"),
            from_number=meta.get("from", ""),
            to_number=meta.get("to", ""),
            persona=self.persona.name,
            mode=meta.get("mode", ""),
            language=meta.get("language", ""),
            started_at=self._started_wall.get(call.call_id, datetime.now(UTC)),
            ended_at=datetime.now(UTC) if ended else None,
            outcome=call.outcome,
            hangup_cause=hangup_cause,
            transcript=call.history.as_dicts(),
            turns=[t.as_record() for t in call.turns if t.first_audio_sent or t.interrupted],
        )
        try:
            await self.records.save(record)
        except Exception:
            log.exception("call %s: could not save the call record", call.call_id)

    def health(self) -> dict[str, object]:
        s = self.settings
        return {
            "status": "draining" if self.draining else "ok",
            "uptime_seconds": round(time.monotonic() - self.started_at, 1),
            "active_calls": len(self.calls)
            + (len(self.telnyx.webhook_calls) if self.telnyx else 0),
            "telnyx": "configured" if self.telnyx else "not configured",
            "providers": {
                "stt": s.stt_provider,
                "llm": s.llm_provider,
                "tts": s.tts_provider,
                "vad": s.vad_engine,
            },
            "persona": s.persona,
            "webhooks": {
                "rejected": self.metrics.webhooks_rejected,
                "duplicates": self.telnyx.duplicates if self.telnyx else 0,
            },
            "language": s.effective_language,
            "stats": self.metrics.as_dict(),
        }

    async def _apologize(self, language: str) -> AsyncIterator[AgentAction]:
        """No recognizer is left for this call: say so, then hand over to a person."""
        yield Say(self.persona.line("technical_trouble", language))
        if self.persona.phone:
            yield Transfer(self.persona.phone)
        else:
            yield EndCall("provider_failure")


async def _say_then_end(line: str) -> AsyncIterator[AgentAction]:
    yield Say(line)
    yield EndCall("server_shutdown")


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
