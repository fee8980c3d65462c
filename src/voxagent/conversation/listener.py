"""The agent's ear: caller audio → voice activity → turns, with a recognizer open while they talk.

Frames arrive in the call's format. Each is decoded once for the VAD; the recognizer gets the
original bytes. A recognition stream opens when speech starts (with pre-roll, so the first
syllable is not lost) and is handed over when the turn ends. Silence inside a turn beyond
``STT_TRAILING_SILENCE_MS`` is held back from the recognizer and given to it only if speech
resumes: PocketSphinx's accuracy drops sharply on long silent tails (measured: "my dog's name
is luna" → "my dog when a woman" with 700 ms of trailing line noise).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import assert_never

from voxagent.audio.format import AudioFormat
from voxagent.audio.levels import rms_dbfs
from voxagent.audio.vad import GatedVad
from voxagent.conversation.echo import EchoGate
from voxagent.conversation.turns import SpeechStarted, SpeechStopped, TurnDetector
from voxagent.providers.fallback import ChainStream, FallbackRecognizer
from voxagent.providers.stt.base import InterimCallback

__all__ = ["FinishedSpeech", "Listener"]

FRAME_MS = 20
PRE_ROLL_MS = 300
STT_TRAILING_SILENCE_MS = 300
INBOUND_QUEUE_FRAMES = 250
"""Five seconds of caller audio; beyond that the loop is hopelessly behind and we drop."""


@dataclass(frozen=True, slots=True)
class FinishedSpeech:
    """A caller turn that ended: its recognition stream, and when the speech stopped."""

    stream: ChainStream
    speech_end: float
    end_of_turn: float
    speech_ms: float


class Listener:
    def __init__(
        self,
        fmt: AudioFormat,
        vad: GatedVad,
        turns: TurnDetector,
        recognizer: FallbackRecognizer,
        executor: Executor,
        *,
        min_speech_ms: int,
        on_interim: InterimCallback,
        on_speech_started: Callable[[], None],
        on_speech_stopped: Callable[[FinishedSpeech], None],
        on_voice: Callable[[float], Awaitable[None]],
        echo: EchoGate | None = None,
    ) -> None:
        """``on_voice(run_ms)`` is awaited after every window while the caller's voice runs
        on (the call decides whether that much speech is a barge-in)."""
        self.format = fmt
        self._vad = vad
        self.turns = turns
        self._recognizer = recognizer
        self._executor = executor
        self._on_interim = on_interim
        self._on_speech_started = on_speech_started
        self._on_speech_stopped = on_speech_stopped
        self._on_voice = on_voice
        self.echo = echo
        """On a line without echo cancellation: sound not louder than the agent's own echo
        is not the caller."""
        self._inbound: asyncio.Queue[bytes] = asyncio.Queue(INBOUND_QUEUE_FRAMES)
        self._pre_roll: deque[bytes] = deque(
            maxlen=max(1, (PRE_ROLL_MS + min_speech_ms) // FRAME_MS + 2)
        )
        self._held: list[bytes] = []
        self.stream: ChainStream | None = None

    @property
    def speaking(self) -> bool:
        return self.turns.speaking

    def push(self, frame: bytes) -> bool:
        """Queue a frame; False when it had to be dropped (the call is hopelessly behind)."""
        try:
            self._inbound.put_nowait(frame)
        except asyncio.QueueFull:
            return False
        return True

    def abort(self) -> None:
        """Forget the utterance in progress (the call ended)."""
        if self.stream is not None:
            self.stream.abort()
            self.stream = None
        self._held.clear()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        vad, turns = self._vad, self.turns
        while True:
            frame = await self._inbound.get()
            self._pre_roll.append(frame)
            if self.stream is not None:
                self._feed(frame)
            for window in vad.windows(self.format.decode(frame)):
                floor = None
                if self.echo is not None:
                    floor = self.echo.floor(rms_dbfs(window), loop.time())
                if vad.is_quiet(window, floor):
                    probability = 0.0
                else:
                    probability = await loop.run_in_executor(
                        self._executor, vad.model_probability, window
                    )
                match turns.update(probability):
                    case SpeechStarted():
                        self._speech_started()
                    case SpeechStopped() as stopped:
                        self._speech_stopped(stopped)
                    case None:
                        pass
                    case unknown:
                        assert_never(unknown)
                if turns.run_ms > 0:
                    await self._on_voice(turns.run_ms)

    def _feed(self, frame: bytes) -> None:
        assert self.stream is not None
        if self.turns.silence_ms >= STT_TRAILING_SILENCE_MS:
            self._held.append(frame)
            return
        for held in self._held:
            self.stream.feed(held)
        self._held.clear()
        self.stream.feed(frame)

    def _speech_started(self) -> None:
        if self.stream is not None:
            self.stream.abort()
        self.stream = self._recognizer.open_stream(self.format, self._on_interim)
        self._held.clear()
        for frame in self._pre_roll:
            self.stream.feed(frame)
        self._on_speech_started()

    def _speech_stopped(self, event: SpeechStopped) -> None:
        stream, self.stream = self.stream, None
        self._held.clear()
        if stream is None:
            return
        now = time.monotonic()
        self._on_speech_stopped(
            FinishedSpeech(stream, now - event.silence_ms / 1000, now, event.speech_ms)
        )
