"""Webhook mode (Telnyx transcribes and speaks), inbound calls and a batch, through the fake."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from telnyx_stack import AUTH, OUR_API_KEY, booked, telnyx_stack, wait_ended

from voxagent.simulator.caller import DEFAULT_SCRIPT

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_webhook_mode_and_inbound_calls(tmp_path: Path) -> None:
    async with (
        telnyx_stack(tmp_path, media_streams=False, script=list(DEFAULT_SCRIPT)) as (
            server,
            fake,
        ),
        httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client,
    ):
        placed = (
            await client.post("/api/call/initiate", json={"name": "Bo", "phone": "+15557654322"})
        ).json()
        details = await wait_ended(client, placed["call_control_id"])
        assert details["mode"] == "webhook"
        assert details["outcome"] == "completed", details
        users = [m["text"] for m in details["transcript"] if m["role"] == "user"]
        assert users[:2] == DEFAULT_SCRIPT[:2]
        spoken = [r for r in fake.requests if r.path.endswith("/actions/speak")]
        assert spoken and "Happy Paws" in spoken[0].json["payload"]
        assert len(booked(server.db_path)) == 1

        inbound_id = await fake.ring_inbound("+15559990000", "+15550001000")
        inbound = await wait_ended(client, inbound_id)
        assert inbound["direction"] == "inbound"
        assert inbound["session"]["outcome"] in ("completed", "callee_hangup")
        assert any(r.path.endswith(f"{inbound_id}/actions/answer") for r in fake.requests)


async def test_a_batch_of_20_respects_its_concurrency_limit(tmp_path: Path) -> None:
    async with telnyx_stack(tmp_path, media_streams=False, script=["no thank you goodbye"]) as (
        server,
        fake,
    ):
        calls = [{"name": f"n{i}", "phone": f"+1555700{i:04d}"} for i in range(20)]
        calls.append({"name": "bad", "phone": "12345"})
        async with httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client:
            response = await client.post(
                "/api/call/batch", json={"calls": calls, "concurrency": 5, "pace": 10}
            )
            assert response.status_code == 202, response.text
            accepted = response.json()
            assert accepted["accepted"] == 20 and len(accepted["rejected"]) == 1
            deadline = time.monotonic() + 240
            while True:
                summary = (await client.get(f"/api/call/batch/{accepted['batch_id']}")).json()
                if summary["done"]:
                    break
                assert time.monotonic() < deadline, summary
                await asyncio.sleep(0.5)
            stats = (await client.get("/api/sessions/stats")).json()
        assert summary["counts"] == {"ended": 20}
        assert 1 < summary["max_in_progress"] <= 5
        assert fake.max_concurrent_calls <= 5
        assert stats["total"] == 20 and stats["completed"] == 20 and stats["active"] == 0
        assert stats["by_outcome"] == {"completed": 20}
        assert stats["average_duration_seconds"] > 0


async def test_a_call_whose_stream_fails_goes_on_in_webhook_mode(tmp_path: Path) -> None:
    from server_process import free_port

    dead = f"ws://127.0.0.1:{free_port()}/stream/media"  # nothing listens there
    async with telnyx_stack(
        tmp_path, media_streams=True, script=["no thank you goodbye"], STREAM_URL=dead
    ) as (server, fake):
        async with httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client:
            placed = (
                await client.post(
                    "/api/call/initiate", json={"name": "Di", "phone": "+15557654324"}
                )
            ).json()
            details = await wait_ended(client, placed["call_control_id"])
        events = fake.events(placed["call_control_id"])
        assert "streaming.failed" in events
        assert any(r.action == "transcription_start" for r in fake.requests)
        assert details["session"]["mode"] == "webhook"
        assert details["outcome"] == "completed"
        assert [m["text"] for m in details["transcript"] if m["role"] == "user"] == [
            "no thank you goodbye"
        ]


async def test_cli_call_and_batch(tmp_path: Path) -> None:
    import sys

    async with telnyx_stack(tmp_path, media_streams=False, script=["no thank you goodbye"]) as (
        server,
        fake,
    ):
        csv_path = tmp_path / "numbers.csv"
        csv_path.write_text(
            "nombre,telefono,mascota\nAna,+15551110001,Max\nBo,+15551110002,\nBad,12345,\n"
        )
        voxagent = [sys.executable, "-m", "voxagent.cli"]
        refused = await asyncio.create_subprocess_exec(
            *voxagent,
            "batch",
            str(csv_path),
            "--server",
            server.http,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(refused.communicate(), 60)
        assert refused.returncode == 1 and "(401)" in out.decode() and "--api-key" in out.decode()
        batch = await asyncio.create_subprocess_exec(
            *voxagent,
            "batch",
            str(csv_path),
            "--server",
            server.http,
            "--concurrency",
            "2",
            "--api-key",
            OUR_API_KEY,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(batch.communicate(), 120)
        text = out.decode()
        assert batch.returncode == 0, text
        assert "skipped row 4" in text and "E.164" in text
        assert text.count("ended") >= 2 and "completed" in text
        one = await asyncio.create_subprocess_exec(
            *voxagent,
            "call",
            "+15551110003",
            "--server",
            server.http,
            "--wait",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "VOXAGENT_API_KEY": OUR_API_KEY},
        )
        out, _ = await asyncio.wait_for(one.communicate(), 120)
        text = out.decode()
        assert one.returncode == 0, text
        assert "user: no thank you goodbye" in text
        assert "outcome: completed" in text
        assert sum(1 for r in fake.requests if r.path.endswith("/calls")) == 3


async def test_webhook_mode_with_our_own_voice_plays_stored_audio(tmp_path: Path) -> None:
    """WEBHOOK_MODE_VOICE=provider: each answer is our TTS audio, stored under /media and
    played with playback_start; the fake Telnyx downloads it like Telnyx would."""
    async with (
        telnyx_stack(
            tmp_path,
            media_streams=False,
            script=["no thank you goodbye"],
            WEBHOOK_MODE_VOICE="provider",
            MEDIA_DIR=str(tmp_path / "media"),
        ) as (server, fake),
        httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client,
    ):
        placed = (
            await client.post("/api/call/initiate", json={"name": "Di", "phone": "+15557654329"})
        ).json()
        details = await wait_ended(client, placed["call_control_id"])
        assert details["outcome"] == "completed", details
        assert not [r for r in fake.requests if r.path.endswith("/actions/speak")]
        plays = [r for r in fake.requests if r.path.endswith("/actions/playback_start")]
        assert len(plays) >= 2  # the greeting and the goodbye
        assert plays[0].json["audio_url"].startswith(f"{server.http}/media/tts/")
        call = fake.calls[placed["call_control_id"]]
        for _ in range(50):
            if len(call.fetched) == len(plays):
                break
            await asyncio.sleep(0.1)
        for url, status, kind, body in call.fetched:
            assert status == 200 and kind == "audio/wav", url
            assert body[:4] == b"RIFF" and len(body) > 22050  # > 0.5 s of Piper speech
        assert details["turns"][0]["first_audio_sent_ms"] is not None


async def test_sigterm_drains_a_webhook_mode_call_with_a_goodbye_and_saves_its_record(
    tmp_path: Path,
) -> None:
    """A webhook-mode call is in the same registry as stream calls: a drain says the
    persona's goodbye through Telnyx, hangs up once it was heard, and the record is saved."""
    async with telnyx_stack(
        tmp_path,
        media_streams=False,
        script=["i would like to book an appointment"],
        fake_options={"callee_hangup_after_s": 60.0},  # the callee stays on the line
        SHUTDOWN_GRACE_SECONDS="1",
        WEBHOOK_MODE_VOICE="provider",
        MEDIA_DIR=str(tmp_path / "media"),
    ) as (server, fake):
        async with httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client:
            placed = (
                await client.post(
                    "/api/call/initiate", json={"name": "Al", "phone": "+15557654330"}
                )
            ).json()
        call_id = placed["call_control_id"]
        call = fake.calls[call_id]
        deadline = time.monotonic() + 60
        while call.agent_turns < 2:  # the greeting, and the answer to the callee's request
            assert time.monotonic() < deadline, fake.events(call_id)
            await asyncio.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)
        await fake.wait_ended(call_id, within_s=30)
        await asyncio.to_thread(server.process.wait, 30)
        assert server.process.returncode in (0, -signal.SIGTERM)

    actions = [r.action for r in fake.requests if call_id in r.path and r.action]
    assert actions[-1] == "hangup", actions
    assert actions.count("playback_start") >= 3  # greeting, answer, goodbye
    with sqlite3.connect(server.db_path) as db:
        outcome, ended_at, transcript = db.execute(
            "SELECT outcome, ended_at, transcript FROM calls WHERE call_id = ?", (call_id,)
        ).fetchone()
    assert outcome == "server_shutdown" and ended_at is not None
    said = [m["text"] for m in json.loads(transcript) if m["role"] == "assistant"]
    assert "end the call now" in said[-1], said
    log = server.log()
    # One voice chain for the whole call: a voice is chosen (and could fail over) once per call,
    # not once per turn.
    assert log.count(f"call {call_id}: voice chain") == 1, log[-2000:]
