import pytest

from voxagent.conversation.history import History
from voxagent.conversation.timeline import TurnTimeline


def test_latencies_are_relative_to_the_end_of_speech() -> None:
    turn = TurnTimeline(index=1, started_at=99.0)
    turn.mark("speech_end", 100.0)
    turn.mark("stt_final", 100.25)
    turn.mark("agent_first_text", 100.3)
    turn.mark("tts_first_audio", 100.5)
    turn.mark("first_audio_sent", 100.52)
    turn.mark("first_audio_sent", 101.0)  # a repeat keeps the first time
    assert turn.response_ms == pytest.approx(520.0)
    lat = turn.latencies()
    assert lat["stt_final_ms"] == pytest.approx(250.0)
    assert lat["interrupted_at_ms"] is None


def test_greeting_is_measured_from_the_turn_start() -> None:
    turn = TurnTimeline(index=0, started_at=10.0)
    turn.mark("first_audio_sent", 10.4)
    assert turn.response_ms == pytest.approx(400.0)


def test_unknown_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown timeline mark"):
        TurnTimeline(index=0).mark("speech_begin")


def test_history_is_capped_at_the_newest_messages() -> None:
    history = History(max_messages=50)
    for i in range(60):
        history.add_user(f"u{i}")
        history.add_assistant(f"a{i}")
    messages = list(history)
    assert len(messages) == 50
    assert messages[0].text == "u35"
    assert messages[-1].text == "a59"


def test_empty_assistant_text_is_not_recorded() -> None:
    history = History()
    history.add_assistant("")
    assert len(history) == 0
