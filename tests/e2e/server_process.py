"""Start and stop a real ``voxagent serve`` process on a free port, with its own SQLite file
(the e2e tests' server; ``conftest.py`` wraps it in a fixture)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    db_path: Path
    log_path: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/media"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, *, port: int | None = None, **env: str) -> Server:
    port = port or free_port()
    db = tmp / "calls.db"
    log_path = tmp / "server.log"
    environment = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "LOG_LEVEL": "info",
        "STT_WORKERS": "1",
        "TTS_WORKERS": "1",
        **env,
    }
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "voxagent.cli", "serve"],
        env=environment,
        cwd=tmp,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Server(port, process, db, log_path)
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{server.http}/health", timeout=1):
                return server
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server did not start:\n{server.log()}") from None
            time.sleep(0.2)


def stop_server(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return int(server.process.returncode)
