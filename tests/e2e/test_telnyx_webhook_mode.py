"""Webhook mode (Telnyx transcribes and speaks), inbound calls and a batch, through the fake."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from telnyx_stack import booked, telnyx_stack, wait_ended

from voxagent.simulator.caller import DEFAULT_SCRIPT

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_webhook_mode_and_inbound_calls(tmp_path: Path) -> None:
    async with (
        telnyx_stack(tmp_path, media_streams=False, script=list(DEFAULT_SCRIPT)) as (
            server,
            fake,
        ),
        httpx.AsyncClient(base_url=server.http, timeout=30) as client,
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
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
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
