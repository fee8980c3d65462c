"""A whole spoken booking with Sandra through the console page, on the offline default: the
guest speaks (Piper) into the page's microphone, the page streams it, the server hears it with
PocketSphinx, Sandra (scripted) books, and the reservation is in the database.

The guest is a person, not a recording: a file cannot wait for Sandra's question or say its
line again when it was misheard, and a person does both. So the page's microphone is Chromium's
fake capture device with a voice mixed in that the test controls: after each of Sandra's turns
the test reads her question off the page and answers it (again, if she asks again).
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromium import launch, speech_wav

from fakes.live_server import live_server
from voxagent.settings import load_settings

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# What the guest answers, by the words of Sandra's question (her last sentence). Phrases
# PocketSphinx hears in Piper's voice ("the loft" became "the law police").
ANSWERS: list[tuple[tuple[str, ...], str]] = [
    (("how can i help",), "i would like to book an apartment from friday for three nights"),
    (("what dates", "which dates", "what day"), "from friday for three nights"),
    (("how many",), "two people"),
    (("which one",), "the first one please"),
    (("what name", "which name"), "my name is john smith"),
    (("shall i book", "book it"), "yes please"),
    (("anything else",), "no thank you goodbye"),
]

# The page's microphone, with a voice the test can make speak (base64 16-bit PCM).
MICROPHONE = """
(() => {
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const device = await original(constraints);
    const ctx = new AudioContext();
    const mix = ctx.createMediaStreamDestination();
    ctx.createMediaStreamSource(device).connect(mix);
    window.__guestSays = async (b64, rate) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const pcm = new Int16Array(bytes.buffer);
      const buffer = ctx.createBuffer(1, pcm.length, rate);
      const samples = buffer.getChannelData(0);
      for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
      const source = ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(mix);
      await ctx.resume();
      const done = new Promise((resolve) => { source.onended = resolve; });
      source.start();
      await done;
    };
    return mix.stream;
  };
})();
"""


def answer_to(question: str) -> str | None:
    last = question.lower().replace("?", "?|").split("|")
    asked = next((s for s in reversed(last) if "?" in s), question.lower())
    for words, answer in ANSWERS:
        if any(w in asked for w in words):
            return answer
    return None


async def agent_turns(page: Any) -> list[str]:
    texts: list[str] = await page.evaluate(
        "window.voxConsole.transcript.filter(e => e.role === 'agent').map(e => e.text)"
    )
    return texts


async def test_a_spoken_booking_with_sandra_lands_in_the_database(
    playwright: Any, tmp_path: Path
) -> None:
    await spoken_booking(playwright, tmp_path, transport="websocket")


async def spoken_booking(
    playwright: Any, tmp_path: Path, *, transport: str, **settings: Any
) -> dict[str, Any]:
    """The whole booking through the page; returns the page's hooks at the end."""
    from voxagent.providers.tts.piper import PiperVoiceSynthesizer

    voice = PiperVoiceSynthesizer(workers=1)
    clips = {
        answer: base64.b64encode(
            (np.asarray(voice.render_blocking(answer), dtype=np.float32) * 0.7)
            .astype("<i2")
            .tobytes()
        ).decode()
        for _, answer in ANSWERS
    }
    quiet = speech_wav(tmp_path / "quiet.wav", [60.0])  # Chromium's fake capture device
    config = load_settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}",
        media_dir=str(tmp_path / "media"),
        browser_persona="sandra",
        stt_workers=1,
        tts_workers=1,
        **settings,
    )
    async with live_server(config) as server:
        browser = await launch(playwright, quiet)
        context = await browser.new_context(bypass_csp=True)
        await context.add_init_script(MICROPHONE)
        page = await context.new_page()
        said: list[str] = []
        try:
            await page.goto(
                f"{server.url}/console?persona=sandra&language=en&bargeIn=0&transport={transport}"
            )
            await page.click("#start")
            booked: list[tuple[Any, ...]] = []
            heard = 0
            deadline = time.monotonic() + 200
            while time.monotonic() < deadline and not booked and len(said) < 14:
                # Sandra has said something new and finished saying it.
                await page.wait_for_function(
                    f"window.voxConsole.transcript.filter(e => e.role === 'agent').length > {heard}"
                    " && window.voxConsole.state === 'listening' && !window.voxConsole.playing",
                    timeout=60000,
                )
                turns = await agent_turns(page)
                heard = len(turns)
                answer = answer_to(turns[-1])
                if answer is None:
                    break
                await asyncio.sleep(0.6)  # a person's pause before answering
                await page.evaluate(
                    "([b64, rate]) => window.__guestSays(b64, rate)",
                    [clips[answer], voice.sample_rate],
                )
                said.append(answer)
                await asyncio.sleep(3)
                with sqlite3.connect(tmp_path / "calls.db") as db:
                    booked = db.execute(
                        "SELECT guest_name, guests, status FROM reservations"
                    ).fetchall()
            transcript = await page.evaluate("window.voxConsole.transcript")
            dialogue = "\n".join(
                f"{e['role']}: {e['text']}" for e in transcript if e.get("final", True)
            )
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(
                path=str(ARTIFACTS / f"console-booked-{transport}.png"), full_page=True
            )
            assert booked, dialogue
            assert booked[0][2] == "booked" and booked[0][1] == 2, dialogue
            finals = [e for e in transcript if e["role"] == "user" and e.get("final")]
            assert len(finals) >= 5, "the page showed what the guest said"
            assert await page.evaluate("window.voxConsole.maxOutputRms") > 0.01
            hooks: dict[str, Any] = await page.evaluate(
                "Object.fromEntries(Object.keys(window.voxConsole)"
                ".map(k => [k, window.voxConsole[k]]))"
            )
            return hooks
        finally:
            await browser.close()
            await voice.close()
