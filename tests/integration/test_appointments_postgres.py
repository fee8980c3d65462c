"""The appointment book and call records on real databases: PostgreSQL and SQLite.

The PostgreSQL tests need the server on 127.0.0.1:5432 (database ``test``, user ``postgres``,
trust auth; override with VOXAGENT_TEST_POSTGRES_URL) and are skipped, saying why, when it is
unreachable. Each test drops and recreates the voxagent tables, so the tests do not see each
other's rows.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from voxagent.agents.persona import load_persona
from voxagent.state.appointments import (
    AppointmentBook,
    BookingError,
    ClinicClosed,
    SlotInPast,
    SlotTaken,
)
from voxagent.state.call_records import CallRecord, CallRecordStore
from voxagent.state.database import Base, Database, normalize_database_url

POSTGRES_URL = os.environ.get(
    "VOXAGENT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
PERSONA = load_persona("maria")
ZONE = PERSONA.zone
NOW = datetime(2026, 11, 23, 9, tzinfo=ZONE).astimezone(UTC)  # Monday 09:00 at the clinic
TUESDAY_10 = datetime(2026, 11, 24, 10, tzinfo=ZONE)


async def _fresh_postgres() -> Database:
    """Drop and recreate the tables, or skip the test if the server cannot be reached."""
    url = normalize_database_url(POSTGRES_URL)
    engine = create_async_engine(url)
    try:
        async with asyncio.timeout(5), engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
    except (OSError, TimeoutError) as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc!r}")
    finally:
        await engine.dispose()
    db = Database(url)
    await db.connect()
    return db


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("sqlite"),
    ]
)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgres":
        database = await _fresh_postgres()
    else:
        database = Database(f"sqlite:///{tmp_path}/nested/dir/clinic.db")
        await database.connect()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def book(db: Database) -> AppointmentBook:
    return AppointmentBook(db, PERSONA, now=lambda: NOW)


# -- the appointment book ----------------------------------------------------------------------


async def test_book_and_read_back(book: AppointmentBook) -> None:
    assert await book.is_open(TUESDAY_10)
    assert await book.is_free(TUESDAY_10)
    made = await book.book("call-1", "Max", "vaccination", TUESDAY_10, "Ana", "+5215550001")
    assert made.id > 0 and made.status == "booked"
    assert made.starts_at == TUESDAY_10.astimezone(UTC)
    assert made.starts_at.tzinfo is UTC
    assert made.ends_at - made.starts_at == timedelta(minutes=30)
    assert not await book.is_free(TUESDAY_10)
    assert not await book.is_free(TUESDAY_10 + timedelta(minutes=15))  # overlaps
    assert await book.is_free(TUESDAY_10 + timedelta(minutes=30))
    assert await book.find_for(pet_name="MAX") == [made]
    assert await book.find_for(owner_phone="+5215550001") == [made]
    assert await book.find_for(owner_phone="+000") == []
    assert await book.get(made.id) == made


async def test_refusals(book: AppointmentBook) -> None:
    sunday = datetime(2026, 11, 29, 10, tzinfo=ZONE)
    with pytest.raises(ClinicClosed, match="closed at Sunday, November 29"):
        await book.book("c", "Max", "vaccination", sunday)
    with pytest.raises(ClinicClosed):
        await book.book("c", "Max", "vaccination", datetime(2026, 11, 24, 17, 45, tzinfo=ZONE))
    with pytest.raises(SlotInPast):
        await book.book("c", "Max", "vaccination", datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)
                        - timedelta(days=7))  # fmt: skip
    with pytest.raises(BookingError, match="pet name"):
        await book.book("c", " ", "vaccination", TUESDAY_10)
    with pytest.raises(ValueError, match="naive"):
        await book.is_open(datetime(2026, 11, 24, 10))
    await book.book("c", "Max", "vaccination", TUESDAY_10)
    with pytest.raises(SlotTaken, match="already booked"):
        await book.book("c", "Luna", "grooming", TUESDAY_10)
    with pytest.raises(SlotTaken):  # overlapping, not identical
        await book.book("c", "Luna", "grooming", TUESDAY_10 + timedelta(minutes=10))


async def test_opening_hours(book: AppointmentBook) -> None:
    assert await book.is_open(datetime(2026, 11, 28, 12, 30, tzinfo=ZONE))  # Saturday
    assert not await book.is_open(datetime(2026, 11, 28, 13, 0, tzinfo=ZONE))
    assert not await book.is_open(datetime(2026, 12, 25, 10, 0, tzinfo=ZONE))  # holiday


async def test_next_free_slots_skip_booked_closed_and_past(book: AppointmentBook) -> None:
    await book.book("c", "Max", "vaccination", datetime(2026, 11, 23, 9, 30, tzinfo=ZONE))
    slots = await book.next_free_slots(datetime(2026, 11, 23, 8, tzinfo=ZONE).astimezone(UTC))
    assert [s.astimezone(ZONE).strftime("%H:%M") for s in slots] == ["09:00", "10:00", "10:30"]
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=ZONE)
    slots = await book.next_free_slots(saturday_noon, count=3)
    assert [s.astimezone(ZONE).strftime("%a %H:%M") for s in slots] == [
        "Sat 12:00",
        "Sat 12:30",
        "Mon 09:00",
    ]
    assert all(s.tzinfo is UTC for s in slots)


async def test_cancel_by_id_and_by_pet_and_time(book: AppointmentBook) -> None:
    first = await book.book("c", "Max", "vaccination", TUESDAY_10, owner_phone="+1")
    assert await book.cancel(first.id)
    assert not await book.cancel(first.id)  # already cancelled
    assert await book.is_free(TUESDAY_10)
    again = await book.book("c", "Max", "vaccination", TUESDAY_10, owner_phone="+1")
    assert again.id != first.id  # the cancelled row does not block the slot
    assert not await book.cancel(pet_name="Luna", start=TUESDAY_10)
    assert await book.cancel(pet_name="max", start=TUESDAY_10)
    assert await book.find_for(pet_name="Max") == []
    with pytest.raises(ValueError, match="appointment id"):
        await book.cancel(pet_name="Max")


async def test_concurrent_double_booking_has_exactly_one_winner(book: AppointmentBook) -> None:
    attempts = [book.book(f"call-{i}", f"Pet{i}", "vaccination", TUESDAY_10) for i in range(8)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, SlotTaken) for r in losers), losers
    assert len(await book.find_for(include_past=True)) == 1


async def test_concurrent_bookings_of_different_slots_all_succeed(book: AppointmentBook) -> None:
    starts = [TUESDAY_10 + timedelta(minutes=30 * i) for i in range(6)]
    made = await asyncio.gather(*[book.book("c", f"Pet{i}", "x", s) for i, s in enumerate(starts)])
    assert sorted(a.starts_at for a in made) == [s.astimezone(UTC) for s in starts]


async def test_two_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    """Separate Database objects (as separate processes would have) still cannot both win."""
    url = f"sqlite:///{tmp_path}/shared.db"
    first, second = Database(url), Database(url)
    await first.connect()
    await second.connect()
    try:
        books = [AppointmentBook(d, PERSONA, now=lambda: NOW) for d in (first, second)]
        results = await asyncio.gather(
            *[books[i % 2].book(f"c{i}", f"P{i}", "x", TUESDAY_10) for i in range(6)],
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert all(isinstance(r, SlotTaken) for r in results if isinstance(r, BaseException))
    finally:
        await first.close()
        await second.close()


# -- call records ------------------------------------------------------------------------------


async def test_call_record_upsert_after_every_turn(db: Database) -> None:
    store = CallRecordStore(db)
    record = CallRecord(
        call_id="v3:abc",
        direction="inbound",
        from_number="+5215550001",
        to_number="+525555010123",
        persona="maria",
        mode="media-stream",
        language="en",
        started_at=NOW,
    )
    await store.save(record)
    for turn in range(3):
        record.transcript.append({"role": "user", "text": f"turn {turn}", "interrupted": False})
        record.transcript.append({"role": "assistant", "text": "ok", "interrupted": turn == 1})
        record.turns.append({"speech_end_to_first_audio_ms": 412.5 + turn, "stt_ms": 90})
        await store.save(record)
    record.ended_at = NOW + timedelta(minutes=2)
    record.outcome, record.hangup_cause = "completed", "normal_clearing"
    await store.save(record)

    loaded = await store.get("v3:abc")
    assert loaded is not None
    assert loaded.transcript == record.transcript
    assert loaded.turns[2] == {"speech_end_to_first_audio_ms": 414.5, "stt_ms": 90}
    assert (loaded.outcome, loaded.hangup_cause) == ("completed", "normal_clearing")
    assert loaded.started_at == NOW and loaded.ended_at == NOW + timedelta(minutes=2)
    assert loaded.updated_at is not None and loaded.updated_at.tzinfo is UTC
    assert await store.get("nope") is None


async def test_call_records_concurrent_saves_and_listing(db: Database) -> None:
    store = CallRecordStore(db)
    records = [CallRecord(f"call-{i}", started_at=NOW + timedelta(seconds=i)) for i in range(5)]
    await asyncio.gather(*[store.save(r) for r in records])
    await asyncio.gather(*[store.save(records[0]) for _ in range(4)])  # same id at once
    recent = await store.list_recent(3)
    assert [r.call_id for r in recent] == ["call-4", "call-3", "call-2"]


# -- URLs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db?sslmode=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_normalize_database_url(url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected


def test_normalize_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a database URL"):
        normalize_database_url("data/x.db")


async def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "voxagent.db"
    async with Database(f"sqlite:///{path}") as db:
        assert db.is_sqlite
    assert path.exists()


async def test_engine_before_connect_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="connect"):
        _ = Database("sqlite://").engine
