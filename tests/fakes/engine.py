"""Test doubles for the conversation engine: a channel that records, a VAD that hears
loudness, a recognizer and a voice that need no model, and helpers that feed audio in real
time like a phone line. The engine speaks 16-bit PCM at 8 kHz with them, so tests can make
and read audio with numpy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import Executor

import numpy as np

from voxagent.agents.base import Agent, AgentAction, EndCall, Say
from voxagent.audio.format import AudioFormat, Encoding
from voxagent.calls.info import CallInfo
from voxagent.conversation.call import Call
from voxagent.conversation.parts import CallParts, EngineConfig, EngineLines
from voxagent.providers.fallback import FallbackRecognizer, FallbackVoice, ProviderChain
from voxagent.providers.stt.base import SpeechToText
from voxagent.providers.tts.base import TextToSpeech

RATE = 8000
FRAME = 160
PCM_8K = AudioFormat(Encoding.PCM16, RATE)


class FakeChannel:
    audio_format = PCM_8K
    echo_margin_db: float | None = None

    def played_bytes(self) -> int | None:
        return None

    def __init__(self) -> None:
        self.frames: list[tuple[float, np.ndarray]] = []
        self.marks: list[str] = []
        self.clears: list[float] = []
        self.hung_up: str | None = None
        self.call: Call | None = None

    async def send_audio(self, frame: bytes) -> None:
        pcm = np.frombuffer(frame, dtype="<i2")
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


class ScriptedStt:
    """Hears the next scripted text for each utterance (nothing when fed no audio)."""

    name = "fake-stt"
    languages = frozenset({"en"})

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.opened = 0

    def open_stream(self, fmt: AudioFormat, on_interim: object) -> ScriptedStream:
        self.opened += 1
        return ScriptedStream(self.texts.pop(0) if self.texts else "")

    async def close(self) -> None:
        pass


class ScriptedStream:
    def __init__(self, text: str) -> None:
        self.text = text
        self.fed = 0

    def feed(self, audio: bytes) -> None:
        self.fed += len(audio) // 2

    async def finish(self) -> str:
        await asyncio.sleep(0.01)
        return self.text if self.fed else ""

    def abort(self) -> None:
        pass


class ToneTts:
    """40 ms of tone per word, so the length of speech follows the text."""

    name = "tone"
    output_format = PCM_8K

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        await asyncio.sleep(0.005)
        n = len(text.split()) * RATE * 40 // 1000
        yield (np.sin(np.arange(n) / 5) * 3000).astype("<i2").tobytes()

    async def close(self) -> None:
        pass


class FakeAgent:
    """What every test agent declares: a scripted brain that cannot prefetch."""

    provider_name = "fake"
    can_prefetch = False
    last_reply_speculative = False

    def prefetch(self, transcript: str) -> None:
        pass

    def interrupted(self, heard_text: str) -> None:
        pass


class EchoAgent(FakeAgent):
    def __init__(self) -> None:
        self.heard: list[str] = []

    async def greeting(self) -> AsyncGenerator[AgentAction, None]:
        yield Say("Hello there. How can I help?")

    async def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        if transcript == "bye":
            yield Say("Goodbye.")
            yield EndCall("completed")
            return
        words = " ".join(["word"] * 60)
        yield Say(f"You said {transcript}. {words}.")

    def interrupted(self, heard_text: str) -> None:
        self.heard.append(heard_text)


def make_parts(
    agent: Agent,
    stt: SpeechToText,
    tts: TextToSpeech,
    executor: Executor,
    *,
    config: EngineConfig | None = None,
    lines: EngineLines | None = None,
    fmt: AudioFormat = PCM_8K,
) -> CallParts:
    """A call's parts around single test providers (each in a one-provider chain)."""
    return CallParts(
        agent=agent,
        recognizer=FallbackRecognizer(ProviderChain("stt", [stt])),
        voice=FallbackVoice(ProviderChain("tts", [tts]), fmt),
        vad=LoudnessVad(),
        vad_executor=executor,
        config=config or EngineConfig(),
        lines=lines or EngineLines(),
    )


def make_call(call_id: str, channel: FakeChannel, parts: CallParts) -> Call:
    call = Call(CallInfo(call_id), channel, parts)
    channel.call = call
    return call


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
        call.push_audio(pcm[i : i + FRAME].astype("<i2").tobytes())
        await asyncio.sleep(max(0.0, start + (i // FRAME + 1) * 0.02 - loop.time()))


async def wait_for(predicate: object, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])
