from voxagent.conversation.turns import SpeechStarted, SpeechStopped, TurnDetector

WINDOW_MS = 32.0


def run(detector: TurnDetector, probabilities: list[float]) -> list[tuple[int, object]]:
    events = []
    for i, p in enumerate(probabilities):
        event = detector.update(p)
        if event is not None:
            events.append((i, event))
    return events


def test_short_blip_is_not_a_turn() -> None:
    detector = TurnDetector(WINDOW_MS, min_speech_ms=120, end_silence_ms=600)
    assert run(detector, [0.0, 0.9, 0.9, 0.0, 0.0] + [0.0] * 30) == []


def test_speech_starts_after_min_speech_and_stops_after_silence_window() -> None:
    detector = TurnDetector(WINDOW_MS, min_speech_ms=120, end_silence_ms=600)
    probabilities = [0.0] * 3 + [0.9] * 20 + [0.1] * 25
    events = run(detector, probabilities)
    assert len(events) == 2
    (i_start, start), (i_stop, stop) = events
    assert isinstance(start, SpeechStarted) and i_start == 3 + 3  # 4 windows = 128 ms
    assert start.backdate_ms == 4 * WINDOW_MS
    assert isinstance(stop, SpeechStopped)
    assert i_stop == 3 + 20 + 18  # 19 quiet windows ≥ 600 ms
    assert stop.speech_ms == 20 * WINDOW_MS


def test_a_breath_inside_a_sentence_does_not_end_the_turn() -> None:
    detector = TurnDetector(WINDOW_MS, min_speech_ms=64, end_silence_ms=600)
    probabilities = [0.9] * 10 + [0.0] * 10 + [0.9] * 10 + [0.0] * 25
    events = run(detector, probabilities)
    assert [type(e).__name__ for _, e in events] == ["SpeechStarted", "SpeechStopped"]


def test_hysteresis_keeps_a_turn_going_on_moderate_probability() -> None:
    detector = TurnDetector(WINDOW_MS, threshold=0.5, min_speech_ms=64, end_silence_ms=300)
    run(detector, [0.9] * 5)
    assert detector.speaking
    run(detector, [0.4] * 20)  # above the release level (0.35)
    assert detector.speaking


def test_run_ms_measures_continuous_speech_for_barge_in() -> None:
    detector = TurnDetector(WINDOW_MS, min_speech_ms=64, end_silence_ms=600)
    run(detector, [0.9] * 7)
    assert detector.run_ms == 7 * WINDOW_MS
    run(detector, [0.0] * 3)
    assert detector.run_ms == 0.0
