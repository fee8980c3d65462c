"""Shared set-up for the Telnyx end-to-end tests: the fake Telnyx and our server, wired."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from server_process import Server, free_port, start_server, stop_server

from voxagent.simulator.fake_telnyx import FakeTelnyx

API_KEY = "KEY_TEST_0123"
"""Telnyx's key (what our server sends to the fake Telnyx)."""
OUR_API_KEY = "e2e-api-key-7f3a9c"
"""Our server's own API key (what clients send to our API)."""
AUTH = {"Authorization": f"Bearer {OUR_API_KEY}"}


@contextlib.asynccontextmanager
async def telnyx_stack(
    tmp: Path,
    *,
    media_streams: bool,
    script: list[str],
    fake_options: dict[str, Any] | None = None,
    **env: str,
) -> AsyncIterator[tuple[Server, FakeTelnyx]]:
    port = free_port()
    async with FakeTelnyx(
        webhook_url=f"http://127.0.0.1:{port}/webhook/telnyx",
        api_key=API_KEY,
        callee_script=script,
        speak_rate_s_per_char=0.02,
        callee_pause_s=0.6,  # a real callee pauses; 0.2 s overlaps a late next sentence
        **(fake_options or {}),
    ) as fake:
        server = await asyncio.to_thread(
            start_server,
            tmp,
            port=port,
            TELNYX_API_KEY=API_KEY,
            API_KEYS=OUR_API_KEY,
            TELNYX_BASE_URL=fake.base_url,
            TELNYX_PUBLIC_KEY=fake.public_key_b64,
            TELNYX_CONNECTION_ID="1234567890",
            TELNYX_PHONE_NUMBER="+15550001000",
            WEBHOOK_BASE_URL=f"http://127.0.0.1:{port}",
            USE_MEDIA_STREAMS="true" if media_streams else "false",
            **env,
        )
        try:
            yield server, fake
        finally:
            await asyncio.to_thread(stop_server, server)


async def wait_ended(client: httpx.AsyncClient, call_id: str, limit: float = 120) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        details = (await client.get(f"/api/calls/{call_id}")).json()
        if details.get("session", {}).get("status") in ("ended", "failed"):
            return details  # type: ignore[no-any-return]
        await asyncio.sleep(0.5)
    raise AssertionError(f"call {call_id} did not end: {details}")


def booked(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT call_id, reason FROM appointments").fetchall()


def cloud_settings(
    deepgram: Any, claude: Any, eleven: Any, *, tts: str = "elevenlabs"
) -> dict[str, str]:
    """Server settings for a Spanish call on the cloud providers, each pointed at its fake."""
    return {
        "TELNYX_TRANSCRIPTION_LANG": "es",
        "STT_PROVIDER": "deepgram",
        "DEEPGRAM_API_KEY": deepgram.api_key,
        "DEEPGRAM_BASE_URL": deepgram.url,
        "LLM_PROVIDER": "anthropic",
        "CLAUDE_API_KEY": claude.api_key,
        "ANTHROPIC_BASE_URL": claude.url,
        "TTS_PROVIDER": tts,
        "ELEVENLABS_API_KEY": eleven.api_key,
        "ELEVENLABS_BASE_URL": eleven.base_url,
    }
