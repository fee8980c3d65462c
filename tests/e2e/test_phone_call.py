"""A simulated caller phones the real server over the Telnyx media-stream protocol, in real time."""

from __future__ import annotations

import json
import sqlite3
import urllib.request

from server_process import Server

from voxagent.simulator.caller import DEFAULT_SCRIPT, simulate_call


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def test_caller_books_an_appointment(server: Server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wav = tmp_path / "call.wav"
    result = await simulate_call(server.ws, list(DEFAULT_SCRIPT), wav_path=str(wav))

    # The agent greeted in real speech and hung up itself.
    agent_turns = [t for t in result.turns if t.speaker == "agent"]
    assert result.greeting_ms is not None and result.greeting_ms < 3000
    assert agent_turns[0].audio_s > 2.0, "the greeting was heard as speech, not a click"
    assert result.hung_up_by == "agent", server.log()[-3000:]
    assert result.timeouts == 0
    assert wav.stat().st_size > 8000 * 2 * 2 * 10  # ≥ 10 s of stereo audio

    # The appointment is in the database.
    record = get_json(f"{server.http}/api/calls/{result.call_control_id}")
    dialogue = "\n".join(f"{t['user_text']!r} -> {t['agent_text']!r}" for t in record["turns"])  # type: ignore[union-attr]
    with sqlite3.connect(server.db_path) as db:
        rows = db.execute("SELECT pet_name, reason, status, call_id FROM appointments").fetchall()
    assert len(rows) == 1, dialogue
    _pet, reason, status, call_id = rows[0]
    assert status == "booked"
    assert call_id == result.call_control_id
    assert reason, "a reason was taken (its words are whatever PocketSphinx heard)"

    # The call record holds the transcript, per-turn latencies and the outcome.
    assert record["outcome"] == "completed"
    transcript = record["transcript"]
    assert isinstance(transcript, list)
    # What the agent said (the record) is the persona's inbound greeting. Which salutation it
    # opens with depends on the clinic's clock (unit-tested with an injected clock), and what
    # PocketSphinx makes of synthetic speech is no test of ours: neither is asserted here.
    said = transcript[0]["text"].lower()
    assert transcript[0]["role"] == "assistant"
    assert "thank you for calling" in said
    assert sum(1 for m in transcript if m["role"] == "user") >= 5
    turns = record["turns"]
    assert isinstance(turns, list) and len(turns) >= 6
    for turn in turns[1:]:
        assert 0 < turn["first_audio_sent_ms"] < 10000  # speed is bench/calls.py's job
        assert turn["stt_final_ms"] <= turn["first_audio_sent_ms"]

    health = get_json(f"{server.http}/health")
    assert health["active_calls"] == 0
    # The stats count every call the server handled, simulated ones included.
    stats = get_json(f"{server.http}/api/sessions/stats")
    started = health["stats"]["calls_started"]  # type: ignore[index]
    assert stats["total"] == started >= 1, (stats, health)
    assert stats["by_direction"]["inbound"] == stats["total"]  # type: ignore[index]
    assert stats["by_outcome"]["completed"] >= 1  # type: ignore[index]


async def test_barge_in_stops_the_agent(server: Server) -> None:
    script = ["i would like to book an appointment", "my dog's name is charlie"]
    result = await simulate_call(
        server.ws, script, barge_in=True, barge_in_turn=1, transcribe=False, hangup_after_s=1.0
    )
    barge = result.barge_in
    assert barge is not None and barge.overlapped, "the caller spoke over the agent"
    assert barge.clear_received, server.log()[-3000:]
    assert barge.clear_ms is not None and barge.clear_ms < 600
    assert barge.agent_audio_stopped

    record = get_json(f"{server.http}/api/calls/{result.call_control_id}")
    turns = record["turns"]
    assert isinstance(turns, list)
    interrupted = [t for t in turns if t["interrupted"]]
    assert interrupted, turns
    assert interrupted[0]["interrupted_at_ms"] is not None
    transcript = record["transcript"]
    assert isinstance(transcript, list)
    heard = [m for m in transcript if m.get("interrupted")]
    assert heard, "the history keeps what the caller heard, marked interrupted"
