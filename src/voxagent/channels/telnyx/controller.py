"""Drives Telnyx calls: places them, answers them, and reacts to their webhooks.

Webhooks may arrive twice (Telnyx retries) and out of order, so each event id is processed
once, and events are handled per call in arrival order by one task per call, off the HTTP
request (Telnyx wants a 2xx within 2 s). Out-of-order events cannot undo newer ones: every
session change goes through the session store's transition table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import assert_never

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.audio.format import PCMA_8K, PCMU_8K, AudioFormat
from voxagent.calls.info import ChannelKind
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.calls.records import NOT_ANSWERED
from voxagent.calls.sessions import Session, SessionStatus
from voxagent.channels.telnyx import webhooks as wh
from voxagent.channels.telnyx.call_control import CallControlClient, TelnyxApiError
from voxagent.channels.telnyx.webhook_mode import (
    PLAYBACK_FORMAT,
    OwnVoicePlayback,
    WebhookModeCall,
)
from voxagent.settings import Settings
from voxagent.storage import Storage

log = logging.getLogger(__name__)

SEEN_EVENTS = 50_000
"""Event ids remembered for de-duplication (Telnyx retries within minutes, not days)."""

STREAM_FORMATS: dict[str, AudioFormat] = {"PCMU": PCMU_8K, "PCMA": PCMA_8K}


class EventDeduplicator:
    """Event ids this process has seen (the most recent ``capacity``)."""

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

    async def claim(self, event_id: str) -> bool:
        """True for the first delivery of an event, False for a repeat."""
        return self.first_time(event_id)


class SharedEventDeduplicator:
    """Event ids seen by any instance: ``SET {prefix}webhook:{event_id} NX EX ttl`` decides,
    so a webhook Telnyx retries to another instance is still handled once. Repeats this
    process saw are answered from memory; while Redis is away, memory decides alone."""

    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.local = EventDeduplicator()

    async def claim(self, event_id: str) -> bool:
        if not self.local.first_time(event_id):
            return False
        try:
            return bool(
                await self.redis.set(
                    f"{self.prefix}webhook:{event_id}", "1", nx=True, ex=self.ttl_s
                )
            )
        except (RedisError, OSError):
            return True


class TelnyxCallController:
    def __init__(
        self,
        settings: Settings,
        client: CallControlClient,
        calls: CallLifecycle,
        storage: Storage,
        *,
        on_session_ended: Callable[[Session], None] = lambda session: None,
        dedup: EventDeduplicator | SharedEventDeduplicator | None = None,
    ) -> None:
        """``on_session_ended`` hears of every call that ended for good (its hang-up), so a
        batch can free that call's slot."""
        self.settings = settings
        self.client = client
        self.calls = calls
        self.sessions = calls.sessions
        self.storage = storage
        self._on_session_ended = on_session_ended
        self.dedup: EventDeduplicator | SharedEventDeduplicator = dedup or EventDeduplicator()
        self.duplicates = 0
        self._queues: dict[str, asyncio.Queue[wh.WebhookEvent | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    @property
    def stream_format(self) -> AudioFormat:
        """The format asked of Telnyx for every media stream (STREAM_CODEC)."""
        return STREAM_FORMATS[self.settings.stream_codec]

    # --------------------------------------------------------------- dialing
    async def dial(self, session: Session) -> str:
        s = self.settings
        options = await self._stream_options(session)
        result = await self.client.dial(
            connection_id=s.telnyx_connection_id,
            to=session.to_number,
            from_=session.from_number,
            client_state=wh.encode_client_state({"session_id": session.session_id}),
            webhook_url=self.webhook_url(),
            **options,  # type: ignore[arg-type]
        )
        await self.sessions.attach_call(session.session_id, result.call_control_id)
        await self.sessions.update(session.session_id, status=SessionStatus.DIALING)
        return result.call_control_id

    async def _stream_options(self, session: Session) -> dict[str, object]:
        if session.mode is not ChannelKind.MEDIA_STREAM:
            return {}
        codec = self.settings.stream_codec
        return {
            "stream_url": self.stream_url(),
            "stream_track": "inbound_track",
            "stream_bidirectional_mode": "rtp",
            "stream_bidirectional_codec": codec,
            "stream_codec": codec,
            "stream_auth_token": await self.sessions.new_stream_token(session.session_id),
        }

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
    async def accept(self, event: wh.WebhookEvent) -> bool:
        """Queue an event for its call; False when it is a duplicate delivery."""
        if not await self.dedup.claim(event.event_id):
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

    async def _session_for(self, event: wh.WebhookEvent) -> Session | None:
        session = await self.sessions.by_call(event.call.call_control_id)
        if session is None:
            state = wh.decode_client_state(event.call.client_state)
            session = await self.sessions.get(str(state.get("session_id", "")) or None)
            if session is not None and event.call.call_control_id:
                await self.sessions.attach_call(session.session_id, event.call.call_control_id)
        return session

    def _webhook_call(self, call_id: str) -> WebhookModeCall | None:
        conversation = self.calls.get(call_id)
        return conversation if isinstance(conversation, WebhookModeCall) else None

    async def handle(self, event: wh.WebhookEvent) -> None:
        call_id = event.call.call_control_id
        session = await self._session_for(event)
        log.info("webhook %s for call %s", event.event_type, call_id)
        match event.data:
            case wh.CallInitiated() as data:
                if data.direction == "incoming" and session is None:
                    await self._answer_inbound(event, data)
                elif session is not None:
                    await self.sessions.update(session.session_id, status=SessionStatus.RINGING)
            case wh.CallAnswered():
                if session is not None:
                    answered = await self.sessions.update(
                        session.session_id, status=SessionStatus.ANSWERED
                    )
                    if answered is not None and answered.mode is ChannelKind.WEBHOOK:
                        await self._start_webhook_mode(answered)
            case wh.StreamingFailed() as data:
                log.warning(
                    "call %s: media stream failed (%s): webhook mode", call_id, data.failure_reason
                )
                if session is not None and session.mode is ChannelKind.MEDIA_STREAM:
                    moved = await self.sessions.update(session.session_id, mode=ChannelKind.WEBHOOK)
                    if moved is not None:
                        await self._start_webhook_mode(moved)
            case wh.Transcription() as data:
                call = self._webhook_call(call_id)
                if call is not None and data.track in ("inbound", ""):
                    await call.on_transcript(data.transcript, data.is_final)
            case wh.SpeakStarted() | wh.PlaybackStarted():
                call = self._webhook_call(call_id)
                if call is not None:
                    await call.on_speak_started()
            case wh.SpeakEnded() | wh.PlaybackEnded() as data:
                call = self._webhook_call(call_id)
                if call is not None:
                    await call.on_speak_ended(data.status)
            case wh.CallHangup() as data:
                await self._hung_up(session, call_id, data)
            case wh.DtmfReceived() as data:
                log.info("call %s: DTMF %s", call_id, data.digit)
            case wh.MachineDetectionEnded() as data:
                log.info("call %s: answering machine detection: %s", call_id, data.result)
                if session is not None and data.result == "machine":
                    await self.sessions.update(session.session_id, outcome="voicemail")
                    with contextlib.suppress(TelnyxApiError):
                        await self.client.hangup(call_id)
            case wh.StreamingStarted() | wh.StreamingStopped():
                log.info("call %s: %s", call_id, event.event_type)
            case wh.UnknownEvent() as data:
                log.info("call %s: unhandled webhook %s acknowledged", call_id, data.event_type)
            case _:
                assert_never(event.data)

    async def _answer_inbound(self, event: wh.WebhookEvent, data: wh.CallInitiated) -> None:
        call_control_id = event.call.call_control_id
        if self.calls.draining:
            with contextlib.suppress(TelnyxApiError):
                await self.client.hangup(call_control_id)
            return
        s = self.settings
        session = await self.sessions.create(
            "inbound",
            data.from_number,
            data.to_number,
            persona=s.persona,
            language=s.effective_language,
            mode=ChannelKind.MEDIA_STREAM if s.use_media_streams else ChannelKind.WEBHOOK,
            status=SessionStatus.RINGING,
        )
        await self.sessions.attach_call(session.session_id, call_control_id)
        options = await self._stream_options(session)
        await self.client.answer(
            call_control_id,
            client_state=wh.encode_client_state({"session_id": session.session_id}),
            **options,  # type: ignore[arg-type]
        )

    async def _start_webhook_mode(self, session: Session) -> None:
        call_id = session.call_control_id
        if call_id is None or self.calls.get(call_id) is not None:
            return
        s = self.settings
        factory = self.calls.factory
        info = session.call_info(call_id)
        playback = (
            OwnVoicePlayback(call_id, factory.voice(info, PLAYBACK_FORMAT), self.storage)
            if s.webhook_mode_voice == "provider"
            else None
        )
        call = WebhookModeCall(
            info,
            self.client,
            factory.agent(info),
            factory.lines(info),
            voice=s.telnyx_speak_voice,
            transcription_engine=s.telnyx_transcription_engine,
            max_history_messages=s.max_history_messages,
            no_input_timeout_s=s.no_input_timeout_s,
            on_turn=self.calls.on_turn,
            playback=playback,
        )
        await self.calls.adopt(call)
        await call.start()

    async def _hung_up(self, session: Session | None, call_id: str, data: wh.CallHangup) -> None:
        """Finish everything about the call; the session is marked ended last, so whoever
        polls for the end sees the complete record."""
        outcome: str | None = session.outcome if session is not None else None
        if session is not None and session.answered_at is None and outcome is None:
            outcome = NOT_ANSWERED.get(data.hangup_cause, "not_answered")
        hung_up_by = "caller_hangup" if data.hangup_source == "caller" else "callee_hangup"
        conversation = self.calls.get(call_id)
        if conversation is not None:
            await conversation.end(hung_up_by)
            outcome = outcome or conversation.outcome
            await self.calls.close(conversation, hangup_cause=data.hangup_cause, end_session=False)
        else:
            recorded = await self.calls.records.close_unconnected(
                call_id, session, data.hangup_cause, outcome
            )
            outcome = outcome or recorded
        if session is not None:
            ended = await self.sessions.update(
                session.session_id,
                status=SessionStatus.ENDED,
                hangup_cause=data.hangup_cause,
                outcome=outcome or "completed",
            )
            self._on_session_ended(ended or await self.sessions.get(session.session_id) or session)
