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

from voxagent.agents.base import AgentAction, CallContext, EndCall, Say
from voxagent.agents.persona import Persona, load_persona
from voxagent.agents.scripted import ScriptedReceptionist
from voxagent.agents.tools import ClinicTools
from voxagent.audio.vad import load_vad
from voxagent.conversation.call import Call, CallServices, EngineConfig
from voxagent.conversation.channel import Channel
from voxagent.conversation.timeline import TurnTimeline
from voxagent.providers.stt.pocketsphinx import PocketSphinxRecognizer
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.settings import Settings
from voxagent.state.appointments import AppointmentBook
from voxagent.state.call_records import CallRecord, CallRecordStore
from voxagent.state.database import Database
from voxagent.telemetry.stats import ServerStats

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = time.monotonic()
        self.metrics = ServerStats()
        self.calls: dict[str, Call] = {}
        self.draining = False
        self._call_meta: dict[str, dict[str, str]] = {}
        self._started_wall: dict[str, datetime] = {}
        self.persona: Persona
        self.services: CallServices
        self.db: Database
        self.book: AppointmentBook
        self.records: CallRecordStore
        self._no_calls = asyncio.Event()
        self._no_calls.set()
        self._vad_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        s = self.settings
        t0 = time.perf_counter()
        self.persona = load_persona(s.persona)
        self.db = Database(s.database_url)
        await self.db.connect()
        self.book = AppointmentBook(self.db, self.persona)
        self.records = CallRecordStore(self.db)
        tts, stt = await asyncio.gather(
            asyncio.to_thread(PiperVoiceSynthesizer, workers=s.tts_workers),
            self._start_stt(),
        )
        self.services = CallServices(
            stt=stt,
            tts=tts,
            vad_factory=lambda rate: load_vad(s.vad_engine, rate),
            vad_executor=self._vad_executor,
            config=EngineConfig(
                vad_threshold=s.vad_threshold,
                min_speech_ms=s.min_speech_ms,
                end_of_turn_silence_ms=s.end_of_turn_silence_ms,
                barge_in_min_ms=s.barge_in_min_ms,
                max_history_messages=s.max_history_messages,
                max_call_seconds=s.max_call_seconds,
            ),
        )
        log.info(
            "ready in %.1f s: stt=%s llm=%s tts=%s vad=%s persona=%s language=%s db=%s",
            time.perf_counter() - t0,
            stt.name,
            s.llm_provider,
            tts.name,
            s.vad_engine,
            s.persona,
            s.effective_language,
            self.db.safe_url,
        )

    async def _start_stt(self) -> PocketSphinxRecognizer:
        stt = PocketSphinxRecognizer(workers=self.settings.stt_workers)
        await stt.warm_up()
        return stt

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            await call.end("server_shutdown")
            await self.close_call(call)
        await self.services.stt.close()
        await self.services.tts.close()
        self._vad_executor.shutdown(wait=False, cancel_futures=True)
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
    async def open_call(self, context: CallContext, channel: Channel, *, mode: str) -> Call:
        tools = ClinicTools(self.book, context)
        agent = ScriptedReceptionist(self.persona, tools, context)
        call = Call(context.call_id, channel, agent, self.services, on_turn=self._on_turn)
        self.calls[call.call_id] = call
        self._no_calls.clear()
        self._call_meta[call.call_id] = {
            "from": context.caller,
            "to": context.callee,
            "mode": mode,
            "language": context.language,
        }
        self._started_wall[call.call_id] = datetime.now(UTC)
        self.metrics.calls_started += 1
        call.start()
        await self._save(call)
        return call

    async def close_call(self, call: Call) -> None:
        if self.calls.pop(call.call_id, None) is None:
            return
        if not self.calls:
            self._no_calls.set()
        self.metrics.calls_ended += 1
        self.metrics.barge_ins += call.barge_ins
        self.metrics.dropped_frames += call.dropped_frames
        await self._save(call, ended=True)
        self._call_meta.pop(call.call_id, None)
        self._started_wall.pop(call.call_id, None)

    async def _on_turn(self, call: Call, turn: TurnTimeline) -> None:
        self.metrics.turns += 1
        await self._save(call)

    async def _save(self, call: Call, *, ended: bool = False) -> None:
        meta = self._call_meta.get(call.call_id, {})
        record = CallRecord(
            call_id=call.call_id,
            direction="inbound",
            from_number=meta.get("from", ""),
            to_number=meta.get("to", ""),
            persona=self.persona.name,
            mode=meta.get("mode", ""),
            language=meta.get("language", ""),
            started_at=self._started_wall.get(call.call_id, datetime.now(UTC)),
            ended_at=datetime.now(UTC) if ended else None,
            outcome=call.outcome,
            hangup_cause=None,
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
            "active_calls": len(self.calls),
            "providers": {
                "stt": s.stt_provider,
                "llm": s.llm_provider,
                "tts": s.tts_provider,
                "vad": s.vad_engine,
            },
            "persona": s.persona,
            "language": s.effective_language,
            "stats": self.metrics.as_dict(),
        }


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
