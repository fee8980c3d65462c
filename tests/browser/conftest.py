"""Browser tests: the console page in real headless Chromium (Debian's, driven by Playwright),
against our server running in the test's own process, on the offline default.

Chromium's fake microphone plays a WAV file: the tests write one with Piper from the caller's
lines, so the page hears a person speaking through its real audio path (getUserMedia, the
AudioWorklet, 16 kHz chunks). The helpers are in ``chromium.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from chromium import CHROMIUM, HAVE_CHROMIUM


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not HAVE_CHROMIUM:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"{CHROMIUM} is missing (scripts/setup dev installs it on Debian)"
                    )
                )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def playwright() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as running:
        yield running
