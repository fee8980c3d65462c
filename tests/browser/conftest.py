"""Browser tests: the console page in real headless Chromium (Debian's, driven by Playwright),
against our server running in the test's own process, on the offline default.

Chromium's fake microphone plays a WAV file: the tests write one with Piper from the caller's
lines, so the page hears a person speaking through its real audio path (getUserMedia, the
AudioWorklet, 16 kHz chunks).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from voxagent.audio.resample import resample
from voxagent.audio.wav import write_wav

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists(),
    reason=f"{CHROMIUM} is missing (scripts/setup dev installs it on Debian)",
)

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def speech_wav(path: Path, parts: Sequence[str | float], *, rate: int = 48000) -> Path:
    """A fake microphone: each ``str`` spoken by Piper, each ``float`` that many seconds of
    silence, at ``rate`` (Chromium loops the file)."""
    from voxagent.providers.tts.piper import PiperVoiceSynthesizer

    voice = PiperVoiceSynthesizer(workers=1)
    chunks = []
    for part in parts:
        if isinstance(part, str):
            pcm = voice.render_blocking(part)
            chunks.append(resample(np.asarray(pcm, dtype=np.int16), voice.sample_rate, rate))
        else:
            chunks.append(np.zeros(int(part * rate), dtype=np.int16))
    audio = (np.concatenate(chunks).astype(np.float32) * 0.7).astype(np.int16)
    write_wav(path, audio, rate)
    return path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def playwright() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as running:
        yield running


async def launch(playwright: object, wav: Path | None = None) -> object:
    flags = list(FLAGS)
    if wav is not None:
        flags.append(f"--use-file-for-fake-audio-capture={wav}")
    return await playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=CHROMIUM, headless=True, args=flags
    )
