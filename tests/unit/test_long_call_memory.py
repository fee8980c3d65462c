"""A long call keeps no more than a short one: 20+ minutes of caller audio, fed faster than
real time through the engine with test doubles, leave the call's retained objects bounded.

What could grow with a call's length, and must not: the turn timelines, the history, the
speaker's record of played sentences and unanswered marks, the listener's held audio, the
recognizer's replay buffer, background tasks. Memory is measured with tracemalloc between the
first and the last few minutes; a leak of even one byte per caller frame would show.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fakes.engine import (
    FRAME,
    PCM_8K,
    FakeAgent,
    FakeChannel,
    ScriptedStt,
    make_parts,
    silence,
    tone,
)
from voxagent.agents.base import AgentAction, Say
from voxagent.calls.info import CallInfo
from voxagent.conversation.call import Call
from voxagent.conversation.parts import EngineConfig
from voxagent.conversation.timeline import TurnTimeline

MINUTES = 21
TURN_AUDIO_S = 2.0  # the caller speaks 0.5 s, then 1.5 s of silence (the turn ends after 0.3 s)


class ShortVoice:
    """One frame per sentence, so the agent's pacing costs little wall time."""

    name = "short"
    output_format = PCM_8K

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        yield (np.sin(np.arange(FRAME) / 4) * 3000).astype("<i2").tobytes()

    async def close(self) -> None:
        pass


class ChattyAgent(FakeAgent):
    async def greeting(self) -> AsyncGenerator[AgentAction, None]:
        yield Say("Hello.")

    async def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        yield Say(f"Noted {transcript}.")


class EndlessStt(ScriptedStt):
    """Hears a new sentence every turn, forever."""

    def __init__(self) -> None:
        super().__init__([])
        self.turn = 0

    def open_stream(self, fmt: object, on_interim: object):  # type: ignore[no-untyped-def]
        self.turn += 1
        self.texts = [f"this is turn number {self.turn}"]
        return super().open_stream(fmt, on_interim)  # type: ignore[arg-type]


class Answers:
    """Counts the agent's finished turns, so the caller waits for each answer."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    async def on_turn(self, call: Call, turn: TurnTimeline) -> None:
        self.count += 1
        self.changed.set()

    async def after(self, count: int) -> None:
        while self.count <= count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5)


async def talk_for(call: Call, answers: Answers, seconds: float) -> None:
    """Caller turns, each pushed at once (faster than real time), then wait for the answer.
    Every other turn the caller talks before the answer has played out: a barge-in."""
    turn = np.concatenate([tone(500), silence(int(TURN_AUDIO_S * 1000) - 500)])
    frames = [turn[i : i + FRAME].astype("<i2").tobytes() for i in range(0, len(turn), FRAME)]
    for index in range(int(seconds / TURN_AUDIO_S)):
        answered = answers.count
        for frame in frames:
            call.push_audio(frame)
            if call.listener._inbound.qsize() > 200:  # never drop: let the listener catch up
                await asyncio.sleep(0)
        await answers.after(answered)
        if index % 2:  # a polite turn: the answer plays out before the caller talks again
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, call.speaker.play_clock - loop.time()))


async def test_twenty_minutes_of_talk_keep_the_call_small() -> None:
    executor = ThreadPoolExecutor(1)
    channel = FakeChannel()
    config = EngineConfig(
        end_of_turn_silence_ms=300,
        min_speech_ms=64,
        send_lead_ms=200,
        no_input_timeout_s=0,
        max_call_seconds=24 * 3600,
    )
    parts = make_parts(ChattyAgent(), EndlessStt(), ShortVoice(), executor, config=config)
    answers = Answers()
    call = Call(CallInfo("long-call"), channel, parts, on_turn=answers.on_turn)
    channel.call = call
    channel.frames = _Discard()  # the test channel would keep every frame otherwise
    call.start()
    await answers.after(0)  # the greeting
    try:
        await talk_for(call, answers, 60)  # warm-up: caches, first allocations
        gc.collect()
        tracemalloc.start()
        early, _ = tracemalloc.get_traced_memory()
        tasks_early = len(asyncio.all_tasks())
        await talk_for(call, answers, (MINUTES - 1) * 60)
        gc.collect()
        late, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tasks_late = len(asyncio.all_tasks())
    finally:
        await call.end()
        executor.shutdown()

    turns_taken = call.counters.turns
    assert turns_taken >= MINUTES * 60 / TURN_AUDIO_S * 0.95, "the caller was answered every turn"
    assert call.counters.dropped_frames == 0
    assert turns_taken * 0.3 < call.counters.barge_ins < turns_taken * 0.7
    # Everything kept per call is capped, whatever the call's length.
    assert len(call.turns) == config.max_turns_kept
    assert len(call.history) == config.max_history_messages
    assert call.speaker._played == [] and len(call.speaker._unacked) <= 2
    assert call.listener._held == [] and call.listener.stream is None
    assert tasks_late <= tasks_early + 2
    # 20 minutes of caller audio is 19 MB at 8 kHz 16-bit: keeping even a tenth would show.
    assert late - early < 1_000_000, f"grew {late - early} bytes over {MINUTES - 1} minutes"


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: object) -> None:
        pass
