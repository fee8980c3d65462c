"""The deployment files say what the cluster tests prove: the image runs unprivileged and
offline, compose runs the balancer on the very haproxy.cfg the tests run, and every instance
gets the same settings, all of them ones voxagent knows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from voxagent.settings import Settings

REPO = Path(__file__).resolve().parents[2]
HAPROXY_CFG = REPO / "deploy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or (
    "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
)
INSTANCES = ("voxagent1", "voxagent2")
NOT_SETTINGS = {"FORWARDED_ALLOW_IPS"}
"""Read by uvicorn, not by voxagent's settings."""


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def setting_names() -> set[str]:
    names = {name.upper() for name in Settings.model_fields}
    for info in Settings.model_fields.values():
        if isinstance(info.validation_alias, AliasChoices):
            names |= {str(choice).upper() for choice in info.validation_alias.choices}
    return names


def test_the_image_runs_unprivileged_with_a_health_check_and_downloads_nothing() -> None:
    steps = dockerfile_instructions()
    runtime = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the server runs as a user without privileges"
    health = " ".join(args for op, args in runtime if op == "HEALTHCHECK")
    assert "/health" in health and "curl" not in health
    assert ("EXPOSE", "3000") in runtime
    cmd = next(args for op, args in reversed(runtime) if op == "CMD")
    assert '"voxagent", "serve"' in cmd and '"3000"' in cmd
    commands = " ".join(args for op, args in steps if op in ("RUN", "ADD", "CMD", "ENTRYPOINT"))
    for fetch in ("curl", "wget", "download", "http://", "https://"):
        assert fetch not in commands, f"the image must not fetch anything at run time ({fetch})"


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".env", ".venv", ".git", "data"} <= ignored
    assert not {"src", "pyproject.toml", "README.md"} & ignored, "the build needs these"


def test_compose_balances_two_instances_of_one_image_with_the_same_settings() -> None:
    services = compose()["services"]
    first, second = (services[name] for name in INSTANCES)
    assert first == second, "the instances differ only by name"
    assert first["build"] == "." and first["image"]
    env = first["environment"]
    unknown = set(env) - setting_names() - NOT_SETTINGS
    assert not unknown, f"not voxagent settings: {unknown}"
    for shared in ("JWT_SECRET", "MEDIA_URL_SECRET", "API_KEYS"):
        assert str(env[shared]).startswith(f"${{{shared}:?"), f"{shared} is required from the host"
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    grace = float(env["SHUTDOWN_GRACE_SECONDS"].split(":-")[1].rstrip("}"))
    assert int(first["stop_grace_period"].rstrip("s")) > grace + 5, "Docker must not cut a drain"
    for needed in ("redis", "postgres"):
        assert first["depends_on"][needed]["condition"] == "service_healthy"


def test_compose_runs_the_balancer_on_the_configuration_the_tests_use() -> None:
    services = compose()["services"]
    haproxy = services["haproxy"]
    assert str(haproxy["image"]).startswith("haproxy:")
    mounts = [str(volume).split(":") for volume in haproxy["volumes"]]
    assert ["./deploy/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg", "ro"] in mounts
    env = haproxy["environment"]
    assert env["VOXAGENT_A"] == "voxagent1:3000" and env["VOXAGENT_B"] == "voxagent2:3000"
    port = env["LISTEN_ADDR"].rsplit(":", 1)[1]
    assert any(str(p).endswith(f":{port}") for p in haproxy["ports"])
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], "monitoring is opt-in"


def test_the_balancer_configuration_keeps_websockets_and_no_affinity() -> None:
    lines = [
        line.split("#", 1)[0].split()
        for line in HAPROXY_CFG.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    words = {tuple(line[:2]) for line in lines}
    assert ("timeout", "tunnel") in words, "WebSockets (calls) outlive the HTTP timeouts"
    assert ("option", "httpchk") in words and ("option", "redispatch") in words
    assert not {w for w in words if w[0] in ("daemon", "cookie", "stick", "stick-table")}
    assert ["bind", '"${LISTEN_ADDR}"'] in lines


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (scripts/setup dev)")
def test_haproxy_accepts_the_shipped_configuration() -> None:
    assert HAPROXY is not None
    env = {
        **os.environ,
        "LISTEN_ADDR": "127.0.0.1:18080",
        "VOXAGENT_A": "127.0.0.1:13001",
        "VOXAGENT_B": "127.0.0.1:13002",
    }
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(HAPROXY_CFG)], env=env, capture_output=True, text=True, timeout=30
    )
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "WARNING" not in output and "ALERT" not in output, output
