"""The dashboard and call pages in headless Chromium, against our server in this process with
API keys set and calls recorded (RECORD_CALLS=true).

The dashboard asks for the key, goes live on the event stream, draws its charts with the
points of the calls made before it opened (read from the chart's data and from the canvas's
pixels), and grows when a call made while it watches ends. A call's page, reached from the
dashboard's table, draws each turn's stages as bars in order, marks what a barge-in cut,
names the providers, lists a browser session's tool runs, and plays the call's recording.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from chromium import launch

from fakes.live_server import LiveServer, live_server
from voxagent.settings import load_settings
from voxagent.simulator.browser import BrowserCaller, get_token
from voxagent.simulator.caller import simulate_call

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
KEY = "dashboard-page-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
STAGES = ["end_of_turn", "stt_final", "agent_first_text", "tts_first_audio", "first_audio_sent"]
SERIES_RGB = [(0x2B, 0x8A, 0x3E), (0xE8, 0x59, 0x0C), (0xC9, 0x2A, 0x2A)]
"""The colours of the p50, p95 and p99 series in dashboard.js."""


@dataclass
class Stack:
    server: LiveServer
    phone_call: str
    """A phone call whose caller talked over the agent once."""
    browser_call: str
    """A browser session in which the agent ran a tool."""


async def phone_call_with_a_barge_in(server: LiveServer) -> str:
    result = await simulate_call(
        f"ws://127.0.0.1:{server.port}/stream/media",
        ["i would like to book an appointment", "no thank you goodbye"],
        barge_in=True,
        barge_in_turn=1,
        transcribe=False,
        hangup_after_s=0.5,
    )
    return str(result.call_control_id)


async def browser_call_with_a_tool(server: LiveServer) -> str:
    token = await get_token(server.url, "page-guest", persona="sandra", language="en", api_key=KEY)
    caller = BrowserCaller(server.url, token)
    await caller.connect()
    try:
        await caller.start(persona="sandra", language="en")
        mark = len(caller.events)
        await caller.emit("text", {"text": "what time is check in"})
        await caller.wait_for("tool_result", after=mark, within_s=20)
        await caller.wait_for("metrics", after=mark, within_s=20)
        await caller.emit("end", {})
        await caller.wait_for("session_ended", within_s=10)
    finally:
        await caller.close()
    records = await server.services.calls.records.store.list_recent(10)
    return next(r.call_id for r in records if r.mode == "browser")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("dashboard-pages")
    settings = load_settings(
        _env_file=None,
        api_keys=KEY,
        record_calls=True,
        database_url=f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
        media_dir=str(tmp / "media"),
        jwt_secret="p" * 40,
        stt_workers=1,
        tts_workers=1,
    )
    async with live_server(settings) as server:
        phone, web = await asyncio.gather(
            phone_call_with_a_barge_in(server), browser_call_with_a_tool(server)
        )
        yield Stack(server, phone, web)


async def series_pixels(page: Any, chart: str, colours: list[tuple[int, int, int]]) -> int:
    """Pixels of the chart's canvas drawn in (about) one of these colours."""
    return int(
        await page.evaluate(
            """([selector, colours]) => {
                const canvas = document.querySelector(selector);
                const ctx = canvas.getContext("2d");
                const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
                let n = 0;
                for (let i = 0; i < px.length; i += 4) {
                    if (px[i + 3] < 200) continue;
                    if (colours.some(([r, g, b]) => Math.abs(px[i] - r) < 40
                        && Math.abs(px[i + 1] - g) < 40 && Math.abs(px[i + 2] - b) < 40)) n++;
                }
                return n;
            }""",
            [f"#{chart} canvas", [list(c) for c in colours]],
        )
    )


async def charts(page: Any) -> dict[str, list[list[float | None]]]:
    data: dict[str, list[list[float | None]]] = await page.evaluate(
        "Object.fromEntries(Object.entries(window.dashboardCharts).map(([k, c]) => [k, c.data]))"
    )
    return data


