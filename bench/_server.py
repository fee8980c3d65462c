"""Start ``voxagent serve`` in a child process and watch its CPU and memory."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    port: int
    process: psutil.Process

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/media"

    def cpu_seconds(self) -> float:
        t = self.process.cpu_times()
        children = sum(c.cpu_times().user + c.cpu_times().system for c in self.process.children())
        return float(t.user + t.system + children)

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def peak_rss_mb(self) -> float:
        # VmHWM: the high-water mark of resident memory since start (Linux).
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return self.rss_mb()


@contextlib.contextmanager
def running_server(**env: str) -> Iterator[ServerProcess]:
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="voxagent-bench-")
    environment = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
        "LOG_LEVEL": "warning",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxagent.cli", "serve"], env=environment, cwd=tmp
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield ServerProcess(port, psutil.Process(proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def cloud_env(deepgram_url: str, anthropic_url: str, elevenlabs_url: str) -> dict[str, str]:
    """Settings that point the server at the loopback fakes of Deepgram, Claude and ElevenLabs
    (keys ``dg``, ``ant``, ``el``)."""
    return {
        "STT_PROVIDER": "deepgram",
        "DEEPGRAM_API_KEY": "dg",
        "DEEPGRAM_BASE_URL": deepgram_url,
        "LLM_PROVIDER": "anthropic",
        "CLAUDE_API_KEY": "ant",
        "ANTHROPIC_BASE_URL": anthropic_url,
        "TTS_PROVIDER": "elevenlabs",
        "ELEVENLABS_API_KEY": "el",
        "ELEVENLABS_BASE_URL": elevenlabs_url,
    }
