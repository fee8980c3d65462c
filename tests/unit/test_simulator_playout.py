"""The simulated caller's pure parts: Telnyx's playout buffer, the send clock, the slicing.

The playout model decides when marks are echoed and what the caller "heard", so the
end-to-end latency and barge-in numbers are only as right as these rules.
"""

from __future__ import annotations

import numpy as np
import pytest

from voxagent.audio.g711 import codec_for
from voxagent.simulator.caller import (
    FrameClock,
    Playout,
    SimulationResult,
    Turn,
    line_noise_frames,
    measure_barge_in,
    percentile,
    split_frames,
    trim_silence,
)

SECOND = b"\xff" * 8000  # one second of μ-law at 8 kHz
FRAME = b"\xff" * 160  # 20 ms


# --- playout: marks ------------------------------------------------------------------


def test_mark_with_nothing_queued_is_echoed_at_once() -> None:
    playout = Playout()
    assert playout.push_mark(10.0, "m1") == ["m1"]
    assert playout.pending_marks == 0


def test_mark_is_echoed_when_the_audio_before_it_has_played() -> None:
    playout = Playout()
    playout.push_audio(10.0, SECOND)
    assert playout.push_mark(10.0, "m1") == []
    assert playout.next_mark_at() == pytest.approx(11.0)
    assert playout.due_marks(10.99) == []
    assert playout.due_marks(11.0) == ["m1"]
    assert playout.due_marks(12.0) == []


def test_audio_queues_behind_audio_still_playing() -> None:
    playout = Playout()
    assert playout.push_audio(0.0, SECOND) == 0.0
    assert playout.push_audio(0.5, SECOND) == pytest.approx(1.0)  # starts when the first ends
    assert playout.busy_until == pytest.approx(2.0)
    assert playout.push_audio(3.0, FRAME) == 3.0  # after a gap, plays on arrival


def test_marks_keep_their_order_and_positions() -> None:
    playout = Playout()
    playout.push_audio(0.0, SECOND)
    playout.push_mark(0.0, "a")
    playout.push_audio(0.1, SECOND)
    playout.push_mark(0.1, "b")
    assert playout.due_marks(1.5) == ["a"]
    assert playout.due_marks(2.0) == ["b"]


def test_mark_after_playback_ended_but_before_echoes_were_sent_stays_in_order() -> None:
    playout = Playout()
    playout.push_audio(0.0, FRAME)
    playout.push_mark(0.0, "a")  # due at 0.02, not popped yet
    assert playout.push_mark(0.05, "b") == []  # must not overtake "a"
    assert playout.due_marks(0.05) == ["a", "b"]


# --- playout: clear ------------------------------------------------------------------


def test_clear_drops_queued_audio_and_returns_pending_marks() -> None:
    playout = Playout()
    playout.push_audio(0.0, SECOND, tag=1)
    playout.push_mark(0.0, "a")
    playout.push_audio(0.0, SECOND, tag=1)
    playout.push_mark(0.0, "b")
    cleared = playout.clear(0.25)
    assert cleared.marks == ("a", "b")
    assert cleared.dropped_s == pytest.approx(1.75)
    assert cleared.tags == frozenset({1})
    assert playout.pending_marks == 0
    assert playout.is_idle(0.25)
    # Only the first quarter second was heard.
    heard = playout.played(tag=1)
    assert [(start, len(p)) for start, p in heard] == [(0.0, 2000)]
    assert playout.tag_end(1) == pytest.approx(0.25)


def test_clear_when_idle_drops_nothing() -> None:
    playout = Playout()
    playout.push_audio(0.0, FRAME, tag=0)
    cleared = playout.clear(5.0)
    assert cleared.marks == ()
    assert cleared.dropped_s == 0.0
    assert cleared.tags == frozenset()
    assert playout.tag_end(0) == pytest.approx(0.02)


def test_audio_after_clear_plays_at_once() -> None:
    playout = Playout()
    playout.push_audio(0.0, SECOND)
    playout.clear(0.5)
    assert playout.push_audio(0.6, FRAME) == 0.6
    assert playout.push_mark(0.6, "m") == []
    assert playout.due_marks(0.62) == ["m"]


