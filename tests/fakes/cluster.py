"""Several real ``voxagent serve`` processes behind the real HAProxy, on the real Redis and a
PostgreSQL database of their own: the deployment of ``docker-compose.yml``, on loopback.

Processes, not in-process servers, because what is proved here is what happens to a process
(SIGKILL mid-call, SIGTERM drain) and what the shipped ``deploy/haproxy.cfg`` does with it.

Use::

    async with (
        FakeTelnyx(api_key="KEY_FAKE", callee_script=["no thank you goodbye"]) as fake,
        cluster(tmp_path, fake, per_instance={"b": {"log_level": "debug"}}) as c,
    ):
        async with c.http() as http:  # through the balancer, with the API key
            placed = await http.post("/api/call/initiate", json={"phone": "+15557770001"})
        await c.b.kill()
        await c.balancer.wait_state("b", "DOWN")

Instances run in media-stream mode (USE_MEDIA_STREAMS=true) unless ``settings`` say otherwise.
The fake Telnyx is started first (the instances need its URL and key) and ``cluster`` points
its webhooks at the public address (the balancer's ``/webhook/telnyx``) once the ports are
chosen; set ``fake.webhook_url`` afterwards to send them elsewhere. Without Redis, PostgreSQL
or haproxy the test is skipped, saying which is missing. On the way out every process is
stopped (SIGTERM, then SIGKILL), the database dropped and the Redis prefix deleted; processes
also die with the test process (``setpriv --pdeathsig``) and at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import string
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import AliasChoices
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from fakes.instances import API_KEY, REDIS_URL, free_port, redis_for_test
from voxagent.settings import Settings
from voxagent.simulator.fake_telnyx import FakeTelnyx

__all__ = [
    "HAPROXY",
    "HAPROXY_CFG",
    "POSTGRES_URL",
    "Balancer",
    "Cluster",
    "Instance",
    "cluster",
    "postgres_database",
]

REPO = Path(__file__).resolve().parents[2]
HAPROXY_CFG = REPO / "deploy" / "haproxy.cfg"
"""The shipped configuration: the balancer here runs exactly this file."""
HAPROXY = shutil.which("haproxy") or next(
    (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
)
POSTGRES_URL = os.environ.get(
    "VOXAGENT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
START_TIMEOUT_S = 60.0
JWT_SECRET = "cluster-jwt-secret-" + "j" * 24
MEDIA_URL_SECRET = "cluster-media-secret-" + "m" * 24

_SETPRIV = shutil.which("setpriv")
_LIVE: set[int] = set()
"""Pids of processes started here and not yet reaped, killed at interpreter exit."""


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_LIVE):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _setting_names() -> set[str]:
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        names.add(name.upper())
        if isinstance(info.validation_alias, AliasChoices):
            names |= {str(choice).upper() for choice in info.validation_alias.choices}
    return names


def _base_environment() -> dict[str, str]:
    """This process's environment without anything voxagent would read as a setting, so a
    developer's shell (or CI's) cannot change what the processes under test do."""
    settings = _setting_names()
    return {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in settings and not key.upper().startswith(("VOXAGENT", "TELNYX"))
    } | {"PYTHONUNBUFFERED": "1"}


def _env(settings: Mapping[str, object]) -> dict[str, str]:
    """Settings as environment variables: upper-case names, booleans as true/false."""
    out: dict[str, str] = {}
    for name, value in settings.items():
        if isinstance(value, bool):
            out[name.upper()] = "true" if value else "false"
        else:
            out[name.upper()] = str(value)
    return out


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


async def _spawn(argv: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> Any:
    """Start a process writing to ``log``; it is SIGKILLed if this process dies first."""
    if _SETPRIV is not None:
        argv = [_SETPRIV, "--pdeathsig", "KILL", *argv]
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    _LIVE.add(process.pid)
    return process


async def _reap(process: Any, within_s: float | None) -> int:
    code = int(await asyncio.wait_for(process.wait(), within_s))
    _LIVE.discard(process.pid)
    return code


def _serve_command() -> list[str]:
    """The ``voxagent`` console script next to this interpreter (what the image runs), or
    the CLI module where the script is not installed."""
    script = Path(sys.executable).parent / "voxagent"
    if os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "voxagent.cli"]


@dataclass
class Instance:
    """One ``voxagent serve`` process on ``127.0.0.1:port``; :meth:`start` again restarts it
    on the same port with the same settings (its log goes on in the same file)."""

    name: str
    port: int
    settings: dict[str, str]
    """The environment variables it is started with, on top of the cleaned environment."""
    workdir: Path
    api_key: str = API_KEY
    process: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """Its media-stream WebSocket (what Telnyx would connect to)."""
        return f"ws://127.0.0.1:{self.port}/stream/media"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else int(self.process.pid)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    async def start(self, within_s: float = START_TIMEOUT_S) -> None:
        """Start the process and return once ``/health`` answers (200 or 503)."""
        if self.running:
            raise RuntimeError(f"instance {self.name} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [*_serve_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        # The working directory is the instance's own: no stray .env file is read.
        self.process = await _spawn(
            argv, _base_environment() | self.settings, self.workdir, self.log_path
        )
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=1, trust_env=False) as http:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    await http.get(f"{self.url}/health")
                    return
                if not self.running or time.monotonic() > deadline:
                    await self.kill()
                    raise RuntimeError(
                        f"instance {self.name} did not start (exit code "
                        f"{self.process.returncode}); its log ends:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)

    async def health(self) -> tuple[int, dict[str, Any]]:
        """Its own ``/health`` (with the API key, so with the details)."""
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            response = await http.get(
                f"{self.url}/health", headers={"Authorization": f"Bearer {self.api_key}"}
            )
        return response.status_code, response.json()

    def signal(self, signum: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    async def terminate(self) -> None:
        """SIGTERM: the server drains (health 503, calls finish); does not wait for it."""
        self.signal(signal.SIGTERM)

    async def kill(self) -> None:
        """SIGKILL, and wait until the process is gone (its port is closed)."""
        if self.process is None:
            return
        self.signal(signal.SIGKILL)
        await _reap(self.process, 10)

    async def wait_exit(self, within_s: float) -> int:
        """The exit code; raises TimeoutError if it is still running after ``within_s``."""
        if self.process is None:
            raise RuntimeError(f"instance {self.name} was never started")
        return await _reap(self.process, within_s)

    async def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``grace_s``."""
        if not self.running:
            if self.process is not None:
                await _reap(self.process, 5)
            return
        try:
            await self.terminate()
            with contextlib.suppress(TimeoutError):
                await self.wait_exit(grace_s)
        finally:
            if self.running:
                self.signal(signal.SIGKILL)
            await _reap(self.process, 10)


