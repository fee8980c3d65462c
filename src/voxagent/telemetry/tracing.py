"""OpenTelemetry traces of every turn, opt-in: on only when ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, with the ``otel`` extra installed.

Nothing is traced while a turn runs: when it has finished, its
:class:`~voxagent.conversation.timeline.TurnTimeline` marks become one ``voxagent.turn`` span
with a child span per stage (end of turn, STT, agent, TTS, first audio), timed by the marks.
The marks are ``time.monotonic()`` seconds; each turn's are converted to wall-clock
nanoseconds with one offset taken when the turn is reported, so the spans keep the marks'
exact distances. Spans leave through a batch processor (a background thread) to the OTLP/HTTP
exporter, which reads the standard ``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers,
timeout); ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` name the service.

With the variable unset, :func:`build_tracer` returns None and OpenTelemetry is never imported.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from voxagent.conversation.timeline import MARKS, TurnTimeline
from voxagent.telemetry.logging import quiet_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["STAGES", "TurnTracer", "build_tracer"]

log = logging.getLogger(__name__)
errors = quiet_logger("tracing")

TURN_SPAN = "voxagent.turn"
STAGES = (
    ("end_of_turn", "speech_end", "end_of_turn", None),
    ("stt", "end_of_turn", "stt_final", "stt"),
    ("agent", "agent_request", "agent_first_text", "llm"),
    ("tts", "tts_request", "tts_first_audio", "tts"),
    ("first_audio", "tts_first_audio", "first_audio_sent", None),
)
"""Child spans: (name after ``voxagent.``, first mark, last mark, provider stage)."""
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class TurnTracer:
    """Turns into spans, through ``provider`` (an SDK ``TracerProvider``)."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace import set_span_in_context

        self.provider = provider
        self._tracer = provider.get_tracer("voxagent")
        self._as_parent = set_span_in_context

    def turn(self, call_id: str, channel: str, turn: TurnTimeline) -> None:
        """A turn finished: its spans go to the exporter (never raises)."""
        try:
            self._turn(call_id, channel, turn)
        except Exception as exc:  # telemetry must never cost a turn
            errors.warning("a turn's trace was lost: %r", exc)

    def _turn(self, call_id: str, channel: str, turn: TurnTimeline) -> None:
        offset_ns = time.time_ns() - time.monotonic_ns()

        def wall_ns(monotonic_s: float) -> int:
            return round(monotonic_s * 1e9) + offset_ns

        origin = turn.speech_end if turn.speech_end is not None else turn.started_at
        marks = [m for m in (getattr(turn, name) for name in MARKS) if m is not None]
        start = min([origin, *marks])
        end = max([origin, *marks])
        attributes: dict[str, str | int | bool | float] = {
            "voxagent.call_id": call_id,
            "voxagent.channel": channel,
            "voxagent.turn.index": turn.index,
            "voxagent.turn.kind": turn.kind,
            "voxagent.turn.interrupted": turn.interrupted,
            "voxagent.turn.speculative": turn.speculative,
        }
        for stage, served_by in sorted(turn.providers.items()):
            attributes[f"voxagent.provider.{stage}"] = served_by
        if turn.response_ms is not None:
            attributes["voxagent.response_ms"] = turn.response_ms
        root = self._tracer.start_span(TURN_SPAN, attributes=attributes, start_time=wall_ns(start))
        parent = self._as_parent(root)
        for name, begin, finish, provider in _stages(turn):
            child_attributes: dict[str, str] = {"voxagent.call_id": call_id}
            if provider:
                child_attributes["voxagent.provider"] = provider
            child = self._tracer.start_span(
                f"voxagent.{name}",
                context=parent,
                attributes=child_attributes,
                start_time=wall_ns(begin),
            )
            child.end(end_time=wall_ns(max(begin, finish)))
        root.end(end_time=wall_ns(end))

    def shutdown(self) -> None:
        """Send what is queued and stop the exporter's thread (blocks: run it in a thread)."""
        self.provider.shutdown()


def _stages(turn: TurnTimeline) -> list[tuple[str, float, float, str | None]]:
    """The stages this turn went through, (name, start, end, provider), in the order they
    started."""
    found: list[tuple[str, float, float, str | None]] = []
    for name, first, last, provider_stage in STAGES:
        begin, end = getattr(turn, first), getattr(turn, last)
        if begin is None or end is None:
            continue
        provider = turn.providers.get(provider_stage) if provider_stage else None
        found.append((name, begin, end, provider))
    found.sort(key=lambda stage: stage[1])
    return found


def build_tracer(instance_id: str, environ: Mapping[str, str] = os.environ) -> TurnTracer | None:
    """The tracer, when an OTLP endpoint is configured (None otherwise, or when the
    ``otel`` extra is missing: that is logged once)."""
    if not any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES):
        return None
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'voxagent[otel]'): no traces (%s)",
            exc,
        )
        return None
    resource = Resource.create({SERVICE_INSTANCE_ID: instance_id})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "voxagent"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.info("tracing every turn to the OTLP endpoint (OpenTelemetry)")
    return TurnTracer(provider)