def test_clear_only_marks_the_replies_it_cut() -> None:
    playout = Playout()
    playout.push_audio(0.0, FRAME, tag=0)  # finished long ago
    playout.push_audio(1.0, SECOND, tag=1)
    cleared = playout.clear(1.5)
    assert cleared.tags == frozenset({1})
    assert playout.tag_start(1) == 1.0


# --- playout: idle detection and what was heard ------------------------------------------


def test_idle_detection() -> None:
    playout = Playout()
    assert playout.is_idle(0.0)
    assert playout.idle_for(0.0) == float("inf")  # never played anything
    playout.push_audio(1.0, SECOND)
    assert not playout.is_idle(1.5)
    assert playout.idle_for(1.5) == 0.0
    assert playout.is_idle(2.0)
    assert playout.idle_for(2.9) == pytest.approx(0.9)


def test_played_audio_is_cut_at_until_and_filtered_by_tag() -> None:
    playout = Playout()
    playout.push_audio(0.0, b"\x01" * 800, tag=0)  # 0.0–0.1
    playout.push_audio(0.0, b"\x02" * 800, tag=1)  # 0.1–0.2
    assert [len(p) for _, p in playout.played()] == [800, 800]
    assert [len(p) for _, p in playout.played(until=0.15)] == [800, 400]
    assert playout.played(tag=1, until=0.1) == []
    [(start, payload)] = playout.played(tag=1)
    assert start == pytest.approx(0.1) and payload == b"\x02" * 800


# --- pacing and framing ----------------------------------------------------------------


def test_frame_clock_schedules_against_absolute_deadlines() -> None:
    clock = FrameClock(100.0)
    assert clock.take(99.999) == []
    assert clock.take(100.0) == [100.0]
    assert clock.take(100.0) == []
    assert clock.next_deadline == pytest.approx(100.02)
    # Waking late does not shift later deadlines (no drift).
    assert clock.take(100.027) == [pytest.approx(100.02)]
    assert clock.next_deadline == pytest.approx(100.04)
    assert clock.take(100.039) == []
    deadline = clock.next_deadline
    assert clock.take(deadline) == [deadline]  # due exactly at its deadline despite float error


def test_frame_clock_catches_up_a_short_stall_in_one_burst() -> None:
    clock = FrameClock(0.0)
    clock.take(0.0)
    assert len(clock.take(0.065)) == 3  # frames due at 0.02, 0.04, 0.06
    assert clock.slipped == 0


def test_frame_clock_skips_ahead_after_a_long_stall() -> None:
    clock = FrameClock(0.0, max_burst=5)
    clock.take(0.0)
    times = clock.take(1.0)  # 50 frames due
    assert len(times) == 5
    assert clock.slipped == 45
    assert times[-1] == pytest.approx(1.0)
    assert clock.take(1.01) == []
    assert clock.take(1.02) == [pytest.approx(1.02)]


def test_split_frames_pads_the_last_frame() -> None:
    frames = split_frames(b"\x01" * 400, 160, pad=0xFF)
    assert [len(f) for f in frames] == [160, 160, 160]
    assert frames[2] == b"\x01" * 80 + b"\xff" * 80
    assert split_frames(b"", 160) == []


def test_line_noise_is_quiet_g711() -> None:
    for name in ("PCMU", "PCMA"):
        codec = codec_for(name)
        frames = line_noise_frames(codec, 10, rng=np.random.default_rng(1))
        assert len(frames) == 10 and all(len(f) == 160 for f in frames)
        pcm = codec.decode(b"".join(frames))
        assert 0 < int(np.abs(pcm.astype(np.int32)).max()) <= 16


def test_trim_silence_keeps_a_margin() -> None:
    pcm = np.zeros(1000, dtype=np.int16)
    pcm[400:600] = 10000
    trimmed = trim_silence(pcm, 1000, margin_s=0.01)
    assert len(trimmed) == 220
    assert len(trim_silence(np.zeros(10, dtype=np.int16), 1000)) == 0


# --- measurements and reporting --------------------------------------------------------


