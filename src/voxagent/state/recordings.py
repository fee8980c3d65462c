"""Which stored audio file holds which call (the audio itself lives in the media store)."""

from __future__ import annotations

from dataclasses import dataclass

from voxagent.state.database import Database, RecordingRow


@dataclass(frozen=True, slots=True)
class Recording:
    call_id: str
    storage_key: str
    duration_ms: int
    size_bytes: int


class RecordingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, recording: Recording) -> None:
        async with self.db.transaction() as session:
            await session.merge(
                RecordingRow(
                    call_id=recording.call_id,
                    storage_key=recording.storage_key,
                    duration_ms=recording.duration_ms,
                    size_bytes=recording.size_bytes,
                )
            )

    async def get(self, call_id: str) -> Recording | None:
        async with self.db.sessionmaker() as session:
            row = await session.get(RecordingRow, call_id)
        if row is None:
            return None
        return Recording(row.call_id, row.storage_key, row.duration_ms, row.size_bytes)
