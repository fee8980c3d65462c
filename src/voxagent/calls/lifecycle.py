"""The life of every conversation in this process: open → run → record → close, and drain.

Channels hand over a line (a :class:`~voxagent.conversation.channel.Channel`) and the call's
facts; the lifecycle builds the call from the factory, keeps it in the one registry that drain
and shutdown see, writes its record after every turn and once more at the end, and ends its
session. Conversations a channel runs itself (Telnyx webhook mode) join the same registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from voxagent.calls.conversation import Conversation
from voxagent.calls.factory import CallFactory
from voxagent.calls.info import CallInfo
from voxagent.calls.records import RecordKeeper
from voxagent.calls.sessions import SessionStatus, SessionStore
from voxagent.calls.shared_history import SharedHistory
from voxagent.conversation.call import Call
from voxagent.conversation.channel import Channel
from voxagent.conversation.history import Message
from voxagent.conversation.observer import CallObserver
from voxagent.conversation.timeline import TurnTimeline
from voxagent.state.call_records import CallRecord
from voxagent.telemetry.logging import call_context
from voxagent.telemetry.metrics import Metrics
from voxagent.telemetry.stats import ServerStats
from voxagent.telemetry.tracing import TurnTracer

__all__ = ["CallLifecycle"]

log = logging.getLogger(__name__)

SHUTDOWN_LINE_WAIT_S = 10.0
"""After the grace period, how long the goodbye line may take before calls are cut."""


class CallLifecycle:
    def __init__(
        self,
        factory: CallFactory,
        sessions: SessionStore,
        records: RecordKeeper,
        stats: ServerStats,
    ) -> None:
        self.factory = factory
        self.sessions = sessions
        self.records = records
        self.stats = stats
        self.draining = False
        self.shared_history: SharedHistory | None = None
        """Set with several instances: every turn's history goes to Redis too."""
        self._conversations: dict[str, Conversation] = {}
        self._started: dict[str, datetime] = {}
        self._earlier: dict[str, CallRecord] = {}
        """Calls that came from another instance: the record it had written."""
        self._handing_over: set[str] = set()
        self.on_open: Callable[[str], None] | None = None
        self.metrics: Metrics | None = None
        self.tracer: TurnTracer | None = None
        """Set when OpenTelemetry is on: a trace of every turn."""
        self.dropped_frames: Counter[str] = Counter()
        """Caller frames dropped by the calls that ended here, by channel."""
        """Told each call id that starts here (with several instances: claim its ownership)."""
        self._no_calls = asyncio.Event()
        self._no_calls.set()

    # --------------------------------------------------------------- registry
    @property
    def active(self) -> int:
        return len(self._conversations)

    def call_ids(self) -> list[str]:
        """The calls this process serves now (what its heartbeats claim)."""
        return list(self._conversations)

    def get(self, call_id: str) -> Conversation | None:
        return self._conversations.get(call_id)

    def active_by_channel(self) -> dict[str, int]:
        counts: Counter[str] = Counter(str(c.info.channel) for c in self._conversations.values())
        return dict(counts)

    def dropped_by_channel(self) -> dict[str, int]:
        """Frames dropped so far, ended calls and live ones together."""
        counts = Counter(self.dropped_frames)
        for conversation in self._conversations.values():
            counts[str(conversation.info.channel)] += conversation.counters.dropped_frames
        return dict(counts)

    def live(self, call_id: str) -> Call | None:
        """The media-stream call with this id, when one runs here."""
        conversation = self._conversations.get(call_id)
        return conversation if isinstance(conversation, Call) else None

    # ------------------------------------------------------------------ open
    async def open(
        self,
        info: CallInfo,
        channel: Channel,
        *,
        observer: CallObserver | None = None,
        history: Iterable[Message] = (),
        reconnected: bool = False,
    ) -> Call:
        """Start a conversation on ``channel``: greet, listen, and record it from now on.
        With ``history`` (a conversation resumed after a reconnect, or handed over by another
        instance) there is no greeting and the record goes on from the one already written;
        ``reconnected`` (a call picked up from a lost instance) says so to the caller.

        Runs in the call's log context: the call's tasks, created here, log its id."""
        with call_context(info.call_id):
            return await self._open(
                info, channel, observer=observer, history=history, reconnected=reconnected
            )

    async def _open(
        self,
        info: CallInfo,
        channel: Channel,
        *,
        observer: CallObserver | None,
        history: Iterable[Message],
        reconnected: bool,
    ) -> Call:
        info = await self._with_session(info)
        on_tool = observer.tool_used if observer is not None else None
        parts = self.factory.parts(info, channel.audio_format, on_tool=on_tool)
        call = Call(info, channel, parts, on_turn=self.on_turn, observer=observer)
        resumed = False
        for message in history:
            resumed = True
            if message.role == "user":
                call.history.add_user(message.text)
            else:
                call.history.add_assistant(message.text, interrupted=message.interrupted)
        earlier = await self.records.store.get(call.call_id) if resumed else None
        self._register(call)
        if earlier is not None:
            self._earlier[call.call_id] = earlier
        call.start(greet=not resumed, reconnected=reconnected)
        await self._save(call)
        return call

    async def adopt(self, conversation: Conversation) -> None:
        """A conversation its channel runs itself (webhook mode) joins the registry."""
        with call_context(conversation.call_id):
            self._register(conversation)
            await self._save(conversation)

    async def on_turn(self, conversation: Conversation, turn: TurnTimeline) -> None:
        """A turn finished: the record is rewritten, so a crash loses at most this turn."""
        self.stats.turns += 1
        if self.metrics is not None:
            self.metrics.turn(str(conversation.info.channel), turn)
        if self.tracer is not None:
            self.tracer.turn(conversation.call_id, str(conversation.info.channel), turn)
        if self.shared_history is not None:  # first: what another instance resumes from
            await self.shared_history.save(conversation.call_id, conversation.history)
        if conversation.call_id in self._started:
            await self._save(conversation)

    async def _save(self, conversation: Conversation, **final: object) -> None:
        call_id = conversation.call_id
        await self.records.save(
            conversation,
            self._started[call_id],
            earlier=self._earlier.get(call_id),
            **final,  # type: ignore[arg-type]
        )

    def _register(self, conversation: Conversation) -> None:
        self._conversations[conversation.call_id] = conversation
        self._started[conversation.call_id] = datetime.now(UTC)
        self._no_calls.clear()
        self.stats.calls_started += 1
        if self.on_open is not None:
            self.on_open(conversation.call_id)

    async def _with_session(self, info: CallInfo) -> CallInfo:
        """Every conversation has a session: the channel's, or one made now (a simulated
        stream with no Telnyx behind it)."""
        if info.session_id is not None:
            await self.sessions.update(info.session_id, status=SessionStatus.ANSWERED)
            return info
        session = await self.sessions.create(
            info.direction,
            info.caller,
            info.callee,
            name=info.name,
            persona=info.persona,
            language=info.language,
            variables=info.variables,
            mode=info.channel,
            status=SessionStatus.ANSWERED,
        )
        return dataclasses.replace(info, session_id=session.session_id)

    # ----------------------------------------------------------------- close
    async def close(
        self,
        conversation: Conversation,
        *,
        hangup_cause: str | None = None,
        end_session: bool = True,
    ) -> None:
        """The conversation is over: its final record, its recording, its session's end.
        Safe to call twice; the second call does nothing.

        ``end_session=False`` when someone else will end the session once the call is over for
        good (Telnyx's hang-up webhook, which also brings the hang-up cause): whoever polls the
        session for its end then finds the record complete."""
        with call_context(conversation.call_id):
            await self._close(conversation, hangup_cause=hangup_cause, end_session=end_session)

    async def _close(
        self, conversation: Conversation, *, hangup_cause: str | None, end_session: bool
    ) -> None:
        call_id = conversation.call_id
        if self._conversations.get(call_id) is not conversation:
            return
        if call_id in self._handing_over:
            await self._handed_over(conversation)
            return
        del self._conversations[call_id]
        if not self._conversations:
            self._no_calls.set()
        if not conversation.ended:
            await conversation.end("completed")
        self.stats.calls_ended += 1
        self.stats.barge_ins += conversation.counters.barge_ins
        self.stats.dropped_frames += conversation.counters.dropped_frames
        channel = str(conversation.info.channel)
        self.dropped_frames[channel] += conversation.counters.dropped_frames
        if self.metrics is not None:
            self.metrics.call_ended(channel, conversation.info.direction, conversation.outcome)
        if self.shared_history is not None:  # a turn cut short by the end is kept too
            await self.shared_history.save(call_id, conversation.history)
        await self._save(conversation, ended=True, hangup_cause=hangup_cause)
        self._started.pop(call_id)
        self._earlier.pop(call_id, None)
        if isinstance(conversation, Call) and conversation.recorder is not None:
            try:
                await self.records.store_recording(call_id, conversation.recorder)
            finally:
                conversation.recorder.close()
        if end_session and conversation.info.session_id is not None:
            await self.sessions.update(
                conversation.info.session_id,
                status=SessionStatus.ENDED,
                outcome=conversation.outcome,
            )

    # ------------------------------------------------------------- hand-over
    def handing_over(self, call_id: str) -> None:
        """This call is about to move to another instance: when its line here closes, it
        leaves the registry with its record still open and its session still live."""
        self._handing_over.add(call_id)

    def hand_over_failed(self, call_id: str) -> None:
        self._handing_over.discard(call_id)

    async def _handed_over(self, conversation: Conversation) -> None:
        call_id = conversation.call_id
        self._handing_over.discard(call_id)
        del self._conversations[call_id]
        if not self._conversations:
            self._no_calls.set()
        if not conversation.ended:
            await conversation.end("handed_over")
        self.stats.handed_over += 1
        if self.shared_history is not None:
            await self.shared_history.save(call_id, conversation.history)
        await self._save(conversation)  # not ended: the next instance goes on with it
        self._started.pop(call_id)
        self._earlier.pop(call_id, None)
        if isinstance(conversation, Call) and conversation.recorder is not None:
            conversation.recorder.close()

    # ----------------------------------------------------------------- drain
    async def drain(self, grace_seconds: float, goodbye: Callable[[CallInfo], str]) -> None:
        """Refuse new calls, let active ones finish, then end the rest with ``goodbye``."""
        self.draining = True
        if self._conversations:
            log.info(
                "draining: %d active call(s), up to %.0f s", len(self._conversations), grace_seconds
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_calls.wait(), grace_seconds)
        for conversation in list(self._conversations.values()):
            conversation.say_and_end(goodbye(conversation.info), "server_shutdown")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_calls.wait(), SHUTDOWN_LINE_WAIT_S)

    async def stop(self) -> None:
        """End whatever is left at once (the process is exiting)."""
        for conversation in list(self._conversations.values()):
            await conversation.end("server_shutdown")
            await self.close(conversation)
