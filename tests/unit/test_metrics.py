"""The metric definitions and the dashboard's numbers, on data with known answers."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from voxagent.conversation.timeline import TurnTimeline
from voxagent.telemetry.dashboard import CallSummary, dashboard, percentile
from voxagent.telemetry.metrics import LiveReadings, Metrics

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def families(metrics: Metrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    out: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        out[family.name] = [(s.name, s.labels, s.value) for s in family.samples]
    return out


def a_turn(response_s: float, *, interrupted: bool = False) -> TurnTimeline:
    turn = TurnTimeline(index=1, kind="reply")
    turn.speech_end = 100.0
    turn.end_of_turn = 100.3
    turn.stt_final = 100.35
    turn.agent_request = 100.35
    turn.agent_first_text = 100.45
    turn.tts_request = 100.45
    turn.tts_first_audio = 100.0 + response_s - 0.01
    turn.first_audio_sent = 100.0 + response_s
    turn.providers = {"stt": "deepgram", "llm": "anthropic", "tts": "elevenlabs"}
    if interrupted:
        turn.interrupted = True
        turn.interrupted_at = turn.first_audio_sent + 1.5
        turn.barge_in_ms = 180.0  # the caller's first sound → clear
    return turn


def test_a_turn_feeds_the_stage_histograms_and_counts_providers() -> None:
    metrics = Metrics("inst-a")
    metrics.turn("media_stream", a_turn(0.62))
    metrics.turn("media_stream", a_turn(0.58, interrupted=True))
    found = families(metrics)
    stage = {
        (s[1]["stage"], s[1].get("le")): s[2]
        for s in found["voxagent_turn_stage_seconds"]
        if s[0].endswith("_bucket")
    }
    assert stage["first_audio_sent", "0.6"] == 1 and stage["first_audio_sent", "0.65"] == 2
    assert stage["stt_final", "0.35"] == 2
    requests = {s[1]["stage"]: s[2] for s in found["voxagent_provider_requests"]}
    assert requests == {"stt": 2, "llm": 2, "tts": 2}
    assert [s[2] for s in found["voxagent_barge_ins"]] == [1]
    barge = [s for s in found["voxagent_barge_in_seconds"] if s[0].endswith("_sum")]
    assert abs(barge[0][2] - 0.18) < 1e-6
    llm = [
        s for s in found["voxagent_provider_latency_seconds"]
        if s[0].endswith("_count") and s[1]["stage"] == "llm"
    ]  # fmt: skip
    assert llm[0][2] == 2 and llm[0][1]["provider"] == "anthropic"


def test_every_sample_says_its_instance_and_no_label_is_a_call_id() -> None:
    readings = LiveReadings(
        active_calls=lambda: {"media_stream": 3, "browser": 1},
        webhooks=lambda: {"received": 10, "rejected": 2, "duplicate": 1},
        socketio_events=lambda: {("in", "start"): 4, ("out", "audio"): 90},
        webrtc_peers=lambda: 2,
    )
    metrics = Metrics("inst-b", readings)
    metrics.call_ended("media_stream", "outbound", "failed: instance_lost")
    metrics.switched("tts", "elevenlabs", "piper")
    found = families(metrics)
    errors = [s for s in found["voxagent_provider_errors"] if s[0].endswith("_total")]
    assert [(s[1]["stage"], s[1]["provider"], s[2]) for s in errors] == [("tts", "elevenlabs", 1)]
    for samples in found.values():
        for _, labels, _ in samples:
            assert labels["instance"] == "inst-b"
            assert not any(v.startswith("v3:") for v in labels.values())
    active = {s[1]["channel"]: s[2] for s in found["voxagent_calls_active"]}
    assert active == {"media_stream": 3, "browser": 1}
    calls = found["voxagent_calls"]
    assert [(s[1]["outcome"], s[2]) for s in calls if s[0] == "voxagent_calls_total"] == [
        ("failed", 1)
    ]
    webhooks = {s[1]["result"]: s[2] for s in found["voxagent_webhooks"] if s[0].endswith("total")}
    assert webhooks == {"received": 10, "rejected": 2, "duplicate": 1}
    assert [s[2] for s in found["voxagent_webrtc_peers"]] == [2]
    assert any(s[2] > 0 for s in found["process_resident_memory_bytes"])


def test_client_reports_feed_their_own_histogram() -> None:
    metrics = Metrics("inst-c")
    metrics.client_report({"connect_ms": 180.0, "first_audio_heard_ms": 700.0}, underruns=2)
    found = families(metrics)
    counts = {
        s[1]["metric"]: s[2]
        for s in found["voxagent_client_timing_seconds"]
        if s[0].endswith("_count")
    }
    assert counts == {"connect": 1, "first_audio_heard": 1}
    assert all(s[1]["source"] == "client" for s in found["voxagent_client_timing_seconds"])
    assert [
        s[2] for s in found["voxagent_client_playback_underruns"] if s[0].endswith("total")
    ] == [2]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 95) == 95.0 and percentile(values, 50) == 50.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 95) == 40.0


def call(
    minutes_ago: float, lasted_s: float | None, outcome: str, *responses: float
) -> CallSummary:
    started = NOW - timedelta(minutes=minutes_ago)
    ended = started + timedelta(seconds=lasted_s) if lasted_s is not None else None
    return CallSummary(started, ended, outcome, list(responses))


def test_the_dashboard_numbers_follow_their_definitions() -> None:
    records = [
        call(10, 60, "completed", 500, 600),
        call(20, 120, "completed", 700),
        call(30, 30, "failed: instance_lost", 800),
        call(40, 0, "busy"),
        call(50, 90, "transferred", 550),
        call(5, None, "in_progress"),  # live
        call(90, 30, "completed", 9000),  # over an hour ago: ignored
    ]
    numbers = dashboard(
        now=NOW,
        active_calls=1,
        records=records,
        live_response_ms=[650.0],
        rss_mb_samples=[200.0, 210.0, 220.0],
        network_checks=4,
        network_stun_ok=3,
        provider_switches=2,
    )
    realtime, hour = numbers["realtime"], numbers["last1h"]
    # responses: 500 600 700 800 550 650 → nearest-rank p95 of six is the sixth: 800
    assert realtime["p95Latency"] == 800.0
    assert realtime["activeCalls"] == 1
    assert realtime["dropRate"] == round(1 / 5, 4)  # one of the five that ended
    assert realtime["memoryAvg"] == 210.0 and realtime["natSuccessRate"] == 0.75
    assert hour["totalCalls"] == 6
    assert hour["successRate"] == round(3 / 5, 4)  # completed ×2, transferred; not failed, busy
    assert hour["avgDuration"] == round((60 + 120 + 30 + 0 + 90) / 5, 1)
    assert hour["errorsCount"] == 1 + 2


def test_an_empty_hour_has_no_p95_and_no_rates() -> None:
    numbers = dashboard(
        now=NOW,
        active_calls=0,
        records=[],
        live_response_ms=[],
        rss_mb_samples=[],
        network_checks=0,
        network_stun_ok=0,
        provider_switches=0,
    )
    assert numbers["realtime"]["p95Latency"] is None
    assert numbers["realtime"]["natSuccessRate"] is None
    assert numbers["last1h"] == {
        "totalCalls": 0,
        "successRate": 0.0,
        "avgDuration": 0.0,
        "errorsCount": 0,
    }


def test_the_pages_reports_are_summed_over_the_window() -> None:
    from voxagent.telemetry.client_reports import ClientReports

    reports = ClientReports()
    reports.add({"connect_ms": 100.0, "token_ms": 20.0}, underruns=1, at=1000.0)
    reports.add({"connect_ms": 300.0, "first_audio_heard_ms": 700.0}, underruns=0, at=2000.0)
    reports.add({"connect_ms": 200.0, "surprise_ms": 5.0}, underruns=2, at=3000.0)
    everything = reports.figures(since=0.0)
    assert everything["connect"] == {"count": 3, "p50": 200.0, "p95": 300.0, "p99": 300.0}
    assert everything["token"]["count"] == 1 and everything["underruns"] == 3
    assert "surprise" not in everything
    recent = reports.figures(since=1500.0)
    assert recent["connect"]["count"] == 2 and recent["token"]["count"] == 0
    assert recent["first_audio_heard"]["p95"] == 700.0 and recent["underruns"] == 2


def test_several_workers_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    """Two worker processes observe a turn each; a third renders both (PROMETHEUS_MULTIPROC_DIR
    must be set before prometheus_client is imported, hence the fresh processes)."""
    worker = (
        "from voxagent.telemetry.metrics import Metrics\n"
        "from voxagent.conversation.timeline import TurnTimeline\n"
        "t = TurnTimeline(index=1, kind='reply')\n"
        "t.speech_end, t.first_audio_sent = 1.0, 1.6\n"
        "Metrics('w').turn('media_stream', t)\n"
    )
    render = (
        "import sys\n"
        "from voxagent.telemetry.metrics import Metrics\n"
        "sys.stdout.write(Metrics('box').render().decode())\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", render], env=env, check=True, timeout=60, capture_output=True
    ).stdout.decode()
    found = {f.name: f.samples for f in text_string_to_metric_families(out)}
    counts = [
        s.value
        for s in found["voxagent_turn_stage_seconds"]
        if s.name.endswith("_count") and s.labels["stage"] == "first_audio_sent"
    ]
    assert counts == [2.0] and all(
        s.labels["instance"] == "box" for s in found["voxagent_turn_stage_seconds"]
    )
