"""A whole spoken booking with Sandra through the console page, on the offline default: the
page's microphone is Chromium's fake capture playing Piper-spoken lines, the server hears
them with PocketSphinx, Sandra (scripted) books, and the reservation is in the database."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import launch, speech_wav

from fakes.live_server import live_server
from voxagent.settings import load_settings

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# The guest's side, with room for Sandra's answers (the fake microphone cannot wait for her).
# Phrases PocketSphinx hears in Piper's voice (checked: "the loft" became "the law police",
# "anna smith" became "anna smell").
SCRIPT: list[str | float] = [
    8.0,  # the greeting
    "hi i would like to book an apartment from friday for three nights",
    8.0,  # "How many guests will there be?"
    "two people",
    24.0,  # the free apartments, read out
    "the first one please",
    9.0,  # "What name should I put the reservation under?"
    "my name is john smith",
    22.0,  # the booking read back
    "yes please",
    60.0,
]


async def test_a_spoken_booking_with_sandra_lands_in_the_database(
    playwright: Any, tmp_path: Path
) -> None:
    wav = speech_wav(tmp_path / "guest.wav", SCRIPT)
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}",
        media_dir=str(tmp_path / "media"),
        browser_persona="sandra",
        stt_workers=1,
        tts_workers=1,
    )
    async with live_server(settings) as server:
        browser = await launch(playwright, wav)
        context = await browser.new_context(bypass_csp=True)
        page = await context.new_page()
        try:
            await page.goto(f"{server.url}/console?persona=sandra&language=en&bargeIn=0")
            await page.click("#start")
            deadline = time.monotonic() + 150
            booked: list[tuple[Any, ...]] = []
            while time.monotonic() < deadline and not booked:
                await asyncio.sleep(2)
                with sqlite3.connect(tmp_path / "calls.db") as db:
                    booked = db.execute(
                        "SELECT guest_name, guests, status FROM reservations"
                    ).fetchall()
            transcript = await page.evaluate("window.voxConsole.transcript")
            dialogue = "\n".join(
                f"{e['role']}: {e['text']}" for e in transcript if e.get("final", True)
            )
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "console-booked.png"), full_page=True)
            assert booked, dialogue
            assert booked[0][2] == "booked" and booked[0][1] == 2, dialogue
            finals = [e for e in transcript if e["role"] == "user" and e.get("final")]
            assert len(finals) >= 5, "the page showed what the guest said"
            assert await page.evaluate("window.voxConsole.maxOutputRms") > 0.01
        finally:
            await browser.close()
