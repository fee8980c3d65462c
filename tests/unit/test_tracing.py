"""A finished turn becomes one OpenTelemetry span with a child per stage, timed by its marks;
with no OTLP endpoint configured voxagent imports neither the tracing SDK nor an exporter.
(redis-py imports the OpenTelemetry metrics API on its own when it is installed.)"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voxagent.calls.lifecycle import CallLifecycle
from voxagent.conversation.timeline import TurnTimeline
from voxagent.telemetry.stats import ServerStats
from voxagent.telemetry.tracing import TURN_SPAN, TurnTracer, build_tracer

MS = 1_000_000  # ns


@pytest.fixture
def exported() -> Iterator[tuple[TurnTracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield TurnTracer(provider), exporter
    provider.shutdown()


def a_reply(base: float) -> TurnTimeline:
    turn = TurnTimeline(index=3, kind="reply", user_text="my card is 4111", started_at=base + 0.25)
    turn.speech_end = base
    turn.end_of_turn = base + 0.3
    turn.stt_final = base + 0.35
    turn.agent_request = base + 0.36
    turn.agent_first_text = base + 0.5
    turn.tts_request = base + 0.51
    turn.tts_first_audio = base + 0.6
    turn.first_audio_sent = base + 0.62
    turn.providers = {"stt": "deepgram", "llm": "anthropic", "tts": "elevenlabs"}
    return turn


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def test_a_turn_is_a_span_with_one_child_per_stage_in_order(
    exported: tuple[TurnTracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = exported
    base = time.monotonic() - 2.0
    before = time.time_ns()
    tracer.turn("v3:call-7", "media_stream", a_reply(base))
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names.count(TURN_SPAN) == 1 and len(spans) == 6
    found = by_name(spans)
    root = found[TURN_SPAN]
    children = sorted((s for s in spans if s is not root), key=lambda s: s.start_time or 0)
    assert [c.name for c in children] == [
        "voxagent.end_of_turn",
        "voxagent.stt",
        "voxagent.agent",
        "voxagent.tts",
        "voxagent.first_audio",
    ]
    assert root.parent is None
    for child in children:
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
    assert root.start_time is not None and root.end_time is not None
    # Wall-clock time: the caller stopped speaking about 2 s before the turn was reported.
    assert before - 2_200 * MS < root.start_time < before - 1_800 * MS
    assert root.end_time - root.start_time == pytest.approx(620 * MS, abs=1000)
    expected = {  # (ms after the end of speech, duration in ms)
        "voxagent.end_of_turn": (0, 300),
        "voxagent.stt": (300, 50),
        "voxagent.agent": (360, 140),
        "voxagent.tts": (510, 90),
        "voxagent.first_audio": (600, 20),
    }
    for child in children:
        assert child.start_time is not None and child.end_time is not None
        offset, duration = expected[child.name]
        assert child.start_time - root.start_time == pytest.approx(offset * MS, abs=1000)
        assert child.end_time - child.start_time == pytest.approx(duration * MS, abs=1000)
        assert root.start_time <= child.start_time <= child.end_time <= root.end_time
    attributes: dict[str, Any] = dict(root.attributes or {})
    assert attributes == {
        "voxagent.call_id": "v3:call-7",
        "voxagent.channel": "media_stream",
        "voxagent.turn.index": 3,
        "voxagent.turn.kind": "reply",
        "voxagent.turn.interrupted": False,
        "voxagent.turn.speculative": False,
        "voxagent.provider.stt": "deepgram",
        "voxagent.provider.llm": "anthropic",
        "voxagent.provider.tts": "elevenlabs",
        "voxagent.response_ms": 620.0,
    }, "no transcript text in a span"
    providers = {c.name: (c.attributes or {}).get("voxagent.provider") for c in children}
    assert providers == {
        "voxagent.end_of_turn": None,
        "voxagent.stt": "deepgram",
        "voxagent.agent": "anthropic",
        "voxagent.tts": "elevenlabs",
        "voxagent.first_audio": None,
    }
    assert all((c.attributes or {})["voxagent.call_id"] == "v3:call-7" for c in children)


def test_a_greeting_has_only_the_stages_it_went_through_and_a_barge_in_ends_the_turn(
    exported: tuple[TurnTracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = exported
    base = time.monotonic()
    greeting = TurnTimeline(index=0, kind="greeting", started_at=base)
    greeting.agent_request = base + 0.01
    greeting.agent_first_text = base + 0.02
    greeting.tts_request = base + 0.02
    greeting.tts_first_audio = base + 0.2
    greeting.first_audio_sent = base + 0.21
    greeting.interrupted = True
    greeting.interrupted_at = base + 1.5
    tracer.turn("call-g", "browser", greeting)
    found = by_name(exporter.get_finished_spans())
    assert set(found) == {
        TURN_SPAN,
        "voxagent.agent",
        "voxagent.tts",
        "voxagent.first_audio",
    }
    root = found[TURN_SPAN]
    assert root.start_time is not None and root.end_time is not None
    assert root.end_time - root.start_time == pytest.approx(1500 * MS, abs=1000)
    assert (root.attributes or {})["voxagent.turn.interrupted"] is True
    assert (root.attributes or {})["voxagent.turn.kind"] == "greeting"


def test_a_broken_tracer_never_costs_the_turn(
    exported: tuple[TurnTracer, InMemorySpanExporter],
) -> None:
    tracer, _ = exported
    tracer.turn("call-x", "browser", object())  # type: ignore[arg-type]


async def test_the_lifecycle_traces_each_turn_with_its_call() -> None:
    class Conversation:
        call_id = "call-l"
        info = type("Info", (), {"channel": "browser"})()

    traced: list[tuple[str, str, int]] = []

    class Tracer:
        def turn(self, call_id: str, channel: str, turn: TurnTimeline) -> None:
            traced.append((call_id, channel, turn.index))

    calls = CallLifecycle(None, None, None, ServerStats())  # type: ignore[arg-type]
    calls.tracer = Tracer()  # type: ignore[assignment]
    await calls.on_turn(Conversation(), a_reply(time.monotonic()))  # type: ignore[arg-type]
    assert traced == [("call-l", "browser", 3)]


def test_without_an_endpoint_there_is_no_tracer_and_no_opentelemetry() -> None:
    assert build_tracer("inst", {}) is None
    assert build_tracer("inst", {"OTEL_EXPORTER_OTLP_ENDPOINT": " "}) is None
    assert (
        build_tracer(
            "inst", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "true"}
        )
        is None
    )
    code = (
        "import sys, os\n"
        "os.environ.pop('OTEL_EXPORTER_OTLP_ENDPOINT', None)\n"
        "os.environ.pop('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', None)\n"
        "from voxagent.telemetry.tracing import build_tracer\n"
        "import voxagent.calls.lifecycle\n"
        "assert build_tracer('inst') is None\n"
        "ours = ('opentelemetry.sdk.trace', 'opentelemetry.exporter')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(ours))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_with_an_endpoint_the_tracer_batches_to_otlp_http() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer = build_tracer("inst-9", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert tracer is not None
    try:
        resource = tracer.provider.resource.attributes
        assert resource["service.instance.id"] == "inst-9"
        assert resource["service.name"]
        processors = tracer.provider._active_span_processor._span_processors
        assert [type(p) for p in processors] == [BatchSpanProcessor]
        assert isinstance(processors[0]._batch_processor._exporter, OTLPSpanExporter)
    finally:
        tracer.provider.shutdown()
