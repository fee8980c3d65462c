"""Whole calls survive a provider that fails: the next in the chain takes over, or the caller
is told and handed to a person. The cloud provider is a protocol-faithful fake on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np
from server_process import free_port, start_server, stop_server

from fakes.deepgram_server import FakeDeepgram
from voxagent.simulator.caller import simulate_call


def get_bytes(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()  # type: ignore[no-any-return]


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def ended_record(url: str, limit_s: float = 15.0) -> dict[str, object]:
    """The call's record once the server has closed the call (the caller's hang-up reaches
    the server a moment after the simulator returns; the recording is stored at the close)."""
    deadline = time.monotonic() + limit_s
    while True:
        record = await asyncio.to_thread(get_json, url)
        if record.get("state") == "ended" or time.monotonic() > deadline:
            return record
        await asyncio.sleep(0.1)


async def test_rejected_deepgram_key_falls_back_to_the_offline_recognizer(tmp_path: Path) -> None:
    async with FakeDeepgram(reject_all_keys=True) as deepgram:
        server = await asyncio.to_thread(
            start_server,
            tmp_path,
            port=free_port(),
            STT_PROVIDER="deepgram,pocketsphinx",
            DEEPGRAM_API_KEY="revoked-key",
            DEEPGRAM_BASE_URL=deepgram.url,
            RECORD_CALLS="true",
        )
        try:
            result = await simulate_call(
                server.ws, ["i would like to book an appointment"], transcribe=False
            )
            record = await ended_record(f"{server.http}/api/calls/{result.call_control_id}")
            health = get_json(f"{server.http}/health")
            assert isinstance(record["recording_url"], str)
            # Without WEBHOOK_BASE_URL the local store's URLs are relative to the server.
            recording = await asyncio.to_thread(get_bytes, server.http + record["recording_url"])
        finally:
            await asyncio.to_thread(stop_server, server)
    assert deepgram.handshakes_rejected >= 1
    turns = record["turns"]
    assert isinstance(turns, list) and len(turns) >= 2, server.log()[-3000:]
    # The utterance Deepgram refused was recognized by PocketSphinx, and answered.
    assert "appointment" in turns[1]["user_text"], turns
    assert turns[1]["providers"]["stt"] == "pocketsphinx"
    assert turns[1]["first_audio_sent_ms"] is not None
    stats = health["stats"]
    assert isinstance(stats, dict)
    assert stats["provider_switches"] == {"stt:deepgram->pocketsphinx": 1}
    assert health["status"] == "ok"
    assert "stt provider deepgram failed" in server.log()
    # RECORD_CALLS: the whole call in stereo, caller left and agent right, served from /media.
    with wave.open(io.BytesIO(recording)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(len(audio) / 8000 - result.duration_s) < 1.5
    assert np.abs(audio[:, 0]).max() > 1000 and np.abs(audio[:, 1]).max() > 1000


async def test_no_recognizer_left_for_spanish_apologizes_and_transfers(tmp_path: Path) -> None:
    async with FakeDeepgram(reject_all_keys=True) as deepgram:
        server = await asyncio.to_thread(
            start_server,
            tmp_path,
            port=free_port(),
            TELNYX_TRANSCRIPTION_LANG="es",
            # PocketSphinx only knows English, so it is no fallback for a Spanish call.
            STT_PROVIDER="deepgram,pocketsphinx",
            DEEPGRAM_API_KEY="revoked-key",
            DEEPGRAM_BASE_URL=deepgram.url,
        )
        try:
            result = await simulate_call(
                server.ws, ["quiero pedir una cita"], transcribe=False, hangup_after_s=8
            )
            record = await ended_record(f"{server.http}/api/calls/{result.call_control_id}")
        finally:
            await asyncio.to_thread(stop_server, server)
    assert result.hung_up_by == "agent", server.log()[-3000:]
    assert record["outcome"] == "transferred"
    transcript = record["transcript"]
    assert isinstance(transcript, list)
    assert transcript[0]["text"].startswith(("Buenos", "Buenas"))  # greeted in Spanish
    assert "problema técnico" in transcript[-1]["text"], transcript
