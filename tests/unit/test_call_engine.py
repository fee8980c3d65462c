"""The conversation engine with in-memory parts: real timing, no models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fakes.engine import RATE, FakeChannel, LoudnessVad, silence, speak, tone, wait_for
from voxagent.agents.base import AgentAction, EndCall, Say
from voxagent.conversation.call import Call, CallServices, CallState, EngineConfig


class ScriptedStt:
    name = "fake-stt"
    languages = frozenset({"en"})

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.opened = 0

    def open_stream(self, sample_rate: int, on_interim: object) -> ScriptedStream:
        self.opened += 1
        return ScriptedStream(self.texts.pop(0) if self.texts else "")

    async def close(self) -> None:
        pass


class ScriptedStream:
    def __init__(self, text: str) -> None:
        self.text = text
        self.fed = 0

    def feed(self, pcm: np.ndarray) -> None:
        self.fed += len(pcm)

    async def finish(self) -> str:
        await asyncio.sleep(0.01)
        return self.text if self.fed else ""

    def abort(self) -> None:
        pass


class ToneTts:
    """40 ms of tone per word, so the length of speech follows the text."""

    name = "tone"
    sample_rate = RATE

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        await asyncio.sleep(0.005)
        n = len(text.split()) * RATE * 40 // 1000
        yield (np.sin(np.arange(n) / 5) * 3000).astype(np.int16)

    async def close(self) -> None:
        pass


class EchoAgent:
    def __init__(self) -> None:
        self.heard: list[str] = []

    async def greeting(self) -> AsyncIterator[AgentAction]:
        yield Say("Hello there. How can I help?")

    async def reply(self, transcript: str) -> AsyncIterator[AgentAction]:
        if transcript == "bye":
            yield Say("Goodbye.")
            yield EndCall("completed")
            return
        words = " ".join(["word"] * 60)
        yield Say(f"You said {transcript}. {words}.")

    def interrupted(self, heard_text: str) -> None:
        self.heard.append(heard_text)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown()


def make_call(
    texts: list[str], executor: ThreadPoolExecutor
) -> tuple[Call, FakeChannel, EchoAgent]:
    channel = FakeChannel()
    agent = EchoAgent()
    services = CallServices(
        stt=ScriptedStt(texts),
        tts=ToneTts(),
        vad_factory=lambda rate: LoudnessVad(),
        vad_executor=executor,
        config=EngineConfig(end_of_turn_silence_ms=300, min_speech_ms=64, barge_in_min_ms=200),
    )
    call = Call("call-1", channel, agent, services)
    channel.call = call
    return call, channel, agent


async def test_greeting_is_spoken_sentence_by_sentence_in_real_time(
    executor: ThreadPoolExecutor,
) -> None:
    call, channel, _ = make_call([], executor)
    call.start()
    await wait_for(lambda: len(channel.marks) == 2 and call.state == CallState.LISTENING, 3)
    # "Hello there." (2 words) + "How can I help?" (4 words) at 40 ms/word = 240 ms = 12 frames
    assert len(channel.frames) == 12
    span = channel.frames[-1][0] - channel.frames[0][0]
    assert 0.11 <= span <= 0.4, "frames are paced by the clock, not dumped at once"
    assert call.turns[0].response_ms is not None
    assert [m.text for m in call.history] == ["Hello there. How can I help?"]
    await call.end()


async def test_a_caller_turn_gets_an_answer_and_latency_is_recorded(
    executor: ThreadPoolExecutor,
) -> None:
    call, channel, _ = make_call(["book a visit"], executor)
    call.start()
    await wait_for(lambda: call.state == CallState.LISTENING and len(channel.marks) == 2)
    await speak(call, np.concatenate([tone(400), silence(500)]))
    await wait_for(lambda: len(call.turns) == 2 and call.turns[1].first_audio_sent is not None)
    turn = call.turns[1]
    assert turn.user_text == "book a visit"
    assert turn.stt_final is not None and turn.speech_end is not None
    assert 0 < turn.response_ms < 1000  # type: ignore[operator]
    assert list(call.history)[1].text == "book a visit"
    await call.end()


async def test_barge_in_stops_the_agent_and_keeps_only_what_was_heard(
    executor: ThreadPoolExecutor,
) -> None:
    call, channel, agent = make_call(["tell me everything", "stop"], executor)
    call.start()
    await wait_for(lambda: call.state == CallState.LISTENING and len(channel.marks) == 2)
    await speak(call, np.concatenate([tone(300), silence(400)]))
    await wait_for(lambda: call.turns[-1].first_audio_sent is not None and len(call.turns) == 2)
    await asyncio.sleep(0.5)  # the agent is mid-reply (≈2.5 s long)
    frames_before = len(channel.frames)
    spoke_at = time.monotonic()
    await speak(call, tone(400))
    assert channel.clears, "clear must be sent on barge-in"
    detect_to_clear = channel.clears[0] - spoke_at
    assert detect_to_clear < 0.2 + 0.15  # barge_in_min_ms + a little
    frames_at_clear = sum(1 for t, _ in channel.frames if t <= channel.clears[0])
    late = [t for t, _ in channel.frames[frames_at_clear:] if t < channel.clears[0] + 0.3]
    assert len(late) == 0, "no agent audio right after the clear"
    assert call.barge_ins == 1
    interrupted = [m for m in call.history if m.interrupted]
    assert len(interrupted) == 1
    heard = interrupted[0].text
    assert heard.startswith("You said tell me everything.")
    assert len(heard.split()) < 60, "only the part played before the interruption"
    assert agent.heard == [heard]
    assert call.turns[1].interrupted and call.turns[1].interrupted_at is not None
    assert frames_before < len(channel.frames) < frames_before + 40
    await call.end()


async def test_end_call_hangs_up_after_the_goodbye_is_played(executor: ThreadPoolExecutor) -> None:
    call, channel, _ = make_call(["bye"], executor)
    call.start()
    await wait_for(lambda: call.state == CallState.LISTENING and len(channel.marks) == 2)
    await speak(call, np.concatenate([tone(300), silence(400)]))
    await asyncio.wait_for(call.wait(), 5)
    assert channel.hung_up == "completed"
    assert call.outcome == "completed"
    assert [m.text for m in call.history][-1] == "Goodbye."
    assert call.turns[-1].agent_text == "Goodbye."


async def test_noise_without_words_is_not_a_turn(executor: ThreadPoolExecutor) -> None:
    call, channel, _ = make_call([""], executor)
    call.start()
    await wait_for(lambda: call.state == CallState.LISTENING and len(channel.marks) == 2)
    await speak(call, np.concatenate([tone(200), silence(400)]))
    await asyncio.sleep(0.1)
    assert len(call.turns) == 1
    await call.end()


async def test_audio_after_the_end_is_ignored(executor: ThreadPoolExecutor) -> None:
    call, _, _ = make_call([], executor)
    call.start()
    await call.end("caller_hangup")
    call.push_audio(tone(20))
    assert call.state == CallState.ENDED
    assert call.outcome == "caller_hangup"


class InterimStt(ScriptedStt):
    """Says the final text as an interim once some audio arrived, like a streaming recognizer."""

    def open_stream(self, sample_rate: int, on_interim: object) -> ScriptedStream:
        stream = super().open_stream(sample_rate, on_interim)
        original = stream.feed

        def feed(pcm: np.ndarray) -> None:
            original(pcm)
            if stream.fed >= RATE // 5:
                on_interim(stream.text)  # type: ignore[operator]

        stream.feed = feed  # type: ignore[method-assign]
        return stream


class PrefetchingAgent(EchoAgent):
    def __init__(self) -> None:
        super().__init__()
        self.prefetched: list[tuple[float, str]] = []

    def prefetch(self, transcript: str) -> None:
        self.prefetched.append((time.monotonic(), transcript))


@pytest.mark.parametrize("speculative", [True, False])
async def test_a_stable_interim_lets_the_agent_start_before_the_turn_ends(
    executor: ThreadPoolExecutor, speculative: bool
) -> None:
    channel = FakeChannel()
    agent = PrefetchingAgent()
    services = CallServices(
        stt=InterimStt(["book a visit"]),
        tts=ToneTts(),
        vad_factory=lambda rate: LoudnessVad(),
        vad_executor=executor,
        config=EngineConfig(
            end_of_turn_silence_ms=500,
            min_speech_ms=64,
            speculative=speculative,
            speculation_stable_ms=150,
        ),
    )
    call = Call("call-s", channel, agent, services)
    channel.call = call
    call.start()
    await wait_for(lambda: call.state == CallState.LISTENING and len(channel.marks) == 2)
    await speak(call, np.concatenate([tone(400), silence(700)]))
    await wait_for(lambda: len(call.turns) == 2 and call.turns[1].stt_final is not None)
    if speculative:
        ((at, text),) = agent.prefetched
        assert text == "book a visit"
        # The agent was asked while the caller's silence window was still open.
        assert at < call.turns[1].stt_final  # type: ignore[operator]
    else:
        assert agent.prefetched == []
    await call.end()


class TricklingTts:
    """A streaming voice: a sentence comes in 100 ms chunks, each 150 ms after the last
    (slower than real time, like a congested cloud voice)."""

    name = "trickle"
    sample_rate = RATE

    def __init__(self) -> None:
        self.finished_at: list[float] = []

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        for _ in range(4):
            await asyncio.sleep(0.15)
            yield (np.sin(np.arange(RATE // 10) / 5) * 3000).astype(np.int16)
        self.finished_at.append(time.monotonic())

    async def close(self) -> None:
        pass


async def test_a_streaming_voice_is_played_from_its_first_chunk(
    executor: ThreadPoolExecutor,
) -> None:
    channel = FakeChannel()
    tts = TricklingTts()
    services = CallServices(
        stt=ScriptedStt([]),
        tts=tts,
        vad_factory=lambda rate: LoudnessVad(),
        vad_executor=executor,
    )
    call = Call("call-t", channel, EchoAgent(), services)
    channel.call = call
    call.start()
    await wait_for(lambda: len(channel.marks) == 2, 5)
    # The first frame went out long before the first sentence was fully synthesized ...
    assert channel.frames[0][0] < tts.finished_at[0] - 0.3
    # ... every sample arrived (2 sentences x 400 ms = 40 frames), in order, none twice ...
    assert len(channel.frames) == 40
    # ... and where the voice fell behind, the caller heard a pause, not a burst: never more
    # than the send lead (80 ms = 4 frames) ahead of real time.
    times = np.array([t for t, _ in channel.frames])
    for k, t in enumerate(times):
        assert (np.abs(times[: k + 1] - t) < 0.02).sum() <= 5
    assert times[19] - times[0] > 0.4  # the first sentence followed the voice's pace
    await call.end()
