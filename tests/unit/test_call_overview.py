"""The live dashboard's figures on data with known answers, and the tools a turn keeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from fakes.engine import FakeAgent, FakeChannel, ScriptedStt, ToneTts, make_call, make_parts
from voxagent.agents.base import AgentAction, Say
from voxagent.agents.toolkit import notify
from voxagent.conversation.timeline import (
    ANSWERING,
    MAX_TOOLS_PER_TURN,
    TurnTimeline,
    note_tool,
)
from voxagent.telemetry.overview import CallView, overview, reply_ms, spread

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def reply(first_audio_ms: float, *, interrupted: bool = False, **stages: float) -> dict[str, Any]:
    """A reply turn's record: each stage defaults to a fixed share of the response."""
    return {
        "kind": "reply",
        "interrupted": interrupted,
        "stt_final_ms": stages.get("stt", 100.0),
        "agent_first_text_ms": stages.get("llm", 200.0),
        "tts_first_audio_ms": first_audio_ms - 5,
        "first_audio_sent_ms": first_audio_ms,
    }


GREETING = {"kind": "greeting", "first_audio_sent_ms": 5000.0, "interrupted": False}


def test_spread_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert spread(values) == {"count": 100, "p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert spread([]) == {"count": 0, "p50": None, "p95": None, "p99": None}
    assert spread([700.0, 300.0]) == {"count": 2, "p50": 300.0, "p95": 700.0, "p99": 700.0}


def test_only_answers_count_for_the_response_time() -> None:
    call = CallView(
        "c", NOW, turns=[GREETING, reply(600.0), {"kind": "reply", "first_audio_sent_ms": None}]
    )
    assert reply_ms(call) == [600.0]
    assert reply_ms(call, "stt_final") == [100.0]


def test_the_overview_counts_the_window_and_lists_the_latest() -> None:
    old = CallView(  # two hours ago: outside the window, but still among the latest calls
        "old",
        NOW - timedelta(hours=2),
        NOW - timedelta(hours=2) + timedelta(seconds=30),
        channel="media_stream",
        outcome="completed",
        turns=[reply(9000.0)],
        counters={"barge_ins": 4},
    )
    done = CallView(
        "done",
        NOW - timedelta(minutes=10),
        NOW - timedelta(minutes=9),
        channel="media_stream",
        persona="maria",
        outcome="completed",
        turns=[GREETING, reply(500.0), reply(700.0, interrupted=True), reply(900.0)],
        counters={"barge_ins": 1},
    )
    failed = CallView(
        "failed",
        NOW - timedelta(minutes=5),
        NOW - timedelta(minutes=4, seconds=30),
        channel="webhook",
        outcome="failed: instance_lost",
        turns=[reply(1100.0, stt=150.0)],
    )
    live = CallView(
        "live",
        NOW - timedelta(seconds=20),
        channel="browser",
        persona="sandra",
        outcome="in_progress",
        turns=[reply(300.0)],
        counters={"barge_ins": 2},
        live=True,
    )
    stale_live = CallView("live", NOW - timedelta(seconds=20), outcome="in_progress")  # its record
    figures = overview(
        now=NOW,
        calls=[old, done, failed, live],
        active_by_channel={"browser": 1, "media_stream": 2},
        switches_in_window=3,
        switches_by_kind={"tts:elevenlabs->piper": 3},
        recent=[stale_live, failed, done, old],
        window_s=3600,
        recent_limit=3,
    )
    assert figures["at"] == NOW.isoformat()
    assert figures["active"] == {"total": 3, "by_channel": {"browser": 1, "media_stream": 2}}
    # Answers in the window: 500, 700, 900 (done), 1100 (failed), 300 (live); not 9000 (old).
    assert figures["latency"]["response"] == {
        "count": 5,
        "p50": 700.0,
        "p95": 1100.0,
        "p99": 1100.0,
    }
    stages = figures["latency"]["stages"]
    assert list(stages) == ["stt_final", "agent_first_text", "tts_first_audio", "first_audio_sent"]
    assert stages["stt_final"] == {"count": 5, "p50": 100.0, "p95": 150.0, "p99": 150.0}
    assert stages["tts_first_audio"]["p50"] == 695.0
    assert stages["first_audio_sent"] == figures["latency"]["response"]
    assert figures["calls"] == {
        "in_window": 3,
        "ended": 2,
        "by_outcome": {"completed": 1, "failed: instance_lost": 1, "in_progress": 1},
    }
    assert figures["errors"] == {
        "failed_calls": 1,
        "rate": 0.5,
        "switches": 3,
        "switches_by_kind": {"tts:elevenlabs->piper": 3},
    }
    assert figures["barge_ins"] == {"count": 3, "turns_cut": 1, "calls_with": 2}
    rows = figures["recent"]
    assert [r["call_id"] for r in rows] == ["live", "failed", "done"]  # newest first, 3 of 4
    first = rows[0]
    assert first["live"] is True and first["turns"] == 1, "the live call's state, not its record"
    assert first["duration_s"] == 20.0 and first["url"] == "/calls/live"
    assert first["ended_at"] is None and first["persona"] == "sandra"
    assert rows[2] == {
        "call_id": "done",
        "started_at": (NOW - timedelta(minutes=10)).isoformat(),
        "ended_at": (NOW - timedelta(minutes=9)).isoformat(),
        "channel": "media_stream",
        "direction": "inbound",
        "persona": "maria",
        "duration_s": 60.0,
        "turns": 4,
        "outcome": "completed",
        "live": False,
        "barge_ins": 1,
        "p95_ms": 900.0,
        "url": "/calls/done",
    }


def test_without_calls_every_figure_is_empty_not_missing() -> None:
    figures = overview(
        now=NOW, calls=[], active_by_channel={}, switches_in_window=0, switches_by_kind={}
    )
    assert figures["active"]["total"] == 0
    assert figures["latency"]["response"]["p95"] is None
    assert figures["errors"]["rate"] == 0.0
    assert figures["recent"] == []


def test_without_a_list_of_latest_calls_the_window_s_calls_are_the_rows() -> None:
    calls = [CallView(f"c{i}", NOW - timedelta(minutes=i), turns=[reply(400.0)]) for i in range(5)]
    figures = overview(
        now=NOW,
        calls=calls,
        active_by_channel={},
        switches_in_window=0,
        switches_by_kind={},
        recent_limit=2,
    )
    assert [r["call_id"] for r in figures["recent"]] == ["c0", "c1"]


# -- the tools a turn keeps ------------------------------------------------------------------


def test_a_tool_run_is_kept_on_the_turn_being_answered_as_plain_json() -> None:
    turn = TurnTimeline(index=3)
    note_tool("lookup", {"day": "x"}, {"ok": True})  # no turn being answered: not kept
    token = ANSWERING.set(turn)
    try:
        note_tool("check_availability", {"day": date(2026, 12, 4)}, {"ok": True, "free": [1, 2]})
        for _ in range(MAX_TOOLS_PER_TURN + 5):
            note_tool("again", {}, {"ok": True})
    finally:
        ANSWERING.reset(token)
    tools = turn.as_record()["tools"]
    assert isinstance(tools, list) and len(tools) == MAX_TOOLS_PER_TURN
    assert tools[0] == {
        "name": "check_availability",
        "arguments": {"day": "2026-12-04"},
        "result": {"ok": True, "free": [1, 2]},
    }


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown()


class ToolAgent(FakeAgent):
    """Runs a tool (told to the observer the factory would give it) before each answer."""

    async def greeting(self) -> AsyncGenerator[AgentAction, None]:
        yield Say("Hello.")

    async def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        await asyncio.sleep(0)
        notify(note_tool, "find_slot", {"when": transcript}, {"ok": True, "message": "free"})
        yield Say("That time is free.")


async def test_the_engine_keeps_each_tool_on_the_turn_it_answered(
    executor: ThreadPoolExecutor,
) -> None:
    channel = FakeChannel()
    call = make_call(
        "tools-1", channel, make_parts(ToolAgent(), ScriptedStt([]), ToneTts(), executor)
    )
    call.start()
    for _ in range(300):
        if call.turns and call.turns[0].first_audio_sent is not None:
            break
        await asyncio.sleep(0.01)
    call.hear_text("friday at ten")
    for _ in range(300):
        if len(call.turns) == 2 and call.turns[1].first_audio_sent is not None:
            break
        await asyncio.sleep(0.01)
    await call.end()
    greeting, answer = (t.as_record() for t in call.turns)
    assert greeting["tools"] == []
    assert answer["tools"] == [
        {
            "name": "find_slot",
            "arguments": {"when": "friday at ten"},
            "result": {"ok": True, "message": "free"},
        }
    ]
    assert ANSWERING.get() is None, "the turn belongs to the respond task, not to the caller's"
