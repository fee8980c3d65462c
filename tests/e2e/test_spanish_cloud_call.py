"""A Spanish phone call on the cloud providers, end to end, every provider a loopback fake.

Fake Telnyx dials out and plays the callee (Piper speech over a real media stream); our server
hears it through Deepgram (the fake recognizes each utterance as the next line of the script),
thinks with Claude (the fake runs a rule-based receptionist that books through the tools) and
speaks with ElevenLabs in μ-law, which must reach the phone byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from telnyx_stack import (
    API_KEY,
    AUTH,
    OUR_API_KEY,
    booked,
    cloud_settings,
    telnyx_stack,
    wait_ended,
)

from fakes.deepgram_server import FakeDeepgram
from fakes.dialogues import spanish_booking_script
from fakes.llm_servers import FakeAnthropic, booking_policy
from fakes.tts_servers import FakeElevenLabs

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEDIA_SECRET = "media-url-secret-0b7d2e4f9a"
AWS_SECRET = "aws-secret-key-5c1f8e2b7d"
CALLEE = "+5215550002222"


async def test_spanish_call_deepgram_claude_elevenlabs(tmp_path: Path) -> None:
    script = spanish_booking_script()
    async with (
        FakeDeepgram(api_key="dg-key", transcripts=list(script)) as deepgram,
        FakeAnthropic(booking_policy("es"), api_key="sk-ant-test") as claude,
        FakeElevenLabs(api_key="el-key") as eleven,
        telnyx_stack(
            tmp_path,
            media_streams=True,
            script=script,
            LOG_LEVEL="debug",  # the most the server ever writes
            MEDIA_URL_SECRET=MEDIA_SECRET,
            AWS_ACCESS_KEY_ID="AKIAEXAMPLE0000",
            AWS_SECRET_ACCESS_KEY=AWS_SECRET,
            **cloud_settings(deepgram, claude, eleven),
        ) as (server, fake),
        httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client,
    ):
        response = await client.post(
            "/api/call/initiate", json={"nombre": "Lucía", "telefono": CALLEE}
        )
        assert response.status_code == 200, response.text
        placed = response.json()
        details = await wait_ended(client, placed["call_control_id"])
        call = fake.calls[placed["call_control_id"]]

    log = server.log()
    assert details["outcome"] == "completed", log[-3000:]
    assert details["mode"] == "media_stream" and details["language"] == "es"
    # Booked through Claude's tool call, in the database, for this call.
    rows = booked(server.db_path)
    assert [(c, reason) for c, reason in rows] == [(placed["call_control_id"], "vacuna")], log[
        -3000:
    ]
    assert claude.errors == []
    assert any("book_appointment" in str(r.body) for r in claude.requests)

    # Deepgram got the phone's μ-law at 8 kHz, in Spanish, with the streaming options.
    assert deepgram.recognized == script
    query = deepgram.connections[0].query
    assert (query["encoding"], query["sample_rate"], query["language"]) == ("mulaw", "8000", "es")
    assert query["interim_results"] == "true" and query["model"] == "nova-2"
    assert all(c.finalizes >= 1 for c in deepgram.connections if c.bytes_received)
    # ... byte for byte as the phone sent it (no decode, no re-encode).
    assert call.simulation is not None
    phone_sent = b"".join(frame for _, frame in call.simulation.caller_audio)
    heard_by_deepgram = [bytes(c.audio) for c in deepgram.connections if c.audio]
    assert heard_by_deepgram and all(audio in phone_sent for audio in heard_by_deepgram)

    # ElevenLabs' μ-law reached the caller untouched (no transcoding, no resampling).
    assert {s.query["output_format"] for s in eleven.sessions} == {"ulaw_8000"}
    heard = b"".join(payload for _, payload in call.simulation.agent_audio)
    first_sentence = b"".join(eleven.sessions[0].audio)
    assert first_sentence and first_sentence in heard

    # Every answered turn says which provider served each stage and how fast each was.
    answered = [t for t in details["turns"][1:] if t["user_text"]]
    assert len(answered) == len(script)
    for turn in answered:
        assert turn["providers"] == {"stt": "deepgram", "llm": "anthropic", "tts": "elevenlabs"}
        assert turn["stt_final_after_turn_ms"] is not None
        assert turn["llm_ttft_ms"] is not None
        assert turn["tts_ttfb_ms"] is not None
        assert turn["first_audio_sent_ms"] is not None

    # Nothing secret and no full phone number in the whole log, even at debug level.
    secrets = [
        OUR_API_KEY,
        API_KEY,
        deepgram.api_key,
        claude.api_key,
        eleven.api_key,
        MEDIA_SECRET,
        AWS_SECRET,
    ]
    leaked = [secret for secret in secrets if secret in log]
    assert not leaked, leaked
    assert CALLEE not in log and CALLEE[1:] not in log
    assert "•" in log, "numbers were logged, masked"
