"""Barge-in reaches the cloud voice: the engine's cancelled sentence cancels the provider's
work (Cartesia: a ``cancel`` for that context; ElevenLabs: the socket is closed), so no
audio nobody will hear is generated or paid for."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fakes.engine import (
    FakeAgent,
    FakeChannel,
    make_call,
    make_parts,
    silence,
    speak,
    tone,
    wait_for,
)
from fakes.tts_servers import FakeCartesia, FakeElevenLabs
from voxagent.agents.base import AgentAction, Say
from voxagent.audio.format import AudioFormat
from voxagent.conversation.call import CallState
from voxagent.conversation.parts import EngineConfig
from voxagent.providers.tts.base import TextToSpeech
from voxagent.providers.tts.cartesia import CartesiaVoice
from voxagent.providers.tts.elevenlabs import ElevenLabsVoice

pytestmark = pytest.mark.timeout(30)

LONG_REPLY = "Of course. " + " ".join(["This sentence goes on and on"] * 6) + "."


class Talker(FakeAgent):
    """Greets briefly, then answers anything with two sentences, the second long."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    async def greeting(self) -> AsyncGenerator[AgentAction, None]:
        yield Say("Hi.")

    async def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        yield Say(LONG_REPLY)

    def interrupted(self, heard_text: str) -> None:
        self.heard.append(heard_text)


class OneLineStt:
    name = "fake-stt"
    languages = frozenset({"en"})

    def open_stream(self, fmt: AudioFormat, on_interim: object) -> OneLineStream:
        return OneLineStream()

    async def close(self) -> None:
        pass


class OneLineStream:
    def feed(self, audio: bytes) -> None:
        pass

    async def finish(self) -> str:
        return "tell me"

    def abort(self) -> None:
        pass


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown()


async def barge_in_during_the_second_sentence(
    voice: TextToSpeech, executor: ThreadPoolExecutor, cancelled: Callable[[], bool]
) -> Talker:
    channel = FakeChannel()
    agent = Talker()
    config = EngineConfig(end_of_turn_silence_ms=300, min_speech_ms=64, barge_in_min_ms=200)
    # The cloud voice speaks μ-law; the call (the fake channel) 16-bit PCM at 8 kHz.
    parts = make_parts(agent, OneLineStt(), voice, executor, config=config)
    call = make_call("call-b", channel, parts)
    call.start()
    await wait_for(lambda: call.state == CallState.LISTENING and channel.marks, 10)
    await speak(call, np.concatenate([tone(300), silence(400)]))
    # "Of course." is playing; the long sentence is still being synthesized, slowly.
    await wait_for(lambda: len(call.turns) == 2 and call.turns[1].first_audio_sent, 10)
    await speak(call, tone(400))
    await wait_for(lambda: channel.clears, 5)
    # Cancelled by the barge-in itself, not later by the end of the call.
    await wait_for(cancelled, 1)
    await call.end()
    return agent


async def test_barge_in_cancels_the_cartesia_context(executor: ThreadPoolExecutor) -> None:
    async with FakeCartesia(chunk_delay=0.05) as fake:
        voice = CartesiaVoice(fake.api_key, "voice-1", base_url=fake.base_url)
        agent = await barge_in_during_the_second_sentence(
            voice, executor, lambda: bool(fake.cancelled)
        )
        await voice.close()
    long_contexts = [c for c in fake.contexts.values() if "goes on" in " ".join(c.transcripts)]
    assert long_contexts, "the long sentence was requested"
    assert [c.context_id for c in long_contexts] == fake.cancelled
    assert long_contexts[0].outcome == "cancelled"
    assert agent.heard and agent.heard[0].startswith("Of course.")


async def test_barge_in_closes_the_elevenlabs_stream(executor: ThreadPoolExecutor) -> None:
    async with FakeElevenLabs(chunk_delay=0.05) as fake:
        voice = ElevenLabsVoice(fake.api_key, "voice-1", base_url=fake.base_url)
        agent = await barge_in_during_the_second_sentence(
            voice, executor, lambda: any(s.outcome == "client_closed" for s in fake.sessions)
        )
        await voice.close()
    long_sessions = [s for s in fake.sessions if "goes on" in " ".join(s.texts)]
    assert long_sessions, "the long sentence was requested"
    assert long_sessions[0].outcome == "client_closed"
    assert agent.heard and agent.heard[0].startswith("Of course.")
