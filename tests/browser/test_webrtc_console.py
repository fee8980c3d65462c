"""Runs ``webrtc_cases.py`` (the console over WebRTC in Chromium) in a network namespace of
its own with only loopback up, so the peer connections can only be made over 127.0.0.1 and no
test depends on the machine's network. Where ``unshare -n`` is not allowed, the cases run in
the machine's own network instead (loopback candidates still) and the test says so."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

CASES = Path(__file__).with_name("webrtc_cases.py")
ROOT = Path(__file__).resolve().parents[2]


def can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-n", "--", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10
    )
    return probe.returncode == 0


def test_the_console_over_webrtc_on_a_loopback_only_network() -> None:
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES)]
    if can_unshare():
        command = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
        command += pytest_cmd
    else:
        warnings.warn(
            "unshare -n is not allowed here: WebRTC cases run on the host's network", stacklevel=1
        )
        command = pytest_cmd
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=dict(os.environ)
    )
    report = run.stdout[-6000:] + "\n" + run.stderr[-4000:]
    print(report)
    assert run.returncode == 0, report
    assert " passed" in run.stdout and "skipped" not in run.stdout, report
