"""The page's barge-in detector (``static/vad.js``) in Chromium, fed levels made here: the
agent's own voice coming back through laptop speakers must never count as the user, however
late and loud (up to the level it played at); a person clearly louder than the agent must."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest
from chromium import launch

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

VAD_JS = Path(__file__).parents[2] / "src" / "voxagent" / "web" / "static" / "vad.js"
STEP_MS = 10

RUN = """async ([src, played, mic, stepMs]) => {
  const { BargeInDetector } = await import(src);
  const detector = new BargeInDetector();
  for (let i = 0; i < mic.length; i++) {
    if (detector.feed(mic[i], played[i], true, stepMs)) return i * stepMs;
  }
  return null;
}"""


def voice(rng: random.Random, seconds: float) -> list[float]:
    """10 ms RMS levels of a voice (full scale 1): syllables, and dips between them."""
    levels: list[float] = []
    while len(levels) * STEP_MS < seconds * 1000:
        levels += [10 ** (rng.uniform(-22.0, -13.0) / 20)] * rng.randint(8, 24)
        levels += [10 ** (rng.uniform(-48.0, -30.0) / 20)] * rng.randint(2, 8)
    return levels


def echo(rng: random.Random, played: list[float], delay_ms: int, coupling_db: float) -> list[float]:
    late = delay_ms // STEP_MS
    gain = 10 ** (coupling_db / 20)
    return [
        (played[i - late] if i >= late else 0.0) * gain * 10 ** (rng.uniform(-1.0, 1.0) / 20)
        for i in range(len(played))
    ]


@pytest.fixture(scope="module")
def vad_module() -> str:
    return "data:text/javascript;base64," + base64.b64encode(VAD_JS.read_bytes()).decode()


async def test_the_agents_own_voice_never_counts_as_the_user(
    playwright: object, vad_module: str
) -> None:
    browser = await launch(playwright)
    try:
        page = await browser.new_page()  # type: ignore[attr-defined]
        fired = []
        for seed, delay_ms, coupling_db in [
            (1, 20, 0.0), (2, 60, 0.0), (3, 120, 0.0), (4, 200, -3.0), (5, 60, -6.0),
            (6, 40, -12.0), (7, 100, -1.0), (8, 30, 0.0),
        ]:  # fmt: skip
            rng = random.Random(seed)
            played = voice(rng, 8.0)
            heard = echo(rng, played, delay_ms, coupling_db)
            at = await page.evaluate(RUN, [vad_module, played, heard, STEP_MS])
            fired.append((delay_ms, coupling_db, at))
        assert all(at is None for *_, at in fired), fired
    finally:
        await browser.close()  # type: ignore[attr-defined]


async def test_a_person_louder_than_the_agent_barges_in_at_once(
    playwright: object, vad_module: str
) -> None:
    browser = await launch(playwright)
    try:
        page = await browser.new_page()  # type: ignore[attr-defined]
        rng = random.Random(9)
        played = voice(rng, 6.0)
        heard = echo(rng, played, 60, -6.0)  # 4 s of the agent's echo, then a person at -6 dBFS
        person_from = 400
        heard = heard[:person_from] + [max(h, 0.5) for h in heard[person_from:]]
        at = await page.evaluate(RUN, [vad_module, played, heard, STEP_MS])
        assert at is not None and person_from * STEP_MS <= at <= person_from * STEP_MS + 200
    finally:
        await browser.close()  # type: ignore[attr-defined]
