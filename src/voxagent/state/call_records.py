"""Durable call records: one row per call, rewritten after every turn.

Saving is an idempotent upsert keyed by ``call_id`` so the engine can call it after each turn;
if the process dies mid-call, everything up to the last turn is already on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from voxagent.state.database import CallRow, Database, utc_now

TranscriptEntry = dict[str, Any]  # {"role": "user"|"assistant", "text": str, "interrupted": bool}
TurnMetrics = dict[str, Any]  # latency numbers of one turn, e.g. {"stt_ms": 120.0, ...}


@dataclass(slots=True)
class CallRecord:
    """Everything worth keeping about one call, mirroring the ``calls`` table."""

    call_id: str
    direction: str = "inbound"
    from_number: str = ""
    to_number: str = ""
    persona: str = ""
    mode: str = ""
    language: str = "en"
    started_at: datetime = field(default_factory=utc_now)
    ended_at: datetime | None = None
    outcome: str | None = None
    hangup_cause: str | None = None
    transcript: list[TranscriptEntry] = field(default_factory=list)
    turns: list[TurnMetrics] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: CallRow) -> CallRecord:
        return cls(
            call_id=row.call_id,
            direction=row.direction,
            from_number=row.from_number,
            to_number=row.to_number,
            persona=row.persona,
            mode=row.mode,
            language=row.language,
            started_at=row.started_at,
            ended_at=row.ended_at,
            outcome=row.outcome,
            hangup_cause=row.hangup_cause,
            transcript=list(row.transcript or []),
            turns=list(row.turns or []),
            counters=dict(row.counters or {}),
            updated_at=row.updated_at,
        )


_UPDATABLE = (
    "direction",
    "from_number",
    "to_number",
    "persona",
    "mode",
    "language",
    "started_at",
    "ended_at",
    "outcome",
    "hangup_cause",
    "transcript",
    "turns",
    "counters",
    "updated_at",
)


class CallRecordStore:
    """Reads and writes :class:`CallRecord` rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, record: CallRecord) -> None:
        """Insert or replace the record (one atomic upsert; safe to call after every turn)."""
        record.updated_at = utc_now()
        values = {
            "call_id": record.call_id,
            "direction": record.direction,
            "from_number": record.from_number,
            "to_number": record.to_number,
            "persona": record.persona,
            "mode": record.mode,
            "language": record.language,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "outcome": record.outcome,
            "hangup_cause": record.hangup_cause,
            "transcript": list(record.transcript),
            "turns": list(record.turns),
            "counters": dict(record.counters),
            "updated_at": record.updated_at,
        }
        if self.db.is_postgres:
            pg = pg_insert(CallRow).values(**values)
            statement: Any = pg.on_conflict_do_update(
                index_elements=[CallRow.call_id],
                set_={name: pg.excluded[name] for name in _UPDATABLE},
            )
        elif self.db.is_sqlite:
            lite = sqlite_insert(CallRow).values(**values)
            statement = lite.on_conflict_do_update(
                index_elements=[CallRow.call_id],
                set_={name: lite.excluded[name] for name in _UPDATABLE},
            )
        else:  # another back-end: read-modify-write inside one transaction
            async with self.db.transaction() as session:
                row = await session.get(CallRow, record.call_id)
                if row is None:
                    session.add(CallRow(**values))
                else:
                    for name in _UPDATABLE:
                        setattr(row, name, values[name])
            return
        async with self.db.transaction() as session:
            await session.execute(statement)

    async def get(self, call_id: str) -> CallRecord | None:
        async with self.db.transaction() as session:
            row = await session.get(CallRow, call_id)
            return CallRecord.from_row(row) if row else None

    async def active_since(self, since: datetime, limit: int = 10_000) -> list[CallRecord]:
        """Calls started, or ended, at ``since`` or later (the newest first)."""
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(CallRow)
                .where((CallRow.started_at >= since) | (CallRow.ended_at >= since))
                .order_by(CallRow.started_at.desc())
                .limit(limit)
            )
            return [CallRecord.from_row(r) for r in rows]

    async def list_recent(self, limit: int = 50) -> list[CallRecord]:
        """The most recently started calls first."""
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(CallRow).order_by(CallRow.started_at.desc()).limit(max(0, limit))
            )
            return [CallRecord.from_row(r) for r in rows]
