"""The console page in headless Chromium: it connects, plays the agent with a moving mouth,
sends what is typed, survives a cut connection (resume) and a server restart (new session)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from chromium import launch, speech_wav

from fakes.live_server import LiveServer, live_server
from voxagent.settings import Settings, load_settings

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def settings_for(tmp: Path) -> Settings:
    return load_settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
        media_dir=str(tmp / "media"),
        jwt_secret="b" * 48,  # survives a restart, so the page's token still opens a socket
        browser_persona="sandra",
        stt_workers=1,
        tts_workers=1,
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    async with live_server(settings_for(tmp_path_factory.mktemp("console"))) as running:
        yield running


async def console(page: Any, server: LiveServer, query: str = "") -> None:
    await page.goto(
        f"{server.url}/console?persona=sandra&language=en&bargeIn=0&transport=websocket{query}"
    )
    await page.click("#start")
    await page.wait_for_function("window.voxConsole && window.voxConsole.sessionId")


async def vox(page: Any, name: str) -> Any:
    return await page.evaluate(f"window.voxConsole.{name}")


async def test_the_page_plays_the_agent_moves_the_mouth_and_resumes(
    playwright: Any, server: LiveServer, tmp_path: Path
) -> None:
    quiet = speech_wav(tmp_path / "quiet.wav", [30.0])
    browser = await launch(playwright, quiet)
    page = await (await browser.new_context(bypass_csp=True)).new_page()  # for wait_for_function
    try:
        await console(page, server)
        # The greeting plays: the output analyser hears it and the mouth follows it.
        await page.wait_for_function("window.voxConsole.maxOutputRms > 0.01", timeout=20000)
        await page.wait_for_function("window.voxConsole.maxMouthOpen > 0.3", timeout=10000)
        await page.wait_for_function(
            "window.voxConsole.state === 'listening' && !window.voxConsole.playing",
            timeout=30000,
        )
        await page.wait_for_function("window.voxConsole.mouthOpen === 0", timeout=5000)
        assert float(await page.get_attribute("#mouth", "data-open") or 1) == 0
        assert await vox(page, "audioChunksSent") > 10, "the microphone streams"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-greeted.png"))

        # Typing instead of speaking: a final transcript and an answer.
        await page.fill("#text-input", "what time is check in")
        await page.click("#text-send")
        await page.wait_for_function(
            "window.voxConsole.transcript.some(e => e.role === 'user' && e.final"
            " && e.text.includes('check in'))"
        )
        await page.wait_for_function(
            "window.voxConsole.transcript.filter(e => e.role === 'agent').length >= 2",
            timeout=20000,
        )

        # The server cuts the socket: the page reconnects by itself and resumes the session.
        session = await vox(page, "sessionId")
        namespace = server.services.browser.namespace
        (sid,) = [s for s, c in namespace.connections.items() if c.session is not None]
        await server.services.browser.sio.disconnect(sid, namespace="/sandra")
        await page.wait_for_function("window.voxConsole.resumes >= 1", timeout=30000)
        assert await vox(page, "sessionId") == session
        assert await vox(page, "connectionStatus") == "resumed"
        lines = await page.locator("#transcript li.entry").count()
        assert lines >= 3, "the transcript is still there"
    finally:
        await browser.close()


async def test_after_a_server_restart_the_page_reconnects_and_says_so(
    playwright: Any, tmp_path: Path
) -> None:
    quiet = speech_wav(tmp_path / "quiet.wav", [30.0])
    settings = settings_for(tmp_path)
    browser = await launch(playwright, quiet)
    page = await (await browser.new_context(bypass_csp=True)).new_page()  # for wait_for_function
    try:
        async with live_server(settings) as first:
            port = first.port
            await console(page, first)
            await page.wait_for_function("window.voxConsole.maxOutputRms > 0.01", timeout=20000)
        # The server is gone; the page keeps trying. Start it again on the same port.
        await asyncio.sleep(1.0)
        async with live_server(settings, port=port):
            await page.wait_for_function(
                "window.voxConsole.connectionStatus === 'new-session'", timeout=40000
            )
            text = await page.text_content("#connection-status")
            assert text is not None and "could not be resumed" in text
            await page.wait_for_function("window.voxConsole.sessionActive", timeout=10000)
    finally:
        await browser.close()


async def test_talking_over_the_agent_stops_it_at_once(
    playwright: Any, server: LiveServer, tmp_path: Path
) -> None:
    # The guest talks 2.5 s into the greeting (about 5 s long), loudly, close to the mic.
    wav = speech_wav(tmp_path / "barge.wav", [2.5, "sorry wait a moment please", 30.0])
    browser = await launch(playwright, wav)
    page = await (await browser.new_context(bypass_csp=True)).new_page()
    try:
        await page.goto(f"{server.url}/console?persona=sandra&language=en&transport=websocket")
        await page.click("#start")
        await page.wait_for_function("window.voxConsole.bargeInAcks >= 1", timeout=20000)
        ack_ms = await vox(page, "lastBargeInAckMs")
        assert ack_ms is not None and ack_ms < 300, ack_ms
        await page.wait_for_function("!window.voxConsole.playing", timeout=2000)
        await asyncio.sleep(0.3)
        assert await vox(page, "outputRms") < 0.005, "the agent's voice stopped in the page"
        cut = await page.evaluate(
            "window.voxConsole.transcript.filter(e => e.role === 'agent' && e.interrupted)"
        )
        assert cut, "the cut reply is marked in the transcript"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-barge-in.png"))
    finally:
        await browser.close()
