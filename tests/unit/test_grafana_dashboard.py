"""The monitoring files fit the server and the compose file: every query on the Grafana
dashboard names metrics (and labels) that ``/metrics`` really exposes, Prometheus scrapes the
two compose instances with the API key, and Grafana finds its datasource and dashboard where
compose mounts them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from voxagent.conversation.timeline import TurnTimeline
from voxagent.telemetry.metrics import LiveReadings, Metrics

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "voxagent.json"
GRAFANA_ROOT = "/etc/grafana/provisioning"
ADDED_BY_PROMETHEUS = {"job", "instance", "exported_instance"}
"""Target labels Prometheus puts on every scraped sample (voxagent's own ``instance`` becomes
``exported_instance``)."""

FUNCTIONS = {
    "abs", "avg_over_time", "ceil", "changes", "clamp_max", "clamp_min", "delta", "deriv",
    "floor", "histogram_quantile", "idelta", "increase", "irate", "label_replace",
    "max_over_time", "min_over_time", "rate", "resets", "round", "scalar", "sort",
    "sort_desc", "sum_over_time", "time", "vector",
}  # fmt: skip
AGGREGATIONS = {"sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile", "stddev"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
KEYWORDS |= {"unless", "bool", "offset", "inf", "nan"}


# ------------------------------------------------------------------ what /metrics exposes
def a_turn() -> TurnTimeline:
    turn = TurnTimeline(index=1, kind="reply")
    turn.speech_end, turn.end_of_turn, turn.stt_final = 10.0, 10.3, 10.35
    turn.agent_request, turn.agent_first_text = 10.35, 10.5
    turn.tts_request, turn.tts_first_audio, turn.first_audio_sent = 10.5, 10.6, 10.62
    turn.interrupted, turn.interrupted_at = True, 11.5
    turn.barge_in_ms = 150.0
    turn.providers = {"stt": "deepgram", "llm": "anthropic", "tts": "elevenlabs"}
    return turn


@pytest.fixture(scope="module")
def exposed() -> dict[str, list[dict[str, str]]]:
    """Sample name → the label sets it comes with, from a real render after one of
    everything (a turn with a barge-in, an ended call, a switch, a page's report, live
    readings with a value each)."""
    metrics = Metrics(
        "x",
        LiveReadings(
            active_calls=lambda: {"media_stream": 1},
            webhooks=lambda: {"received": 1},
            malformed=lambda: {"browser": 1},
            dropped_frames=lambda: {"media_stream": 1},
            socketio_events=lambda: {("in", "start"): 1},
            webrtc_peers=lambda: 1,
        ),
    )
    metrics.turn("media_stream", a_turn())
    metrics.call_ended("media_stream", "inbound", "completed")
    metrics.switched("tts", "elevenlabs", "piper")
    metrics.client_report({"first_audio_heard_ms": 700.0}, underruns=1)
    metrics.loop_lag.observe(0.002)
    found: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        assert family.samples, f"{family.name}: nothing observed, the test would miss it"
        for sample in family.samples:
            found.setdefault(sample.name, []).append(dict(sample.labels))
    return found


# ------------------------------------------------------------------ the dashboard's queries
def panels() -> Iterator[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in panels()
        for target in panel.get("targets", [])
    ]


class Parsed:
    def __init__(self) -> None:
        self.metrics: set[str] = set()
        self.functions: set[str] = set()
        self.labels: set[str] = set()
        self.equal: list[tuple[str, str]] = []
        """``label="value"`` matchers (no variables, no regex)."""


def parse_promql(expr: str) -> Parsed:
    """The metric names, functions and labels of a PromQL expression (enough for the ones a
    dashboard holds: selectors, ranges, aggregations with by/without, arithmetic)."""
    out = Parsed()
    rest = expr.replace("$__rate_interval", "5m")

    def matchers(found: re.Match[str]) -> str:
        for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', found.group(1)):
            out.labels.add(label)
            if op == "=" and "$" not in value:
                out.equal.append((label, value))
        return " "

    rest = re.sub(r"\{([^}]*)\}", matchers, rest)
    grouping = r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"
    for _, names in re.findall(grouping, rest):
        out.labels |= {n.strip() for n in names.split(",") if n.strip()}
    rest = re.sub(grouping, " ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)
    rest = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][-+]?\d+)?", " ", rest)
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", rest):
        name = found.group(0)
        if re.match(r"\s*\(", rest[found.end() :]):
            out.functions.add(name)
        elif name not in KEYWORDS:
            out.metrics.add(name)
    return out


def test_the_parser_reads_a_dashboard_query() -> None:
    parsed = parse_promql(
        "histogram_quantile(0.95, sum by (le, stage) (rate(voxagent_turn_stage_seconds_bucket"
        '{source="server",instance=~"$instance"}[$__rate_interval]))) / 1e3 + up'
    )
    assert parsed.metrics == {"voxagent_turn_stage_seconds_bucket", "up"}
    assert parsed.functions == {"histogram_quantile", "sum", "rate"}
    assert parsed.labels == {"le", "stage", "source", "instance"}
    assert parsed.equal == [("source", "server")]


@pytest.mark.parametrize(("title", "expr"), queries())
def test_every_query_names_metrics_and_labels_the_server_exposes(
    title: str, expr: str, exposed: dict[str, list[dict[str, str]]]
) -> None:
    parsed = parse_promql(expr)
    assert parsed.metrics, f"{title}: no metric in {expr}"
    unknown = parsed.metrics - set(exposed)
    assert not unknown, f"{title}: /metrics has no {sorted(unknown)}"
    assert parsed.functions <= FUNCTIONS | AGGREGATIONS, f"{title}: {parsed.functions}"
    labels = {label for name in parsed.metrics for s in exposed[name] for label in s}
    missing = parsed.labels - labels - ADDED_BY_PROMETHEUS
    assert not missing, f"{title}: no sample of {sorted(parsed.metrics)} has {missing}"
    for label, value in parsed.equal:
        if label in ADDED_BY_PROMETHEUS:
            continue
        values = {s.get(label) for name in parsed.metrics for s in exposed[name]}
        assert value in values, f"{title}: {label}={value!r} never exposed"


def test_the_template_variables_read_exposed_labels(
    exposed: dict[str, list[dict[str, str]]],
) -> None:
    variables = json.loads(DASHBOARD.read_text())["templating"]["list"]
    assert {v["name"] for v in variables} == {"instance", "channel"}
    for variable in variables:
        query = variable["query"]["query"]
        found = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?,\s*(\w+)\)", query)
        assert found, query
        metric, _, label = found.groups()
        assert metric in exposed
        assert label in ADDED_BY_PROMETHEUS or any(label in s for s in exposed[metric]), query


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    exprs = "\n".join(expr for _, expr in queries())
    response = 'voxagent_turn_stage_seconds_bucket{stage="first_audio_sent"'
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate({response}" in exprs
    for metric in (
        "voxagent_calls_active",
        "voxagent_calls_total",
        "voxagent_provider_latency_seconds_bucket",
        "voxagent_provider_switches_total",
        "voxagent_barge_ins_total",
        "voxagent_webhooks_total",
        "voxagent_event_loop_lag_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "voxagent_socketio_events_total",
        "voxagent_webrtc_peers",
    ):
        assert metric in exprs, f"no panel shows {metric}"
    assert "sum by (le, stage)" in exprs, "the per-stage percentiles"


def test_every_panel_uses_the_provisioned_datasource_and_fits_the_grid() -> None:
    datasource = yaml.safe_load((DEPLOY / "grafana" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    seen_ids = set()
    for panel in panels():
        assert panel["id"] not in seen_ids
        seen_ids.add(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for ref in (panel["datasource"], *(t["datasource"] for t in panel["targets"])):
            assert ref == {"type": source["type"], "uid": source["uid"]}, panel["title"]


# ------------------------------------------------------------------ prometheus and compose
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host path, for the service's bind mounts."""
    pairs = (str(volume).split(":") for volume in service.get("volumes", []))
    return {parts[1]: parts[0] for parts in pairs if parts[0].startswith("./")}


