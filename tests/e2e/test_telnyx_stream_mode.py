"""Outbound calls in media-stream mode through the fake Telnyx, and webhook authentication.

The fake speaks Telnyx's REST and webhook wire formats (signed with its own Ed25519 key) and
plays the called party with the simulator, so every byte our server exchanges is the real shape.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from telnyx_stack import AUTH, OUR_API_KEY, booked, telnyx_stack, wait_ended

from voxagent.simulator.caller import DEFAULT_SCRIPT

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_outbound_call_in_stream_mode_books_an_appointment(tmp_path: Path) -> None:
    # The callee listens to the agent (PocketSphinx), so like a person it says a line again
    # when the agent did not get it: a misheard word costs a turn, not the booking.
    async with telnyx_stack(
        tmp_path,
        media_streams=True,
        script=list(DEFAULT_SCRIPT),
        fake_options={"transcribe": True},
    ) as (server, fake):
        async with httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client:
            # The seed service's legacy field names.
            response = await client.post(
                "/api/call/initiate", json={"nombre": "Ana", "telefono": "+15557654321"}
            )
            assert response.status_code == 200, response.text
            placed = response.json()
            details = await wait_ended(client, placed["call_control_id"])

        dial = next(r for r in fake.requests if r.path.endswith("/calls"))
        assert dial.json["stream_url"] == f"ws://127.0.0.1:{server.port}/stream/media"
        assert dial.json["stream_bidirectional_mode"] == "rtp"
        assert dial.json["stream_auth_token"]
        assert details["outcome"] == "completed"
        assert details["hangup_cause"] == "normal_clearing"
        assert details["direction"] == "outbound" and details["mode"] == "media_stream"
        # The callee's name reached the agent: it greets them by name and says who calls.
        greeting = details["transcript"][0]["text"]
        assert "Ana" in greeting and "thank you for calling" not in greeting.lower(), greeting
        assert len(details["turns"]) >= 6
        assert all(t["first_audio_sent_ms"] is not None for t in details["turns"])
        dialogue = "\n".join(f"{t['user_text']!r} -> {t['agent_text']!r}" for t in details["turns"])
        assert [c for c, _ in booked(server.db_path)] == [placed["call_control_id"]], dialogue


async def test_forged_stale_and_duplicate_webhooks(tmp_path: Path) -> None:
    async with telnyx_stack(tmp_path, media_streams=False, script=["no thank you goodbye"]) as (
        server,
        fake,
    ):
        assert await fake.send_forged() == 401
        assert await fake.send_stale() == 401
        fake.duplicate_deliveries = True
        async with httpx.AsyncClient(base_url=server.http, timeout=30, headers=AUTH) as client:
            placed = (
                await client.post(
                    "/api/call/initiate", json={"name": "Cy", "phone": "+15557654323"}
                )
            ).json()
            details = await wait_ended(client, placed["call_control_id"])
            health = (await client.get("/health")).json()
        greetings = [r for r in fake.requests if r.path.endswith("/actions/speak")]
        assert len(greetings) == 2, "greeting + goodbye, each once despite duplicate webhooks"
        assert health["webhooks"]["duplicates"] > 0
        assert health["webhooks"]["rejected"] >= 2
        assert details["outcome"] == "completed"


async def test_a_locked_media_stream_takes_telnyx_tokens_or_api_keys_only(tmp_path: Path) -> None:
    from voxagent.simulator.caller import simulate_call

    async with telnyx_stack(tmp_path, media_streams=True, script=[]) as (server, _fake):
        ws_url = f"ws://127.0.0.1:{server.port}/stream/media"
        for key in (None, "not-our-key"):
            refused = await simulate_call(ws_url, ["hello"], transcribe=False, api_key=key)
            assert (refused.close_code, refused.greeting_ms) == (1008, None)
        result = await simulate_call(
            ws_url, ["no thank you goodbye"], transcribe=False, api_key=OUR_API_KEY
        )
    assert result.greeting_ms is not None, "a caller with an API key was let in"
