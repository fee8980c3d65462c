"""The echo gate learns how loud the agent comes back through the microphone."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxagent.conversation.echo import MIN_SAMPLES, EchoGate


def play(gate: EchoGate, start: float, seconds: float, level: float = -15.0) -> None:
    for i in range(int(seconds / 0.02)):
        gate.played(start + i * 0.02, level)


def test_silence_from_the_agent_means_no_gate() -> None:
    gate = EchoGate(6.0)
    assert gate.floor(-60.0, now=1.0) is None
    play(gate, 1.0, 0.5)
    assert gate.floor(-60.0, now=3.0) is None, "the agent stopped 1.5 s ago"


def test_until_it_has_heard_enough_it_assumes_the_echo_is_as_loud_as_the_agent() -> None:
    gate = EchoGate(6.0)
    play(gate, 0.0, 2.0, level=-15.0)
    assert gate.floor(-50.0, now=0.1) == pytest.approx(-15.0 + 0.0 + 6.0)


def test_a_quiet_echo_is_learnt_and_a_person_gets_through() -> None:
    gate = EchoGate(6.0)
    play(gate, 0.0, 6.0, level=-15.0)
    now = 0.1
    for _ in range(MIN_SAMPLES * 5):  # the microphone hears the agent 25 dB down
        gate.floor(-40.0, now=now)
        now += 0.032
    assert gate.coupling_db == pytest.approx(-25.0)
    floor = gate.floor(-40.0, now=now)
    assert floor == pytest.approx(-15.0 - 25.0 + 6.0)
    person = -20.0  # a person talking normally, 5 dB under the agent's full-scale voice
    assert person > floor


def test_a_loud_echo_keeps_the_gate_high() -> None:
    gate = EchoGate(6.0)
    play(gate, 0.0, 6.0, level=-15.0)
    now = 0.1
    for _ in range(MIN_SAMPLES * 5):  # laptop speakers at full volume: the echo at -3 dB
        gate.floor(-18.0, now=now)
        now += 0.032
    floor = gate.floor(-18.0, now=now)
    assert floor is not None and floor > -18.0, "its own echo cannot pass"
    assert floor < -8.0, "someone clearly louder than the echo still can"


def test_a_moment_of_talking_over_barely_moves_the_learnt_coupling() -> None:
    gate = EchoGate(6.0)
    play(gate, 0.0, 6.0, level=-15.0)
    now = 0.1
    for _ in range(MIN_SAMPLES * 5):
        gate.floor(-40.0, now=now)
        now += 0.032
    before = gate.coupling_db
    for _ in range(8):  # 250 ms of a person talking at -10 dBFS
        gate.floor(-10.0, now=now)
        now += 0.032
    assert gate.coupling_db == before


def test_a_barge_in_forgets_what_was_queued_to_play() -> None:
    gate = EchoGate(6.0)
    play(gate, 0.0, 3.0)
    gate.reset()
    assert gate.floor(-50.0, now=0.5) is None


def speech_like(rng: random.Random, seconds: float) -> list[float]:
    """20 ms levels of a voice: syllables near full level, dips between them."""
    levels: list[float] = []
    while len(levels) * 0.02 < seconds:
        levels += [rng.uniform(-22.0, -13.0)] * rng.randint(4, 12)  # a syllable
        levels += [rng.uniform(-48.0, -30.0)] * rng.randint(1, 4)  # the gap after it
    return levels


def echo_of(levels: list[float], t: float, delay: float, coupling: float) -> float:
    """What a 32 ms microphone window ending at ``t`` hears of the agent ``delay`` late."""
    first, last = int((t - delay - 0.032) / 0.02), int((t - delay) / 0.02)
    heard = [levels[i] for i in range(max(0, first), last + 1) if i < len(levels)]
    return max(heard, default=-90.0) + coupling


@settings(max_examples=400, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    delay=st.floats(0.0, 0.45),
    coupling=st.floats(-30.0, 0.0),
    jitter=st.floats(0.0, 0.05),
)
def test_a_voice_coming_back_at_any_delay_never_passes_long_enough_to_interrupt(
    seed: int, delay: float, coupling: float, jitter: float
) -> None:
    """The agent's real voice rises and falls; its echo, however late and loud (up to the
    level it was played at), must not get 200 ms (7 windows) of speech through the gate."""
    rng = random.Random(seed)
    gate = EchoGate(6.0)
    levels = speech_like(rng, 8.0)
    for i, level in enumerate(levels):
        gate.played(i * 0.02, level)
    run = longest = 0
    t = 0.032
    while t < 8.0:
        late = delay + rng.uniform(-jitter, jitter)
        mic = echo_of(levels, t, max(0.0, late), coupling) + rng.uniform(-1.0, 1.0)
        floor = gate.floor(mic, now=t)
        passed = floor is not None and mic >= floor
        run = run + 1 if passed else 0
        longest = max(longest, run)
        t += 0.032
    assert longest < 7


def test_a_person_talking_over_a_loud_echo_gets_through_at_once() -> None:
    rng = random.Random(7)
    gate = EchoGate(6.0)
    levels = speech_like(rng, 6.0)
    for i, level in enumerate(levels):
        gate.played(i * 0.02, level)
    t = 0.032
    while t < 4.0:  # laptop speakers: the echo 6 dB down, 120 ms late
        gate.floor(echo_of(levels, t, 0.12, -6.0), now=t)
        t += 0.032
    passed = 0
    for _ in range(7):  # then a person close to the microphone
        floor = gate.floor(-5.0, now=t)
        passed += floor is not None and floor <= -5.0
        t += 0.032
    assert passed == 7