def test_prometheus_scrapes_every_compose_instance_with_the_api_key() -> None:
    services = compose()["services"]
    instances = sorted(
        name for name, s in services.items() if s.get("build") == "." and "3000" in s["expose"]
    )
    assert instances == ["voxagent1", "voxagent2"]
    prometheus = services["prometheus"]
    config_path = "/etc/prometheus/prometheus.yml"
    assert mounts(prometheus)[config_path] == "./deploy/prometheus.yml"

    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "voxagent"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert sorted(targets) == [f"{name}:3000" for name in instances]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    (secret,) = prometheus["secrets"]
    assert job["authorization"]["credentials_file"] == f"/run/secrets/{secret['target']}"
    assert secret["mode"] & 0o004, "Prometheus runs as nobody: the key file must be readable"
    assert compose()["secrets"][secret["source"]] == {"environment": "METRICS_API_KEY"}
    for other in config["scrape_configs"]:
        assert "credentials" not in other.get("authorization", {}), "no key in the file"


def test_grafana_finds_its_datasource_and_dashboard_where_compose_mounts_them() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    assert mounts(grafana)[GRAFANA_ROOT] == "./deploy/grafana"

    def on_host(container_path: str) -> Path:
        assert container_path.startswith(GRAFANA_ROOT + "/"), container_path
        return DEPLOY / "grafana" / container_path.removeprefix(GRAFANA_ROOT + "/")

    datasource = yaml.safe_load((DEPLOY / "grafana" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", source["url"]).groups()  # type: ignore[union-attr]
    assert host in services and any(str(p).endswith(f":{port}") for p in services[host]["ports"])

    providers = yaml.safe_load((DEPLOY / "grafana" / "dashboards" / "voxagent.yml").read_text())
    (provider,) = providers["providers"]
    folder = on_host(provider["options"]["path"])
    assert DASHBOARD.parent == folder and DASHBOARD.exists()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert on_host(home) == DASHBOARD
