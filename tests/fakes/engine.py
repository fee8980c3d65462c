"""Test doubles for the conversation engine: a channel that records, a VAD that hears
loudness, and helpers that feed audio in real time like a phone line."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from voxagent.conversation.call import Call

RATE = 8000
FRAME = 160


class FakeChannel:
    sample_rate = RATE

    def __init__(self) -> None:
        self.frames: list[tuple[float, np.ndarray]] = []
        self.marks: list[str] = []
        self.clears: list[float] = []
        self.hung_up: str | None = None
        self.call: Call | None = None

    async def send_audio(self, pcm: np.ndarray) -> None:
        assert len(pcm) == FRAME
        self.frames.append((time.monotonic(), pcm))

    async def send_mark(self, name: str) -> None:
        self.marks.append(name)
        if self.call is not None:
            self.call.mark_played(name)

    async def clear(self) -> None:
        self.clears.append(time.monotonic())

    async def hangup(self, reason: str) -> None:
        self.hung_up = reason

    async def transfer(self, to: str | None) -> None:
        self.hung_up = "transfer"


class LoudnessVad:
    """Speech when the window is loud: lets tests script the caller with tones."""

    window_samples = 256

    def __call__(self, window: np.ndarray) -> float:
        return 0.95 if np.abs(window).mean() > 1000 else 0.0

    def reset(self) -> None:
        pass


def tone(ms: int) -> np.ndarray:
    n = RATE * ms // 1000
    return (np.sin(np.arange(n) / 3) * 8000).astype(np.int16)


def silence(ms: int) -> np.ndarray:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)


async def speak(call: Call, pcm: np.ndarray) -> None:
    """Feed audio in real time, 20 ms at a time, like a phone line."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(0, len(pcm), FRAME):
        call.push_audio(pcm[i : i + FRAME])
        await asyncio.sleep(max(0.0, start + (i // FRAME + 1) * 0.02 - loop.time()))


async def wait_for(predicate: object, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
