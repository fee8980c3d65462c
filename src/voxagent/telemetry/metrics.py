"""Prometheus metrics: what an operator graphs and alerts on.

Two kinds, so that the hot paths pay nothing:

* **Observed** once per turn, call or client report (histograms and counters below): turn-stage
  latencies, provider times, barge-ins, calls by outcome.
* **Read at scrape time** by :class:`LiveCollector` from counters the server keeps anyway:
  calls in progress by channel, webhooks, malformed messages, dropped frames, Socket.IO events,
  WebRTC peers. A media frame never touches a metric.

Labels stay low-cardinality (never a call id; Socket.IO event names outside the protocol are
counted as ``other``). Every sample carries ``instance`` (this process among the deployment's
instances) through :class:`InstanceLabels`. With ``PROMETHEUS_MULTIPROC_DIR`` set (several
workers in one container) the observed metrics are aggregated across the workers' files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voxagent.conversation.timeline import TurnTimeline

__all__ = [
    "CONTENT_TYPE_LATEST",
    "LATENCY_BUCKETS",
    "InstanceLabels",
    "LiveCollector",
    "LiveReadings",
    "Metrics",
]

LATENCY_BUCKETS = (
    0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8,
    0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 4.0, 6.0, 10.0,
)  # fmt: skip
"""Seconds: 50 ms steps up to 800 ms, where a voice agent lives, then coarser to 10 s."""
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

TURN_STAGES = ("stt_final", "agent_first_text", "tts_first_audio", "first_audio_sent")
"""Marks of a turn, each measured from the caller's end of speech."""
PROVIDER_STAGES = {"stt_final_after_turn": "stt", "llm_ttft": "llm", "tts_ttfb": "tts"}
CLIENT_TIMINGS = ("token_ms", "connect_ms", "first_audio_heard_ms")
"""What a page reports about itself (``POST /api/sandra/metrics``)."""


@dataclass
class LiveReadings:
    """Where the scrape-time numbers come from (each a callable: read when scraped)."""

    active_calls: Callable[[], Mapping[str, int]] = dict
    webhooks: Callable[[], Mapping[str, int]] = dict
    malformed: Callable[[], Mapping[str, int]] = dict
    dropped_frames: Callable[[], Mapping[str, int]] = dict
    socketio_events: Callable[[], Mapping[tuple[str, str], int]] = dict
    webrtc_peers: Callable[[], int] = int
    draining: Callable[[], bool] = bool
    extra_gauges: dict[str, Callable[[], float]] = field(default_factory=dict)


class LiveCollector(Collector):
    def __init__(self, readings: LiveReadings) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        r = self.readings
        active = GaugeMetricFamily(
            "voxagent_calls_active", "Conversations in progress here", labels=["channel"]
        )
        for channel, count in sorted(r.active_calls().items()):
            active.add_metric([channel], count)
        yield active
        yield _counter(
            "voxagent_webhooks", "Telnyx webhooks, by what became of them", "result", r.webhooks()
        )
        yield _counter(
            "voxagent_malformed_messages",
            "Messages refused as malformed (the call went on)",
            "channel",
            r.malformed(),
        )
        yield _counter(
            "voxagent_dropped_frames",
            "Caller audio frames dropped because a call could not keep up",
            "channel",
            r.dropped_frames(),
        )
        events = CounterMetricFamily(
            "voxagent_socketio_events", "Socket.IO events on /sandra", labels=["direction", "event"]
        )
        for (direction, event), count in sorted(r.socketio_events().items()):
            events.add_metric([direction, event], count)
        yield events
        yield GaugeMetricFamily("voxagent_webrtc_peers", "WebRTC peers", value=r.webrtc_peers())
        yield GaugeMetricFamily(
            "voxagent_draining", "1 while this instance drains", value=int(r.draining())
        )
        for name, read in r.extra_gauges.items():
            yield GaugeMetricFamily(name, name.replace("_", " "), value=read())


