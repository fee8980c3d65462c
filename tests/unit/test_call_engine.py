"""The conversation engine with in-memory parts: real timing, no models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fakes.engine import (
    PCM_8K,
    RATE,
    EchoAgent,
    FakeChannel,
    ScriptedStream,
    ScriptedStt,
    ToneTts,
    make_parts,
    silence,
    speak,
    tone,
    wait_for,
)
from fakes.engine import make_call as build_call
from voxagent.audio.format import AudioFormat
from voxagent.conversation.call import Call, CallState
from voxagent.conversation.parts import EngineConfig, EngineLines


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown()


CONFIG = EngineConfig(end_of_turn_silence_ms=300, min_speech_ms=64, barge_in_min_ms=200)


def make_call(
    texts: list[str], executor: ThreadPoolExecutor, config: EngineConfig = CONFIG
) -> tuple[Call, FakeChannel, EchoAgent]:
    channel = FakeChannel()
    agent = EchoAgent()
    parts = make_parts(agent, ScriptedStt(texts), ToneTts(), executor, config=config)
    return build_call("call-1", channel, parts), channel, agent


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
    assert call.counters.barge_ins == 1
    interrupted = [m for m in call.history if m.interrupted]
    assert len(interrupted) == 1
    heard = interrupted[0].text
    assert heard.startswith("You said tell me everything.")
    assert len(heard.split()) < 60, "only the part played before the interruption"
    assert agent.heard == [heard]
    assert call.turns[1].interrupted and call.turns[1].interrupted_at is not None
    barge_in_ms = call.turns[1].barge_in_ms  # from the first interrupting sound: ≥ 200 ms of it
    assert barge_in_ms is not None and 200 <= barge_in_ms < 200 + 500, barge_in_ms
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
    assert call.counters.reprompts == 0
    await call.end()


async def test_speech_without_words_gets_a_request_to_repeat(executor: ThreadPoolExecutor) -> None:
    lines = EngineLines(say_again="Sorry, say that again?")
    channel = FakeChannel()
    parts = make_parts(EchoAgent(), ScriptedStt([""]), ToneTts(), executor, config=CONFIG)
    parts.lines = lines
    call = build_call("call-r", channel, parts)
    call.start()
    await wait_for(lambda: call.state == CallState.LISTENING and len(channel.marks) == 2)
    await speak(call, np.concatenate([tone(800), silence(400)]))
    await wait_for(lambda: len(call.turns) == 2 and call.turns[1].first_audio_sent is not None)
    assert call.turns[1].kind == "reprompt"
    assert call.counters.reprompts == 1
    assert [m.text for m in call.history][-1] == "Sorry, say that again?"
    await call.end()


async def test_silence_after_the_agent_gets_a_prompt_then_a_goodbye(
    executor: ThreadPoolExecutor,
) -> None:
    config = EngineConfig(end_of_turn_silence_ms=300, min_speech_ms=64, no_input_timeout_s=0.3)
    call, channel, _ = make_call([], executor, config)
    call.start()
    await asyncio.wait_for(call.wait(), 5)
    kinds = [t.kind for t in call.turns]
    assert kinds == ["greeting", "no_input", "no_input"]
    assert call.counters.no_input_prompts == 2
    assert [m.text for m in call.history][1:] == [
        EngineLines().still_there,
        EngineLines().no_input_goodbye,
    ]
    assert channel.hung_up == "no_input" and call.outcome == "no_input"


async def test_the_caller_speaking_resets_the_silence_prompts(executor: ThreadPoolExecutor) -> None:
    config = EngineConfig(end_of_turn_silence_ms=300, min_speech_ms=64, no_input_timeout_s=0.6)
    call, _, _ = make_call(["hi"], executor, config)
    call.start()
    await wait_for(lambda: call.counters.no_input_prompts == 1, 5)
    await wait_for(lambda: call.state == CallState.LISTENING, 5)
    await speak(call, np.concatenate([tone(300), silence(400)]))
    await wait_for(lambda: call.turns[-1].kind == "reply", 5)
    await asyncio.sleep(0.4)  # shorter than the timeout after the reply: no new prompt yet
    assert call.counters.no_input_prompts == 1
    assert not call.ended
    await call.end()


async def test_audio_after_the_end_is_ignored(executor: ThreadPoolExecutor) -> None:
    call, _, _ = make_call([], executor)
    call.start()
    await call.end("caller_hangup")
    call.push_audio(tone(20).tobytes())
    assert call.state == CallState.ENDED
    assert call.outcome == "caller_hangup"


class InterimStt(ScriptedStt):
    """Says the final text as an interim once some audio arrived, like a streaming recognizer."""

    def open_stream(self, fmt: AudioFormat, on_interim: object) -> ScriptedStream:
        stream = super().open_stream(fmt, on_interim)
        original = stream.feed

        def feed(audio: bytes) -> None:
            original(audio)
            if stream.fed >= RATE // 5:
                on_interim(stream.text)  # type: ignore[operator]

        stream.feed = feed  # type: ignore[method-assign]
        return stream


class PrefetchingAgent(EchoAgent):
    can_prefetch = True

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
    config = EngineConfig(
        end_of_turn_silence_ms=500,
        min_speech_ms=64,
        speculative=speculative,
        speculation_stable_ms=150,
    )
    parts = make_parts(agent, InterimStt(["book a visit"]), ToneTts(), executor, config=config)
    call = build_call("call-s", channel, parts)
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
    output_format = PCM_8K

    def __init__(self) -> None:
        self.finished_at: list[float] = []

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        for _ in range(4):
            await asyncio.sleep(0.15)
            yield (np.sin(np.arange(RATE // 10) / 5) * 3000).astype("<i2").tobytes()
        self.finished_at.append(time.monotonic())

    async def close(self) -> None:
        pass


async def test_a_streaming_voice_is_played_from_its_first_chunk(
    executor: ThreadPoolExecutor,
) -> None:
    channel = FakeChannel()
    tts = TricklingTts()
    call = build_call("call-t", channel, make_parts(EchoAgent(), ScriptedStt([]), tts, executor))
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
