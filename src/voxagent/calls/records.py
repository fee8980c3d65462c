"""The durable account of every call: its record (after each turn), its recording, its stats.

A record is rewritten after every turn (an idempotent upsert), so if the process dies mid-call
everything up to the last turn is already stored. Calls that never became conversations (a
dial Telnyx refused, a callee who did not answer) get a record too, so the stats count every
call the server handled.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from voxagent.calls.conversation import Conversation
from voxagent.calls.info import CallInfo
from voxagent.calls.sessions import Session
from voxagent.conversation.recorder import CallRecorder
from voxagent.security.redaction import redact
from voxagent.state.call_records import CallRecord, CallRecordStore
from voxagent.state.database import CallRow, Database
from voxagent.state.recordings import Recording, RecordingStore
from voxagent.storage import Storage, key_segment

__all__ = ["FAILED_OUTCOMES", "RecordKeeper"]

log = logging.getLogger(__name__)

FAILED_OUTCOMES = frozenset({"dial_failed", "provider_failure", "failed"})
"""Outcomes that mean the call failed on our side (stats count them as ``failed``)."""

NOT_ANSWERED = {
    "user_busy": "busy",
    "timeout": "no_answer",
    "no_answer": "no_answer",
    "call_rejected": "rejected",
}
"""Telnyx ``hangup_cause`` of a call that was never answered → its outcome."""


class RecordKeeper:
    def __init__(self, db: Database, storage: Storage, *, redact_transcripts: bool = False) -> None:
        """``redact_transcripts``: phone numbers, e-mails and card numbers said in a call are
        masked in its stored transcript (REDACT_TRANSCRIPTS)."""
        self.db = db
        self.storage = storage
        self.redact_transcripts = redact_transcripts
        self.store = CallRecordStore(db)
        self.recordings = RecordingStore(db)

    async def save(
        self,
        conversation: Conversation,
        started_at: datetime,
        *,
        ended: bool = False,
        hangup_cause: str | None = None,
        earlier: CallRecord | None = None,
    ) -> None:
        """Write the conversation's record as it stands; a failure is logged, never raised
        (a full disk must not end a call).

        ``earlier``: the record another instance wrote for this call before it changed hands;
        its turns and counters come first, and ``handovers`` counts the changes of hands."""
        record = _record_for(conversation.info)
        record.started_at = earlier.started_at if earlier is not None else started_at
        record.ended_at = datetime.now(UTC) if ended else None
        record.outcome = conversation.outcome
        record.hangup_cause = hangup_cause
        record.transcript = conversation.history.as_dicts()
        record.turns = [
            t.as_record() for t in conversation.turns if t.first_audio_sent or t.interrupted
        ]
        if self.redact_transcripts:
            record.transcript = [_redacted(m, "text") for m in record.transcript]
            record.turns = [
                {**_redacted(t, "user_text", "agent_text"), "tools": _masked(t.get("tools", []))}
                for t in record.turns
            ]
        record.counters = dict(conversation.counters.as_dict())
        if earlier is not None:
            record.turns = [*earlier.turns, *record.turns]
            for name, value in earlier.counters.items():
                record.counters[name] = record.counters.get(name, 0) + value
            record.counters["handovers"] = earlier.counters.get("handovers", 0) + 1
        try:
            await self.store.save(record)
        except Exception:
            log.exception("call %s: could not save the call record", conversation.call_id)

    async def close_unconnected(
        self, call_id: str, session: Session | None, hangup_cause: str | None, outcome: str | None
    ) -> str | None:
        """The end of a call that had no live conversation here (never answered, or its stream
        already closed): complete its record; returns the outcome the record holds."""
        record = await self.store.get(call_id)
        if record is None:
            if session is None:
                return outcome
            record = _record_for(session.call_info(call_id))
        record.hangup_cause = hangup_cause
        record.ended_at = record.ended_at or datetime.now(UTC)
        if outcome and record.outcome in (None, "in_progress"):
            record.outcome = outcome
        await self.store.save(record)
        return record.outcome

    async def dial_failed(self, session: Session, reason: str) -> None:
        """A call Telnyx refused to place: recorded under the session id, as a failure."""
        record = _record_for(session.call_info(session.session_id))
        record.ended_at = datetime.now(UTC)
        record.outcome = "dial_failed"
        record.hangup_cause = reason[:500]
        await self.store.save(record)

    async def store_recording(self, call_id: str, recorder: CallRecorder) -> None:
        """Upload the call's audio; a failure is logged, the call record stands regardless."""
        # A random part, so a recording's key cannot be derived from its call id.
        key = f"recordings/{key_segment(call_id)}-{secrets.token_urlsafe(12)}.wav"
        try:
            data = await asyncio.to_thread(recorder.wav)
            await self.storage.put(key, data, "audio/wav")
            await self.recordings.save(Recording(call_id, key, recorder.duration_ms, len(data)))
        except Exception:
            log.exception("call %s: could not store the recording", call_id)

    async def recording_url(self, call_id: str) -> str | None:
        recording = await self.recordings.get(call_id)
        return None if recording is None else await self.storage.url(recording.storage_key)

    async def stats(self) -> dict[str, object]:
        """Totals over every recorded call (``active`` is the caller's to add)."""
        async with self.db.sessionmaker() as session:
            groups = (
                await session.execute(
                    select(CallRow.direction, CallRow.outcome, func.count()).group_by(
                        CallRow.direction, CallRow.outcome
                    )
                )
            ).all()
            average = (
                await session.execute(
                    select(func.avg(self._duration_seconds())).where(
                        CallRow.ended_at.is_not(None), CallRow.outcome != "dial_failed"
                    )
                )
            ).scalar()
        by_outcome: dict[str, int] = {}
        by_direction = {"inbound": 0, "outbound": 0}
        total = 0
        for direction, outcome, count in groups:
            total += count
            by_direction[direction] = by_direction.get(direction, 0) + count
            if outcome:
                by_outcome[outcome] = by_outcome.get(outcome, 0) + count
        return {
            "total": total,
            "completed": by_outcome.get("completed", 0),
            "failed": sum(n for o, n in by_outcome.items() if o in FAILED_OUTCOMES),
            "by_outcome": by_outcome,
            "by_direction": by_direction,
            "average_duration_seconds": round(float(average or 0.0), 1),
        }

    def _duration_seconds(self) -> ColumnElement[Any]:
        if self.db.is_postgres:
            return func.extract("epoch", CallRow.ended_at - CallRow.started_at)
        # SQLite keeps UTC datetimes as text, which julianday() reads (days, as a float).
        return (func.julianday(CallRow.ended_at) - func.julianday(CallRow.started_at)) * 86400


def _redacted(entry: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {**entry, **{f: redact(str(entry.get(f, ""))) for f in fields}}


def _masked(value: Any) -> Any:
    """Every text inside a tool run's arguments and result, redacted (names stay names)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def _record_for(info: CallInfo) -> CallRecord:
    return CallRecord(
        call_id=info.call_id,
        direction=info.direction,
        from_number=info.caller,
        to_number=info.callee,
        persona=info.persona,
        mode=str(info.channel),
        language=info.language,
    )
