"""The echo gate learns how loud the agent comes back through the microphone."""

from __future__ import annotations

import pytest

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
    play(gate, 0.0, 3.0, level=-15.0)
    now = 0.1
    for _ in range(MIN_SAMPLES * 3):  # the microphone hears the agent 25 dB down
        gate.floor(-40.0, now=now)
        now += 0.032
    assert gate.coupling_db == pytest.approx(-25.0)
    floor = gate.floor(-40.0, now=now)
    assert floor == pytest.approx(-15.0 - 25.0 + 6.0)
    person = -20.0  # a person talking normally, 5 dB under the agent's full-scale voice
    assert person > floor


def test_a_loud_echo_keeps_the_gate_high() -> None:
    gate = EchoGate(6.0)
    play(gate, 0.0, 3.0, level=-15.0)
    now = 0.1
    for _ in range(MIN_SAMPLES * 3):  # laptop speakers at full volume: the echo at -3 dB
        gate.floor(-18.0, now=now)
        now += 0.032
    floor = gate.floor(-18.0, now=now)
    assert floor is not None and floor > -18.0, "its own echo cannot pass"
    assert floor < -8.0, "someone clearly louder than the echo still can"


def test_a_moment_of_talking_over_barely_moves_the_learnt_coupling() -> None:
    gate = EchoGate(6.0)
    play(gate, 0.0, 5.0, level=-15.0)
    now = 0.1
    for _ in range(40):
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
