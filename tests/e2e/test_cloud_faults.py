"""Whole phone calls through stormy cloud providers: every fault is survived as promised.

* Deepgram drops its socket mid-utterance: the client reconnects and resends, no words lost.
* Claude answers 429 once: one quick retry, the caller never notices.
* ElevenLabs drops mid-sentence: Piper (next in TTS_PROVIDER) speaks the rest of the call.
* Claude rejects the key: a spoken apology, then the scripted receptionist takes over.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import httpx
import pytest
from telnyx_stack import AUTH, booked, cloud_settings, telnyx_stack, wait_ended

from fakes.deepgram_server import FakeDeepgram
from fakes.dialogues import spanish_booking_script
from fakes.llm_servers import Fail, FakeAnthropic, booking_policy
from fakes.tts_servers import FakeElevenLabs
from voxagent.agents.llm import FALLBACK_LINES

pytestmark = pytest.mark.asyncio(loop_scope="module")


def health(server_http: str) -> dict[str, object]:
    request = urllib.request.Request(f"{server_http}/health", headers=AUTH)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def test_a_spanish_call_survives_a_drop_a_429_and_a_dead_voice(tmp_path: Path) -> None:
    script = spanish_booking_script()
    async with (
        # 0.4 s into the first utterance the socket dies without a close frame.
        FakeDeepgram(api_key="dg", transcripts=list(script), drop_after_bytes=3200) as deepgram,
        FakeAnthropic(booking_policy("es"), api_key="sk-ant") as claude,
        FakeElevenLabs(api_key="el", drop_after_chunks=1) as eleven,
        telnyx_stack(
            tmp_path,
            media_streams=True,
            script=script,
            **cloud_settings(deepgram, claude, eleven, tts="elevenlabs,piper"),
        ) as (server, _fake),
        httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client,
    ):
        claude.inject(Fail(429))  # the first model request is rate limited
        placed = (
            await client.post("/api/call/initiate", json={"name": "Ana", "phone": "+5215550003333"})
        ).json()
        details = await wait_ended(client, placed["call_control_id"])
        stats = health(server.http)["stats"]

    log = server.log()
    assert details["outcome"] == "completed", log[-3000:]
    assert [reason for _, reason in booked(server.db_path)] == ["vacuna"], log[-3000:]
    # Deepgram: dropped once, reconnected, every line still recognized in full.
    assert deepgram.dropped.is_set()
    assert deepgram.recognized == script
    # Claude: the 429 was retried, the caller heard no apology.
    assert claude.requests[0].status == 429
    assert all(FALLBACK_LINES["es"] not in t["agent_text"] for t in details["turns"])
    # ElevenLabs died mid-sentence; Piper spoke from then on, and said so in the telemetry.
    assert isinstance(stats, dict)
    assert stats["provider_switches"] == {"tts:elevenlabs->piper": 1}
    answered = [t for t in details["turns"] if t["user_text"]]
    assert answered and all(t["providers"]["tts"] == "piper" for t in answered)
    assert all(t["first_audio_sent_ms"] is not None for t in answered)


async def test_a_rejected_claude_key_apologizes_then_the_script_takes_over(
    tmp_path: Path,
) -> None:
    script = ["i would like to book an appointment", "no thank you goodbye"]
    async with (
        FakeAnthropic(booking_policy("en"), api_key="the-real-key") as claude,
        telnyx_stack(
            tmp_path,
            media_streams=True,
            script=script,
            LLM_PROVIDER="anthropic,scripted",
            CLAUDE_API_KEY="a-revoked-key",
            ANTHROPIC_BASE_URL=claude.url,
        ) as (server, _fake),
        httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client,
    ):
        placed = (
            await client.post("/api/call/initiate", json={"name": "Al", "phone": "+15557654330"})
        ).json()
        details = await wait_ended(client, placed["call_control_id"])
        stats = health(server.http)["stats"]

    log = server.log()
    # PocketSphinx may mishear the goodbye under load; the call ends either way.
    assert details["outcome"] in ("completed", "caller_hangup"), log[-3000:]
    assert {r.status for r in claude.requests} == {401}
    turns = details["turns"]
    assert FALLBACK_LINES["en"] in turns[1]["agent_text"], turns
    assert turns[1]["providers"]["llm"] == "anthropic"
    # From the next turn on, the scripted receptionist answers (and says goodbye).
    assert turns[-1]["providers"]["llm"] == "scripted" and turns[-1]["agent_text"]
    assert isinstance(stats, dict)
    assert stats["provider_switches"] == {"llm:anthropic->scripted": 1}
    assert "rejected the API key" in log
