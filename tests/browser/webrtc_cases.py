"""The console page over WebRTC in real headless Chromium, against our server on the offline
default. ``test_webrtc_console.py`` runs this module in a network namespace of its own with
only loopback up (``unshare -n``): both ICE agents offer 127.0.0.1 and nothing else, no STUN.

Not collected by itself (its name has no ``test_`` prefix): it needs that namespace, or at
least a machine where loopback peer connections are allowed.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from chromium import launch
from test_spoken_booking import MICROPHONE, spoken_booking

from fakes.live_server import LiveServer, live_server
from voxagent.settings import load_settings

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

LOOPBACK = {"stun_servers": "", "webrtc_host_addresses": "127.0.0.1"}
DONE = "window.voxConsole.state === 'listening' && !window.voxConsole.playing"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("webrtc-page")
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
        media_dir=str(tmp / "media"),
        browser_persona="sandra",
        stt_workers=1,
        tts_workers=1,
        **LOOPBACK,  # type: ignore[arg-type]
    )
    async with live_server(settings) as running:
        yield running


async def opened(playwright: Any, server: LiveServer, query: str = "bargeIn=0") -> tuple[Any, Any]:
    browser = await launch(playwright)
    context = await browser.new_context(bypass_csp=True)
    await context.add_init_script(MICROPHONE)
    page = await context.new_page()
    await page.goto(f"{server.url}/console?persona=sandra&language=en&{query}")
    await page.click("#start")
    await page.wait_for_function("window.voxConsole.webrtcConnected", timeout=15000)
    await page.wait_for_function(
        f"window.voxConsole.transcript.some(e => e.role === 'agent') && {DONE}", timeout=60000
    )
    return browser, page


async def ask(page: Any, text: str) -> None:
    before = await page.evaluate(
        "window.voxConsole.transcript.filter(e => e.role === 'agent').length"
    )
    await page.fill("#text-input", text)
    await page.click("#text-send")
    await page.wait_for_function(
        "window.voxConsole.transcript.filter(e => e.role === 'agent').length > " + str(before),
        timeout=30000,
    )


async def test_the_page_talks_over_webrtc(playwright: Any, server: LiveServer) -> None:
    browser, page = await opened(playwright, server)
    try:
        assert await page.evaluate("window.voxConsole.webrtcConnectMs") < 2000
        socket_audio = await page.evaluate("window.voxConsole.audioChunksReceived")
        await ask(page, "what is the wifi password")
        await page.wait_for_function(DONE, timeout=30000)
        hooks = await page.evaluate(
            "({rms: window.voxConsole.maxOutputRms, mouth: window.voxConsole.maxMouthOpen,"
            " chunks: window.voxConsole.audioChunksReceived,"
            " dc: window.voxConsole.dataChannelEvents,"
            " transport: window.voxConsole.transport})"
        )
        assert hooks["transport"] == "webrtc"
        assert hooks["rms"] > 0.01, "the agent's voice played from the <audio> stream"
        assert hooks["mouth"] > 0.05, "the avatar's mouth followed it"
        assert hooks["chunks"] == socket_audio, "no agent audio came over Socket.IO"
        assert {"state", "agent_text", "transcript_final"} <= set(hooks["dc"]), hooks["dc"]
        webrtc = server.services.webrtc
        assert webrtc is not None and webrtc.health()["connected"] >= 1
    finally:
        await browser.close()


async def test_a_barge_in_silences_the_agent_within_300_ms(
    playwright: Any, server: LiveServer
) -> None:
    from voxagent.providers.tts.piper import PiperVoiceSynthesizer

    voice = PiperVoiceSynthesizer(workers=1)
    try:
        pcm = np.asarray(voice.render_blocking("excuse me, one question"), dtype=np.float32)
        clip = base64.b64encode((pcm * 0.8).astype("<i2").tobytes()).decode()
        rate = voice.sample_rate
    finally:
        await voice.close()
    browser, page = await opened(playwright, server, "bargeIn=1")
    try:
        await page.fill("#text-input", "how do i get there from the airport")
        await page.click("#text-send")
        await page.wait_for_function(
            "window.voxConsole.state === 'speaking' && window.voxConsole.outputRms > 0.02",
            timeout=30000,
        )
        await asyncio.sleep(0.3)
        talking = asyncio.create_task(
            page.evaluate("([b64, rate]) => window.__guestSays(b64, rate)", [clip, rate])
        )
        await page.wait_for_function("window.voxConsole.bargeInAcks >= 1", timeout=10000)
        await page.wait_for_function("window.voxConsole.silenceAfterBargeMs !== null", timeout=5000)
        ack_ms, silent_ms = await page.evaluate(
            "[window.voxConsole.lastBargeInAckMs, window.voxConsole.silenceAfterBargeMs]"
        )
        assert ack_ms < 300, f"acknowledged after {ack_ms:.0f} ms"
        assert silent_ms < 300, f"the agent's stream still sounded {silent_ms:.0f} ms later"
        assert (await page.evaluate("window.voxConsole.dataChannelEvents"))["barge_in_ack"] >= 1
        await talking
    finally:
        await browser.close()


async def test_a_killed_peer_is_rebuilt_and_the_talk_goes_on(
    playwright: Any, server: LiveServer
) -> None:
    browser, page = await opened(playwright, server)
    try:
        first = await page.evaluate("window.voxConsole.webrtcPcId")
        session = await page.evaluate("window.voxConsole.sessionId")
        webrtc = server.services.webrtc
        assert webrtc is not None
        await webrtc.peers[first].close("killed")
        await page.wait_for_function(
            f"window.voxConsole.webrtcConnected && window.voxConsole.webrtcPcId !== '{first}'",
            timeout=20000,
        )
        assert await page.evaluate("window.voxConsole.webrtcRebuilds") >= 1
        await ask(page, "what time is check in")
        await page.wait_for_function("window.voxConsole.outputRms > 0.01", timeout=30000)
        assert await page.evaluate("window.voxConsole.transport") == "webrtc"
        assert await page.evaluate("window.voxConsole.sessionId") == session
    finally:
        await browser.close()


async def test_when_webrtc_cannot_connect_the_page_falls_back_and_says_so(
    playwright: Any, server: LiveServer
) -> None:
    browser = await launch(playwright)
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    try:
        # TURN relays only, and there is no TURN server: WebRTC cannot connect (one try).
        await page.goto(
            f"{server.url}/console?persona=sandra&language=en&bargeIn=0"
            "&relayOnly=1&webrtcTimeoutMs=1500&webrtcTries=1"
        )
        await page.click("#start")
        await page.wait_for_function("window.voxConsole.webrtcFallbacks === 1", timeout=20000)
        note = await page.evaluate("window.voxConsole.transportNote")
        assert "using WebSocket audio" in note, note
        await page.wait_for_function(f"{DONE}", timeout=60000)
        before = await page.evaluate("window.voxConsole.audioChunksReceived")
        await ask(page, "what is the wifi password")
        await page.wait_for_function(
            f"window.voxConsole.audioChunksReceived > {before}", timeout=30000
        )
        assert await page.evaluate("window.voxConsole.transport") == "websocket"
        shown = await page.inner_text("#transport-status")
        assert "WebRTC could not connect" in shown
    finally:
        await browser.close()


async def test_a_spoken_booking_with_sandra_over_webrtc(playwright: Any, tmp_path: Path) -> None:
    hooks = await spoken_booking(playwright, tmp_path, transport="webrtc", **LOOPBACK)
    assert hooks["webrtcConnected"] and hooks["transport"] == "webrtc"
    assert hooks["webrtcConnectMs"] < 2000
