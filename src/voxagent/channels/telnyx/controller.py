"""Drives Telnyx calls: places them, answers them, and reacts to their webhooks.

Webhooks may arrive twice (Telnyx retries) and out of order, so each event id is processed
once, and events are handled per call in arrival order by one task per call, off the HTTP
request (Telnyx wants a 2xx within 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from voxagent.agents.base import CallContext
from voxagent.channels.telnyx import webhooks as wh
from voxagent.channels.telnyx.call_control import CallControlClient, TelnyxApiError
from voxagent.channels.telnyx.webhook_mode import WebhookModeCall
from voxagent.state.sessions import Session

if TYPE_CHECKING:
    from voxagent.runtime import Runtime

log = logging.getLogger(__name__)

SEEN_EVENTS = 50_000
"""Event ids remembered for de-duplication (Telnyx retries within minutes, not days)."""


class EventDeduplicator:
    def __init__(self, capacity: int = SEEN_EVENTS) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True


class TelnyxCallController:
    def __init__(self, runtime: Runtime, client: CallControlClient) -> None:
        self.runtime = runtime
        self.client = client
        self.settings = runtime.settings
        self.dedup = EventDeduplicator()
        self.duplicates = 0
        self._queues: dict[str, asyncio.Queue[wh.WebhookEvent | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.webhook_calls: dict[str, WebhookModeCall] = {}

    # --------------------------------------------------------------- dialing
    async def dial(self, session: Session) -> str:
        s = self.settings
        options: dict[str, object] = {}
        if session.mode == "media_stream":
            options = {
                "stream_url": self.stream_url(),
                "stream_track": "inbound_track",
                "stream_bidirectional_mode": "rtp",
                "stream_bidirectional_codec": s.stream_codec,
                "stream_codec": s.stream_codec,
                "stream_auth_token": self.runtime.sessions.new_stream_token(session),
            }
        result = await self.client.dial(
            connection_id=s.telnyx_connection_id,
            to=session.to_number,
            from_=session.from_number,
            client_state=wh.encode_client_state({"session_id": session.session_id}),
            webhook_url=self.webhook_url(),
            **options,  # type: ignore[arg-type]
        )
        self.runtime.sessions.attach_call(session, result.call_control_id)
        session.status = "dialing"
        return result.call_control_id

    def stream_url(self) -> str:
        if self.settings.stream_url:
            return self.settings.stream_url
        base = self.settings.webhook_base_url.rstrip("/")
        if base.startswith("http"):
            base = "ws" + base[len("http") :]
        return f"{base}/stream/media"

    def webhook_url(self) -> str:
        return f"{self.settings.webhook_base_url.rstrip('/')}/webhook/telnyx"

    # -------------------------------------------------------------- webhooks
    def accept(self, event: wh.WebhookEvent) -> bool:
        """Queue an event for its call; False when it is a duplicate delivery."""
        if not self.dedup.first_time(event.event_id):
            self.duplicates += 1
            return False
        key = event.call.call_control_id or "-"
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.create_task(self._work(key, queue), name=f"wh-{key}")
        queue.put_nowait(event)
        return True

    async def _work(self, key: str, queue: asyncio.Queue[wh.WebhookEvent | None]) -> None:
        while (event := await queue.get()) is not None:
            try:
                await self.handle(event)
            except Exception:
                log.exception("webhook %s for call %s failed", event.event_type, key)
            if isinstance(event.data, wh.CallHangup):
                break
        self._queues.pop(key, None)
        self._workers.pop(key, None)

    async def close(self) -> None:
        for task in list(self._workers.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()

    def _session_for(self, event: wh.WebhookEvent) -> Session | None:
        sessions = self.runtime.sessions
        session = sessions.by_call(event.call.call_control_id)
        if session is None:
            state = wh.decode_client_state(event.call.client_state)
            session = sessions.get(str(state.get("session_id", "")) or None)
            if session is not None and event.call.call_control_id:
                sessions.attach_call(session, event.call.call_control_id)
        return session

    async def handle(self, event: wh.WebhookEvent) -> None:
        data = event.data
        call_id = event.call.call_control_id
        session = self._session_for(event)
        log.info("webhook %s for call %s", event.event_type, call_id)
        if isinstance(data, wh.CallInitiated):
            if data.direction == "incoming" and session is None:
                await self._answer_inbound(event, data)
            elif session is not None:
                session.status = "ringing"
        elif isinstance(data, wh.CallAnswered):
            if session is not None:
                session.status = "answered"
                session.answered_at = time.time()
                if session.mode == "webhook":
                    await self._start_webhook_mode(session)
        elif isinstance(data, wh.StreamingFailed):
            log.warning(
                "call %s: media stream failed (%s): webhook mode", call_id, data.failure_reason
            )
            if session is not None and session.mode == "media_stream":
                session.mode = "webhook"
                await self._start_webhook_mode(session)
        elif isinstance(data, wh.Transcription):
            wm = self.webhook_calls.get(call_id)
            if wm is not None and data.track in ("inbound", ""):
                await wm.on_transcript(data.transcript, data.is_final)
        elif isinstance(data, wh.SpeakStarted | wh.PlaybackStarted):
            wm = self.webhook_calls.get(call_id)
            if wm is not None:
                await wm.on_speak_started()
        elif isinstance(data, wh.SpeakEnded | wh.PlaybackEnded):
            wm = self.webhook_calls.get(call_id)
            if wm is not None:
                await wm.on_speak_ended(data.status)
        elif isinstance(data, wh.CallHangup):
            await self._hung_up(session, call_id, data)
        elif isinstance(data, wh.DtmfReceived):
            log.info("call %s: DTMF %s", call_id, data.digit)
        elif isinstance(data, wh.MachineDetectionEnded):
            log.info("call %s: answering machine detection: %s", call_id, data.result)
            if session is not None and data.result == "machine":
                session.outcome = "voicemail"
                with contextlib.suppress(TelnyxApiError):
                    await self.client.hangup(call_id)
        elif isinstance(data, wh.UnknownEvent):
            log.info("call %s: unhandled webhook %s acknowledged", call_id, data.event_type)

    async def _answer_inbound(self, event: wh.WebhookEvent, data: wh.CallInitiated) -> None:
        runtime = self.runtime
        if runtime.draining:
            with contextlib.suppress(TelnyxApiError):
                await self.client.hangup(event.call.call_control_id)
            return
        mode = "media_stream" if self.settings.use_media_streams else "webhook"
        session = runtime.sessions.create(
            "inbound", data.from_number, data.to_number, mode=mode, persona=self.settings.persona
        )
        runtime.sessions.attach_call(session, event.call.call_control_id)
        session.status = "ringing"
        options: dict[str, object] = {}
        if mode == "media_stream":
            s = self.settings
            options = {
                "stream_url": self.stream_url(),
                "stream_track": "inbound_track",
                "stream_bidirectional_mode": "rtp",
                "stream_bidirectional_codec": s.stream_codec,
                "stream_codec": s.stream_codec,
                "stream_auth_token": runtime.sessions.new_stream_token(session),
            }
        await self.client.answer(
            event.call.call_control_id,
            client_state=wh.encode_client_state({"session_id": session.session_id}),
            **options,  # type: ignore[arg-type]
        )

    async def _start_webhook_mode(self, session: Session) -> None:
        call_id = session.call_control_id
        if call_id is None or call_id in self.webhook_calls:
            return
        s = self.settings
        context = CallContext(
            call_id=call_id,
            caller=session.from_number,
            callee=session.to_number,
            language=s.effective_language,
        )
        agent = self.runtime.new_agent(context)
        wm = WebhookModeCall(
            call_id,
            self.client,
            agent,
            language=s.effective_language,
            voice=s.telnyx_speak_voice,
            transcription_engine=s.telnyx_transcription_engine,
            max_history_messages=s.max_history_messages,
            on_turn=self.runtime.on_turn,
            render_audio=(
                functools.partial(self.runtime.render_for_playback, call_id)
                if s.webhook_mode_voice == "provider"
                else None
            ),
        )
        self.webhook_calls[call_id] = wm
        self.runtime.register_conversation(wm, session)
        await wm.start()

    async def _hung_up(self, session: Session | None, call_id: str, data: wh.CallHangup) -> None:
        """Finish everything about the call; the session is marked ended last, so whoever
        polls for the end sees the complete record."""
        wm = self.webhook_calls.pop(call_id, None)
        outcome: str | None = session.outcome if session is not None else None
        if session is not None and session.answered_at is None and outcome is None:
            outcome = {
                "user_busy": "busy",
                "timeout": "no_answer",
                "no_answer": "no_answer",
                "call_rejected": "rejected",
            }.get(data.hangup_cause, "not_answered")
        hung_up_by = "caller_hangup" if data.hangup_source == "caller" else "callee_hangup"
        if wm is not None:
            wm.ended_by(hung_up_by)
            outcome = outcome or wm.outcome
            await self.runtime.close_conversation(wm, hangup_cause=data.hangup_cause)
        live = self.runtime.calls.get(call_id)
        if live is not None:
            await live.end(hung_up_by)
            outcome = outcome or live.outcome
            await self.runtime.close_call(live, hangup_cause=data.hangup_cause)
        elif wm is None:
            recorded = await self.runtime.record_hangup(
                call_id, session, data.hangup_cause, outcome
            )
            outcome = outcome or recorded
        if session is not None:
            session.hangup_cause = data.hangup_cause
            session.outcome = outcome or "completed"
            session.ended_at = time.time()
            session.status = "ended"
        self.runtime.session_finished(session)
