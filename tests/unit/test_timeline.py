"""Turn timelines: what each number counts from."""

from __future__ import annotations

from voxagent.conversation.timeline import TurnTimeline


def test_provider_times_count_from_their_own_request() -> None:
    turn = TurnTimeline(index=1, speech_end=10.0)
    for name, at in (
        ("end_of_turn", 10.6),
        ("stt_final", 10.7),
        ("agent_request", 10.7),
        ("agent_first_text", 11.1),
        ("tts_request", 11.1),
        ("tts_first_audio", 11.25),
        ("first_audio_sent", 11.26),
    ):
        turn.mark(name, at)
    turn.providers.update(stt="deepgram", llm="anthropic", tts="elevenlabs")
    record = turn.as_record()
    # From the caller's end of speech ...
    assert record["tts_first_audio_ms"] == 1250.0 and record["first_audio_sent_ms"] == 1260.0
    # ... and each provider's own share, which must not overwrite those.
    assert record["stt_final_after_turn_ms"] == 100.0
    assert record["llm_ttft_ms"] == 400.0
    assert record["tts_ttfb_ms"] == 150.0
    assert record["providers"] == {"stt": "deepgram", "llm": "anthropic", "tts": "elevenlabs"}