@dataclass
class Balancer:
    """``haproxy -f deploy/haproxy.cfg`` in the foreground, on ``127.0.0.1:port``, in front of
    the instances named ``a`` and ``b``. A second, test-only file adds an admin socket on
    loopback (:meth:`command`, :meth:`server_states`); the shipped file is left as it is."""

    port: int
    backends: dict[str, str]
    """Server name in the config (``a``, ``b``) -> ``host:port``."""
    workdir: Path
    stats_port: int = field(default_factory=free_port)
    process: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/media"

    @property
    def log_path(self) -> Path:
        return self.workdir / "haproxy.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    async def start(self, within_s: float = 20.0) -> None:
        """Start haproxy and return once every backend has passed a health check."""
        if HAPROXY is None:
            pytest.skip("haproxy is not installed (scripts/setup dev installs it on Debian)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        admin = self.workdir / "admin.cfg"
        admin.write_text(f"global\n    stats socket 127.0.0.1:{self.stats_port} level admin\n")
        env = {
            **_base_environment(),
            "LISTEN_ADDR": f"127.0.0.1:{self.port}",
            **{f"VOXAGENT_{name.upper()}": where for name, where in self.backends.items()},
        }
        argv = [HAPROXY, "-f", str(HAPROXY_CFG), "-f", str(admin), "-db"]
        self.process = await _spawn(argv, env, self.workdir, self.log_path)
        deadline = time.monotonic() + within_s
        states: dict[str, dict[str, str]] = {}
        while time.monotonic() < deadline and self.running:
            with contextlib.suppress(OSError):
                states = await self.server_stats()
                if states and all(
                    s["status"] == "UP" and s["check_status"] == "L7OK" for s in states.values()
                ):
                    return
            await asyncio.sleep(0.1)
        await self.stop()
        raise RuntimeError(
            f"haproxy did not become ready (servers: {states}); its log ends:\n{self.log_tail()}"
        )

    async def command(self, line: str) -> str:
        """One command on the admin socket (``show stat``, ``disable server voxagent/b``…)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.stats_port)
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.read(), 5)).decode()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def server_stats(self) -> dict[str, dict[str, str]]:
        """Each backend server's row of ``show stat`` (``status``: UP, DOWN, ``UP 1/2``…;
        ``check_status``: L7OK, L7STS (a 503), L4CON (refused)…), keyed by server name."""
        lines = (await self.command("show stat")).splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        header = lines[0][2:].split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            row["svname"]: row
            for row in rows
            if row.get("pxname") == "voxagent" and row.get("svname") in self.backends
        }

    async def server_states(self) -> dict[str, str]:
        return {name: row["status"] for name, row in (await self.server_stats()).items()}

    async def wait_state(self, name: str, state: str, within_s: float = 5.0) -> float:
        """Wait until server ``name`` is in ``state`` (``UP``, ``DOWN``…); the seconds it took."""
        started = time.monotonic()
        seen = ""
        while time.monotonic() - started < within_s:
            seen = (await self.server_states()).get(name, "")
            if seen == state:
                return time.monotonic() - started
            await asyncio.sleep(0.05)
        raise AssertionError(f"server {name} is {seen!r}, not {state!r}, after {within_s} s")

    async def stop(self) -> None:
        if self.process is None:
            return
        try:
            if self.running:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)  # haproxy -db: a hard stop
                with contextlib.suppress(TimeoutError):
                    await _reap(self.process, 5)
        finally:
            if self.running:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
            await _reap(self.process, 10)


@dataclass
class Cluster:
    instances: list[Instance]
    balancer: Balancer | None
    redis: Redis
    prefix: str
    database_url: str
    api_key: str
    url: str
    """The public address: the balancer's (or the first instance's without one)."""

    @property
    def a(self) -> Instance:
        return self.instances[0]

    @property
    def b(self) -> Instance:
        return self.instances[1]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/stream/media"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def instance(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    def http(self, base_url: str | None = None, timeout: float = 30) -> httpx.AsyncClient:
        """A client of the public address (or ``base_url``) carrying the API key."""
        return httpx.AsyncClient(
            base_url=base_url or self.url, headers=self.headers, timeout=timeout, trust_env=False
        )

    def logs(self, lines: int = 30) -> str:
        """The end of every process's log, for an assertion's message."""
        parts = [f"--- {i.name} ({i.url})\n{i.log_tail(lines)}" for i in self.instances]
        if self.balancer is not None:
            parts.append(f"--- haproxy\n{self.balancer.log_tail(lines)}")
        return "\n".join(parts)


@contextlib.asynccontextmanager
async def postgres_database(server_url: str = POSTGRES_URL) -> AsyncIterator[str]:
    """A fresh database ``vx_<hex>`` on the PostgreSQL server (its URL for voxagent), dropped
    at the end; the test is skipped where no PostgreSQL runs."""
    url = make_url(server_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    name = f"vx_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable at {server_url}: {exc!r}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path,
    fake_telnyx: FakeTelnyx | None,
    *,
    instances: int = 2,
    settings: Mapping[str, object] | None = None,
    per_instance: Mapping[str, Mapping[str, object]] | None = None,
    balancer: bool = True,
) -> AsyncIterator[Cluster]:
    """``instances`` servers named a, b… (started at once) and, with ``balancer``, haproxy in
    front of a and b (the shipped config has two servers, so then ``instances`` must be 2).

    ``settings`` apply to every instance and ``per_instance`` (by name) on top, both as
    setting names in any case (``use_media_streams`` or ``USE_MEDIA_STREAMS``); a value may
    name an instance's or the balancer's address (``"{a}"``, ``"{public}"``,
    ``"{public_stream}"``). Without a fake Telnyx the instances run without Telnyx (browser
    sessions only). A ``database_url`` in ``settings`` replaces the cluster's PostgreSQL
    database.
    """
    if balancer and instances != 2:
        raise ValueError("deploy/haproxy.cfg balances exactly two instances (a and b)")
    if balancer and HAPROXY is None:
        pytest.skip("haproxy is not installed (scripts/setup dev installs it on Debian)")
    given = _env(settings or {})
    async with contextlib.AsyncExitStack() as stack:
        client, prefix = await stack.enter_async_context(redis_for_test())
        database_url = given.get("DATABASE_URL", "")
        if not database_url:
            database_url = await stack.enter_async_context(postgres_database())
        names = string.ascii_lowercase[:instances]
        ports = {name: free_port() for name in names}
        front = Balancer(free_port(), {}, tmp_path / "haproxy") if balancer else None
        public = front.url if front is not None else f"http://127.0.0.1:{ports['a']}"
        common: dict[str, str] = _env(
            {
                "api_keys": API_KEY,
                "jwt_secret": JWT_SECRET,
                "media_url_secret": MEDIA_URL_SECRET,
                "webhook_base_url": public,
                "use_media_streams": True,
                "database_url": database_url,
                "media_dir": tmp_path / "media",  # shared, as a volume would be
                "redis_url": REDIS_URL,
                "redis_key_prefix": prefix,
                "session_ttl_seconds": 120,
                "stt_workers": 1,
                "tts_workers": 1,
                "shutdown_grace_seconds": 2,
                "log_level": "info",
            }
        )
        if fake_telnyx is not None:
            fake_telnyx.webhook_url = f"{public}/webhook/telnyx"
            common |= _env(
                {
                    "telnyx_api_key": fake_telnyx.api_key,
                    "telnyx_base_url": fake_telnyx.base_url,
                    "telnyx_public_key": fake_telnyx.public_key_b64,
                    "telnyx_connection_id": fake_telnyx.connection_id or "1234567890",
                    "telnyx_phone_number": "+15550001000",
                }
            )
        # Settings may name addresses known only now: "{a}", "{b}", "{public}" and the
        # balancer's media-stream WebSocket, "{public_stream}".
        stream = "ws" + public.removeprefix("http") + "/stream/media"
        addresses = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        addresses |= {"public": public, "public_stream": stream}
        servers = [
            Instance(
                name,
                ports[name],
                {
                    key: value.format_map(addresses) if "{" in value else value
                    for key, value in (
                        common | given | _env((per_instance or {}).get(name, {}))
                    ).items()
                },
                tmp_path / name,
            )
            for name in names
        ]
        running = Cluster(servers, front, client, prefix, database_url, API_KEY, public)
        try:
            try:
                async with asyncio.TaskGroup() as group:
                    for server in servers:
                        group.create_task(server.start())
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
            if front is not None:
                front.backends = {s.name: f"127.0.0.1:{s.port}" for s in servers}
                await front.start()
            yield running
        finally:
            await _stop_all(running)


async def _stop_all(running: Cluster) -> None:
    """Stop everything even if this task is being cancelled: whatever the graceful stop has
    not done by then is SIGKILLed on the spot."""
    try:
        if running.balancer is not None:
            await running.balancer.stop()
        await asyncio.gather(*(i.stop() for i in running.instances))
    except BaseException:
        for process in [i.process for i in running.instances] + [
            running.balancer.process if running.balancer else None
        ]:
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        raise
