"""Instances of our server for the several-instances tests: each one a full ``Services`` with
its own port and database, on the fake Telnyx, sharing the real Redis under a test's prefix."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from fakes.live_server import live_server
from voxagent.services import Services
from voxagent.settings import Settings, load_settings
from voxagent.simulator.fake_telnyx import FakeTelnyx

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
API_KEY = "test-key-shared"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def redis_for_test() -> AsyncIterator[tuple[Redis, str]]:
    """A client of the real Redis and a key prefix of this test's own (deleted after it);
    the test is skipped where no Redis runs."""
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@contextlib.asynccontextmanager
async def instance(
    tmp: Path,
    fake: FakeTelnyx,
    port: int,
    redis_url: str,
    prefix: str,
    **settings: object,
) -> AsyncIterator[Services]:
    """One instance serving HTTP and WebSockets (the media stream, Socket.IO) on ``port``
    until the block ends."""
    config = load_settings(
        _env_file=None,
        **{
            "api_keys": API_KEY,
            "telnyx_api_key": "KEY_FAKE",
            "telnyx_base_url": fake.base_url,
            "telnyx_public_key": fake.public_key_b64,
            "telnyx_connection_id": "1234567890",
            "telnyx_phone_number": "+15550001000",
            "webhook_base_url": f"http://127.0.0.1:{port}",
            "use_media_streams": False,
            "database_url": f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
            "media_dir": str(tmp / "media"),
            "redis_url": redis_url,
            "redis_key_prefix": prefix,
            "session_ttl_seconds": 120,
            "stt_workers": 1,
            "tts_workers": 1,
            **settings,
        },
    )
    async with live_server(config, port=port) as running:
        yield running.services


def switching_voice_settings(tmp: Path, api_key: str, jwt_secret: str) -> Settings:
    """A server on the offline stack whose first voice (ElevenLabs) is unreachable: every
    call switches to Piper once, a provider switch the metrics must show."""
    return load_settings(
        _env_file=None,
        api_keys=api_key,
        database_url=f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
        media_dir=str(tmp / "media"),
        jwt_secret=jwt_secret,
        tts_provider="elevenlabs,piper",
        elevenlabs_api_key="el-key",
        elevenlabs_base_url=f"http://127.0.0.1:{free_port()}",
        stt_workers=1,
        tts_workers=1,
    )