def _counter(name: str, doc: str, label: str, values: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, count in sorted(values.items()):
        family.add_metric([key], count)
    return family


class InstanceLabels(Collector):
    """Another registry's samples, each with ``instance`` added."""

    def __init__(self, inner: Collector, instance: str) -> None:
        self.inner = inner
        self.instance = instance

    def collect(self) -> Iterable[Metric]:
        for metric in self.inner.collect():
            labelled = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            for sample in metric.samples:
                labels = {**sample.labels, "instance": self.instance}
                labelled.add_sample(sample.name, labels, sample.value, sample.timestamp)
            yield labelled


class Metrics:
    def __init__(self, instance: str, readings: LiveReadings | None = None) -> None:
        self.instance = instance
        registry = CollectorRegistry(auto_describe=False)  # the live collector reads on scrape only
        self.registry = registry
        self.turn_stage = Histogram(
            "voxagent_turn_stage_seconds",
            "From the caller's end of speech to each stage of the agent's answer",
            ["channel", "stage", "source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.provider_latency = Histogram(
            "voxagent_provider_latency_seconds",
            "A provider's own time to its first result (STT after end of turn, LLM first "
            "text, TTS first audio)",
            ["stage", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.provider_requests = Counter(
            "voxagent_provider_requests",
            "Turns a provider served",
            ["stage", "provider"],
            registry=registry,
        )
        self.provider_errors = Counter(
            "voxagent_provider_errors",
            "A provider failed a call's request (its chain switched, or none was left)",
            ["stage", "provider"],
            registry=registry,
        )
        self.provider_switches = Counter(
            "voxagent_provider_switches",
            "A provider failed and the next in its chain took over",
            ["stage", "failed", "to"],
            registry=registry,
        )
        self.calls = Counter(
            "voxagent_calls",
            "Conversations that ended here, by channel, direction and outcome",
            ["channel", "direction", "outcome"],
            registry=registry,
        )
        self.barge_ins = Counter(
            "voxagent_barge_ins", "The caller talked over the agent", ["channel"], registry=registry
        )
        self.barge_in_seconds = Histogram(
            "voxagent_barge_in_seconds",
            "The caller's first interrupting sound to the clear that stopped the agent",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.loop_lag = Histogram(
            "voxagent_event_loop_lag_seconds",
            "How late the event loop ran a timer (measured every 0.5 s)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.client_timing = Histogram(
            "voxagent_client_timing_seconds",
            "What pages report about themselves: token, connect, first audio heard",
            ["metric", "source"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.client_underruns = Counter(
            "voxagent_client_playback_underruns",
            "Times a page ran out of agent audio mid-reply",
            registry=registry,
        )
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, resident memory
        self.live = LiveCollector(readings or LiveReadings())
        registry.register(self.live)
        self.exposed = CollectorRegistry(auto_describe=False)
        self.exposed.register(InstanceLabels(self._source(), instance))

    def _source(self) -> Collector:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not directory:
            return self.registry
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        merged.register(self.live)
        return merged

    # ------------------------------------------------------------ observing
    def turn(self, channel: str, turn: TurnTimeline) -> None:
        """A turn finished: its stage latencies, its providers, a barge-in."""
        if turn.first_audio_sent is None and not turn.interrupted:
            return
        if turn.kind == "reply":
            for stage, ms in turn.latencies().items():
                name = stage.removesuffix("_ms")
                if ms is not None and name in TURN_STAGES:
                    self.turn_stage.labels(channel, name, "server").observe(ms / 1000)
        providers = turn.providers
        for stage, ms in turn.provider_ms().items():
            name = stage.removesuffix("_ms")
            provider = providers.get(PROVIDER_STAGES[name])
            if ms is not None and provider:
                self.provider_latency.labels(PROVIDER_STAGES[name], provider).observe(ms / 1000)
        for stage, provider in providers.items():
            self.provider_requests.labels(stage, provider).inc()
        if turn.interrupted:
            self.barge_ins.labels(channel).inc()
            if turn.barge_in_ms is not None:
                self.barge_in_seconds.labels(channel).observe(turn.barge_in_ms / 1000)

    def call_ended(self, channel: str, direction: str, outcome: str) -> None:
        self.calls.labels(channel, direction, _outcome_label(outcome)).inc()

    def switched(self, stage: str, failed: str, to: str) -> None:
        self.provider_errors.labels(stage, failed).inc()
        self.provider_switches.labels(stage, failed, to).inc()

    def client_report(self, timings: Mapping[str, float], underruns: int) -> None:
        """A page's own timings, in ms (already validated)."""
        for name, ms in timings.items():
            if name in CLIENT_TIMINGS:
                self.client_timing.labels(name.removesuffix("_ms"), "client").observe(ms / 1000)
        if underruns:
            self.client_underruns.inc(underruns)

    def render(self) -> bytes:
        return generate_latest(self.exposed)


def _outcome_label(outcome: str) -> str:
    """Outcomes are a small set, but a free-form one (``failed: instance_lost``) is cut at
    its colon so that no detail becomes a label value."""
    return outcome.split(":", 1)[0].strip()[:40] or "unknown"
