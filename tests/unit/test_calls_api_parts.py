"""Pieces of the call API that need no server: validation, batches, CSV, dedupe."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from voxagent.batch_csv import CsvError, read_call_list
from voxagent.calls.batch import Batch, BatchEntry
from voxagent.calls.sessions import MemorySessionStore, Session, SessionStatus
from voxagent.channels.telnyx.controller import EventDeduplicator
from voxagent.channels.telnyx.outbound import CallRequest


def test_call_request_accepts_the_seed_services_spanish_field_names() -> None:
    call = CallRequest.model_validate({"nombre": "Ana", "telefono": "+52 55 1234 5678"})
    assert (call.name, call.phone) == ("Ana", "+525512345678")


@pytest.mark.parametrize("phone", ["5551234567", "+0123456789", "+1", "hello", "+1555123456789012"])
def test_call_request_refuses_numbers_that_are_not_e164(phone: str) -> None:
    with pytest.raises(ValidationError, match=r"E\.164"):
        CallRequest.model_validate({"name": "x", "phone": phone})


def test_deduplicator_remembers_a_bounded_number_of_ids() -> None:
    dedup = EventDeduplicator(capacity=2)
    assert dedup.first_time("a") and not dedup.first_time("a")
    assert dedup.first_time("b") and dedup.first_time("c")
    assert dedup.first_time("a"), "the oldest id was forgotten"


async def test_batch_never_has_more_calls_in_progress_than_its_limit() -> None:
    store = MemorySessionStore()
    entries = [BatchEntry(i, f"n{i}", f"+1555000{i:04d}") for i in range(12)]
    batch = Batch(entries, concurrency=3, pace=100)
    live: set[str] = set()
    peak = 0

    async def dial(entry: BatchEntry) -> Session:
        nonlocal peak
        if entry.index == 5:
            raise RuntimeError("Telnyx refused the call")
        created = await store.create("outbound", "+15550001000", entry.phone)
        session = await store.update(created.session_id, status=SessionStatus.DIALING)
        assert session is not None
        live.add(session.session_id)
        peak = max(peak, len(live))

        async def hang_up_later() -> None:
            await asyncio.sleep(0.02 + 0.01 * (entry.index % 3))
            ended = await store.update(
                session.session_id, status=SessionStatus.ENDED, outcome="completed"
            )
            assert ended is not None
            live.discard(session.session_id)
            batch.session_ended(ended)

        asyncio.get_running_loop().create_task(hang_up_later())
        return session

    await asyncio.wait_for(batch.run(dial), 5)
    assert peak == 3
    assert batch.done
    summary = batch.summary()
    assert summary["counts"] == {"ended": 11, "failed": 1}
    assert entries[5].error == "Telnyx refused the call"


def test_csv_reader_takes_both_column_languages_and_extra_variables(tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("nombre,telefono,mascota\nAna,+15551112222,Max\nBo,+15553334444,\n")
    assert read_call_list(path) == [
        {"name": "Ana", "phone": "+15551112222", "variables": {"mascota": "Max"}},
        {"name": "Bo", "phone": "+15553334444", "variables": {}},
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("who,where\nA,B\n")
    with pytest.raises(CsvError, match="phone"):
        read_call_list(bad)
