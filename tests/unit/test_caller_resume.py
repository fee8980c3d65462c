"""Where the simulated caller's script goes on when a call's media stream ends and a new one
begins (a planned hand-over, or an instance that died): the pure rule, and the turn-taking of
a caller on a resumed stream, driven with explicit times (no socket)."""

from __future__ import annotations

from typing import Any

import pytest

from voxagent.audio.g711 import codec_for
from voxagent.simulator.caller import RESUME_WAIT_S, SimulationResult, resume_line
from voxagent.simulator.caller.resume import ANSWERED_QUIET_S, PLANNED_SLACK_S
from voxagent.simulator.caller.script import _Utterance
from voxagent.simulator.caller.session import _Action, _CallSession

FRAME = b"\xff" * 160  # 20 ms of μ-law silence


def rule(last_line: int | None = 2, **ended: Any) -> int:
    how = {
        "mid_utterance": False,
        "reply_frames": 50,
        "quiet_s": 1.0,
        "unplayed_s": 0.0,
        "planned": False,
    }
    return resume_line(last_line, **{**how, **ended})


# --- the rule ---------------------------------------------------------------------------


def test_nothing_said_starts_at_the_first_line() -> None:
    assert rule(None) == 0
    assert rule(None, reply_frames=0, planned=True) == 0


def test_an_answer_that_went_quiet_moves_on_to_the_next_line() -> None:
    assert rule(2) == 3
    assert rule(2, quiet_s=ANSWERED_QUIET_S) == 3


def test_a_drop_while_the_answer_still_played_says_the_line_again() -> None:
    assert rule(2, quiet_s=0.0, unplayed_s=1.5) == 2


def test_a_drop_just_after_the_answer_stopped_playing_is_a_maybe_and_the_line_is_said_again() -> (
    None
):
    # A gap of a tenth of a second may be the pause between two sentences of one answer.
    assert rule(2, quiet_s=0.1) == 2


def test_no_answer_at_all_says_the_line_again() -> None:
    assert rule(2, reply_frames=0) == 2
    assert rule(2, reply_frames=0, planned=True) == 2


def test_cut_off_mid_sentence_says_the_line_again() -> None:
    assert rule(2, mid_utterance=True) == 2
    assert rule(2, mid_utterance=True, planned=True) == 2


def test_a_planned_stop_between_turns_moves_on_even_right_after_the_answer() -> None:
    # The server stops when its own clock says the answer has played: ours may differ a bit.
    assert rule(2, planned=True, quiet_s=0.0, unplayed_s=0.0) == 3
    assert rule(2, planned=True, quiet_s=0.0, unplayed_s=PLANNED_SLACK_S / 2) == 3


def test_a_planned_stop_mid_answer_says_the_line_again() -> None:
    assert rule(2, planned=True, quiet_s=0.0, unplayed_s=2.0) == 2


# --- a caller on a resumed stream -------------------------------------------------------


def utterance(index: int) -> _Utterance:
    return _Utterance(index, f"line {index}", [FRAME] * 10, barge_in=False)


async def session(count: int, *, resumed: bool) -> _CallSession:
    result = SimulationResult("ws://test", "PCMU", "stream", "v3:call")
    return _CallSession(
        None,  # type: ignore[arg-type]  # never touched: no frame is sent or received
        result,
        [utterance(i) for i in range(count)],
        codec_for("PCMU"),
        auth_token=None,
        pause_s=0.5,
        reply_timeout_s=10.0,
        hangup_after_s=1.0,
        max_call_s=600.0,
        recognizer=None,
        on_event=None,
        resumed=resumed,
    )


def agent_says(call: _CallSession, at: float, seconds: float) -> None:
    reply = call.replies[-1]
    for _ in range(round(seconds / 0.02)):
        call.playout.push_audio(at, FRAME, reply.index)
        reply.frames += 1


async def test_a_first_stream_waits_for_the_greeting() -> None:
    call = await session(2, resumed=False)
    assert call._decide(call.t0 + RESUME_WAIT_S + 0.1) is _Action.WAIT


async def test_a_resumed_stream_speaks_after_a_silent_hand_over() -> None:
    call = await session(2, resumed=True)
    assert call._decide(call.t0 + RESUME_WAIT_S - 0.1) is _Action.WAIT
    assert call._decide(call.t0 + RESUME_WAIT_S + 0.1) is _Action.SPEAK
    assert call.result.timeouts == 0, "silence is expected here, not a missed reply"


async def test_a_resumed_stream_lets_the_agent_finish_its_apology_first() -> None:
    call = await session(2, resumed=True)
    agent_says(call, call.t0 + 0.5, 3.0)  # plays until t0 + 3.5
    assert call._decide(call.t0 + 3.0) is _Action.WAIT
    assert call._decide(call.t0 + 3.7) is _Action.WAIT  # quiet for less than pause_s
    assert call._decide(call.t0 + 4.1) is _Action.SPEAK


@pytest.mark.parametrize("resumed", [True, False])
async def test_with_the_script_done_the_caller_hangs_up_after_quiet(resumed: bool) -> None:
    call = await session(0, resumed=resumed)
    agent_says(call, call.t0, 0.4)
    assert call._decide(call.t0 + 1.0) is _Action.WAIT
    assert call._decide(call.t0 + 1.5) is _Action.HANG_UP


async def test_a_resumed_stream_with_nothing_left_to_say_hangs_up_on_silence() -> None:
    call = await session(0, resumed=True)
    assert call._decide(call.t0 + 0.5) is _Action.WAIT
    assert call._decide(call.t0 + 1.1) is _Action.HANG_UP


async def test_resume_at_counts_in_script_lines_not_in_repeats() -> None:
    # The agent asked again after line 0, so the list holds line 0 twice: the next stream
    # must go on from line 1 (the script index), not from list position 2.
    call = await session(2, resumed=False)
    call.utterances.insert(1, utterance(0))
    now = call.t0 + 1.0
    for _ in range(2):
        call._start_utterance(now)
        while call.speaking is not None:
            now += 0.02
            call._next_frame(now)
        agent_says(call, now, 0.5)
        now += 1.0
    call._end_call(now)
    result = call.finish_result()
    assert [t.line for t in result.turns if t.speaker == "caller"] == [0, 0]
    assert result.resume_at == 1


async def test_resume_at_after_a_drop_mid_answer_is_the_same_line() -> None:
    call = await session(3, resumed=False)
    now = call.t0 + 1.0
    call._start_utterance(now)
    while call.speaking is not None:
        now += 0.02
        call._next_frame(now)
    agent_says(call, now, 2.0)
    call._end_call(now + 1.0)  # one second into a two-second answer
    result = call.finish_result()
    assert result.unplayed_at_end_s == pytest.approx(1.0, abs=0.05)
    assert result.resume_at == 0