def test_barge_in_measurement_when_the_agent_stops() -> None:
    result = measure_barge_in(
        utterance=1,
        speech_start=10.0,
        speech_end=11.5,
        overlapped=True,
        clear_times=[10.3],
        media_times=[9.9, 10.0, 10.1, 10.2, 12.0],  # 12.0 is the next reply
        heard_until=10.3,
    )
    assert result.clear_received
    assert result.clear_ms == pytest.approx(300)
    assert result.last_audio_ms == pytest.approx(200)
    assert result.heard_ms == pytest.approx(300)
    assert result.agent_audio_stopped


def test_barge_in_measurement_when_the_agent_keeps_talking() -> None:
    result = measure_barge_in(
        utterance=1,
        speech_start=10.0,
        speech_end=11.5,
        overlapped=True,
        clear_times=[],
        media_times=[10.0, 10.5, 11.0],
        heard_until=11.2,
    )
    assert not result.clear_received
    assert result.clear_ms is None
    assert not result.agent_audio_stopped
    assert result.last_audio_ms == pytest.approx(1000)

    late = measure_barge_in(
        utterance=1,
        speech_start=10.0,
        speech_end=11.5,
        overlapped=True,
        clear_times=[10.3],
        media_times=[10.5],  # sent after the clear
        heard_until=11.0,
    )
    assert late.clear_received and not late.agent_audio_stopped


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([float(i) for i in range(101)], 95) == pytest.approx(95.0)


def test_dialogue_lists_turns_and_latency() -> None:
    result = SimulationResult(
        url="ws://x", encoding="PCMU", stream_id="S", call_control_id="v3:C", hung_up_by="agent"
    )
    result.turns = [
        Turn("agent", "hello how can i help", response_ms=400.0),
        Turn("caller", "book a visit"),
        Turn("agent", "sure", response_ms=812.0, interrupted=True),
        Turn("caller", "goodbye"),
        Turn("agent", "", timed_out=True),
    ]
    result.greeting_ms = 400.0
    result.unplayed_at_end_s = 1.5
    text = result.format_dialogue()
    assert "caller: book a visit" in text
    assert "agent: sure (response 812 ms, interrupted)" in text
    assert "agent: (no reply)" in text
    assert result.response_times_ms == [812.0]  # the greeting is reported separately
    assert "greeting 400 ms" in text and "p50 812 ms" in text
    assert "1.5 s of agent audio still queued" in text
    assert "hung up by agent" in text


def test_wav_has_caller_left_and_agent_right(tmp_path: object) -> None:
    from pathlib import Path

    from voxagent.audio.wav import read_wav

    codec = codec_for("PCMU")
    loud = codec.encode(np.full(160, 8000, dtype=np.int16))
    result = SimulationResult(url="ws://x", encoding="PCMU", stream_id="S", call_control_id="C")
    result.caller_audio = [(0.0, loud)]
    result.agent_audio = [(0.04, loud)]
    path = Path(str(tmp_path)) / "call.wav"
    result.write_wav(path)
    pcm, rate = read_wav(path)
    assert rate == 8000 and pcm.shape == (480, 2)
    assert np.all(pcm[:160, 0] > 7000) and np.all(pcm[:320, 1] == 0)
    assert np.all(pcm[320:, 1] > 7000) and np.all(pcm[160:, 0] == 0)


async def test_recognizer_child_process_round_trip() -> None:
    """The PocketSphinx child answers one line per request and exits when closed."""
    from voxagent.simulator.caller.recognizer import _borrow_recognizer

    codec = codec_for("PCMA")
    async with _borrow_recognizer() as recognizer:
        await recognizer.start()
        silence = bytes([codec.silence_byte]) * 8000
        assert await recognizer.recognize(codec, silence) == ""
        assert await recognizer.recognize(codec, silence) == ""  # still in step
    assert recognizer._proc is None


def test_the_simulated_caller_knows_when_it_is_asked_again() -> None:
    from voxagent.simulator.caller.session import asks_again

    for heard in (
        "sorry i didn't catch that what time on monday",
        "what time on monday december seven works for you",
        "please say yes or no",
        "what day would you like to come in",
    ):
        assert asks_again(heard), heard
    for heard in (
        "what is the reason for charlie's visit",
        "what day and time would you like to bring charlie in",
        "shall i book it",
        "",
    ):
        assert not asks_again(heard), heard