async def test_the_dashboard_draws_the_calls_and_grows_when_a_call_ends(
    playwright: Any, stack: Stack
) -> None:
    server = stack.server
    browser = await launch(playwright)
    page = await (await browser.new_context(bypass_csp=True)).new_page()  # for wait_for_function
    try:
        await page.goto(f"{server.url}/dashboard")
        # Keys are set: the page asks for one, then goes live.
        await page.wait_for_selector("#key-form:not([hidden])", timeout=10000)
        await page.fill("#api-key", KEY)
        await page.click("#key-form button[type=submit]")
        await page.wait_for_function("window.dashboardState.events >= 1", timeout=10000)
        assert await page.text_content("#stream-status") == "live"

        # The calls made before the page opened are drawn: data points, and pixels.
        rows = page.locator("#recent-rows tr[data-call-id]")
        assert await rows.count() == 2
        before = await charts(page)
        xs, p50, p95, p99 = before["response"]
        assert len(xs) >= 1 and p95[-1] is not None and p50[-1] <= p95[-1] <= p99[-1]
        assert all(v is not None for v in before["stages"][4][-1:])  # first_audio_sent p95
        assert await series_pixels(page, "chart-response", SERIES_RGB) > 10, "the points are drawn"
        answers_before = int(await page.text_content("#answers") or 0)

        # A call made while the page watches: it shows as active, then as a new row.
        call = asyncio.create_task(
            simulate_call(
                f"ws://127.0.0.1:{server.port}/stream/media",
                ["what are your opening hours"],
                transcribe=False,
                hangup_after_s=0.5,
            )
        )
        await page.wait_for_function(
            "document.getElementById('active-total').textContent === '1'", timeout=15000
        )
        call_id = str((await call).call_control_id)
        await page.wait_for_function(
            f"document.querySelector('#recent-rows tr[data-call-id=\"{call_id}\"]:not(.live)')",
            timeout=15000,
        )
        assert await rows.count() == 3
        await page.wait_for_function(
            "document.getElementById('active-total').textContent === '0'", timeout=10000
        )
        after = await charts(page)
        assert len(after["response"][0]) > len(xs), "the time series grew"
        assert max(v for v in after["active"][1] if v is not None) >= 1, "the call was seen live"
        assert int(await page.text_content("#answers") or 0) > answers_before
        assert await series_pixels(page, "chart-response", SERIES_RGB) > 100, "lines are drawn"
        link = page.locator(f'#recent-rows tr[data-call-id="{call_id}"] a')
        assert await link.get_attribute("href") == f"/calls/{quote(call_id, safe='')}"
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        await page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")

        # From the table to the barge-in call's page (same tab: the key stays with it).
        href = await page.locator(
            f'#recent-rows tr[data-call-id="{stack.phone_call}"] a'
        ).get_attribute("href")
        assert href == f"/calls/{quote(stack.phone_call, safe='')}"
        await page.goto(f"{server.url}{href}")
        await check_call_page(page, server, stack.phone_call, barge_in=True)
        shot = ARTIFACTS / "call-page.png"
        await page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")

        await page.goto(f"{server.url}/calls/{stack.browser_call}")
        await check_call_page(page, server, stack.browser_call, barge_in=False)
        kept = [
            t["name"] for turn in await record(server, stack.browser_call) for t in turn["tools"]
        ]
        listed = page.locator(".tools li[data-tool]")
        assert kept, "the agent ran a tool"
        assert [
            await listed.nth(i).get_attribute("data-tool") for i in range(await listed.count())
        ] == kept, "the agent's tool runs are listed"
        shot = ARTIFACTS / "call-page-tools.png"
        await page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        await browser.close()


async def record(server: LiveServer, call_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=10) as http:
        turns: list[dict[str, Any]] = (await http.get(f"/api/calls/{call_id}")).json()["turns"]
    return turns


async def check_call_page(page: Any, server: LiveServer, call_id: str, *, barge_in: bool) -> None:
    await page.wait_for_function("window.callPage && window.callPage.loaded", timeout=10000)
    shown = await page.evaluate("window.callPage.record")
    assert shown["call_id"] == call_id and shown["state"] == "ended"

    # The transcript: who said what, and what a barge-in cut.
    entries = page.locator("#transcript li.entry")
    assert await entries.count() == len(shown["transcript"])
    cut = [m for m in shown["transcript"] if m["interrupted"]]
    assert await page.locator("#transcript li.entry.interrupted .badge.cut").count() == len(cut)
    if barge_in:
        assert cut, "the caller talked over the agent once"
        assert await page.locator(".turn[data-interrupted=true] .badge.cut").count() >= 1

    # Each answered turn's waterfall: five bars in stage order, each starting where the one
    # before it ended, drawn to the turns' real milliseconds.
    replies = [t for t in shown["turns"] if t["kind"] == "reply" and t["first_audio_sent_ms"]]
    assert replies
    for turn in replies:
        bars = page.locator(f'.turn[data-turn="{turn["turn"]}"] .bar')
        stages = [await bars.nth(i).get_attribute("data-stage") for i in range(await bars.count())]
        assert stages == [s for s in STAGES if turn[f"{s}_ms"] is not None] == STAGES
        boxes = [await bars.nth(i).bounding_box() for i in range(len(stages))]
        ends = [float(await bars.nth(i).get_attribute("data-end-ms") or 0) for i in range(5)]
        assert ends == [turn[f"{s}_ms"] for s in STAGES]
        lefts = [b["x"] for b in boxes]
        rights = [b["x"] + b["width"] for b in boxes]
        assert lefts == sorted(lefts) and rights == sorted(rights), (lefts, rights)
        assert all(abs(lefts[i + 1] - rights[i]) < 3 for i in range(4)), "a waterfall"
        assert rights[-1] - lefts[0] > 20, "first audio sent is far from the end of speech"
        for stage, name in (("stt", "stt"), ("llm", "llm"), ("tts", "tts")):
            provider = page.locator(f'.turn[data-turn="{turn["turn"]}"] [data-provider="{stage}"]')
            assert (await provider.text_content() or "").startswith(turn["providers"][name])

    # The recording plays.
    audio = page.locator("audio#recording")
    assert await audio.is_visible()
    assert (await audio.get_attribute("src") or "").startswith("/media/recordings/")
    await page.wait_for_function(
        "document.getElementById('recording').readyState >= 1", timeout=10000
    )
    duration = await page.evaluate("document.getElementById('recording').duration")
    assert duration > 1.0, duration
    await page.evaluate("document.getElementById('recording').play()")
    await page.wait_for_function(
        "document.getElementById('recording').currentTime > 0.3", timeout=5000
    )
    assert not await page.evaluate("document.getElementById('recording').paused")
    await page.evaluate("document.getElementById('recording').pause()")
