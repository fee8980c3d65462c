"""Helpers shared by the several-instances proofs (``tests/cluster/test_survival_*.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from fakes.cluster import Cluster, Instance

SHORT_SCRIPT = ["hello there", "i have a question", "no thank you goodbye"]


async def until(
    condition: Callable[[], Awaitable[object] | object], seconds: float, what: str
) -> float:
    """Poll ``condition`` until it holds; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        held = condition()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


async def call_details(http: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/calls/{call_id}")
    assert response.status_code == 200, response.text
    details: dict[str, Any] = response.json()
    return details


async def ended(http: httpx.AsyncClient, call_id: str, within_s: float = 150) -> dict[str, Any]:
    """The call's record once its session ended and its record is closed."""

    async def over() -> bool:
        details = await call_details(http, call_id)
        return details.get("state") == "ended" and details["session"]["status"] in (
            "ended",
            "failed",
        )

    await until(over, within_s, f"call {call_id} ending")
    return await call_details(http, call_id)


async def appointments(database_url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT call_id, reason FROM appointments")
    finally:
        await conn.close()
    return [(r["call_id"], r["reason"]) for r in rows]


async def instance_ids(c: Cluster) -> dict[str, Instance]:
    """Each running instance by the id it heartbeats with."""
    found = {}
    for server in c.instances:
        status, health = await server.health()
        assert status == 200, health
        found[str(health["instance"])] = server
    return found


async def owner_of(c: Cluster, call_id: str, ids: dict[str, Instance]) -> Instance:
    owner = await c.redis.get(f"{c.prefix}owner:{call_id}")
    assert owner in ids, f"call {call_id} is owned by {owner!r}"
    return ids[owner]


async def place(http: httpx.AsyncClient, phone: str) -> str:
    placed = await http.post("/api/call/initiate", json={"name": "Ana", "phone": phone})
    assert placed.status_code == 200, placed.text
    return str(placed.json()["call_control_id"])


def turn_kinds(details: dict[str, Any]) -> list[str]:
    return [str(t["kind"]) for t in details["turns"]]
