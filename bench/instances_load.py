"""N simultaneous phone calls through the real load balancer to two instances, and to one.

The deployment of ``docker-compose.yml`` on loopback (``tests/fakes/cluster.py``): real
``voxagent serve`` processes on Redis and PostgreSQL, HAProxy on the shipped
``deploy/haproxy.cfg`` in front of two of them (leastconn spreads the media-stream
WebSockets). For comparison the same calls go straight to a single instance (no balancer:
``deploy/haproxy.cfg`` balances exactly two). Each caller speaks the first ``--lines`` lines
of the Spanish booking dialogue in real time over the Telnyx media-stream protocol (Piper's
voice, rendered once per line and shared; no transcription at the caller). The providers are
loopback fakes in this process with no added latency (Deepgram in script mode, Claude,
ElevenLabs), so the numbers are what the servers add. A fresh cluster serves every row, so
peak RSS is that row's.

Prints per N and instance count: calls ok, turns answered / expected, unanswered turns
(replies that never came), response p50/p95 (the caller's end of speech → the first agent
audio at the caller), each server process's CPU (% of one core, its own over the calls), its
peak RSS, how many calls each instance took, and the CPU of this process (the callers and
the provider fakes) and of haproxy: on a small machine they share the cores with the servers.

    .venv/bin/python bench/instances_load.py --calls 10 25 50 --instances 1 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import psutil

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))  # the fakes
from _server import cloud_env

from fakes.cluster import Cluster, Instance, cluster
from fakes.deepgram_server import FakeDeepgram
from fakes.dialogues import spanish_booking_script
from fakes.llm_servers import FakeAnthropic, booking_policy
from fakes.tts_servers import FakeElevenLabs
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.simulator.caller import SimulationResult, percentile, simulate_call

STAGGER_S = 0.075
"""Between two callers dialling: they do not all hear the greeting in the same instant."""


class CachedVoice:
    """A :class:`~voxagent.simulator.caller.SpeechRenderer` that renders each text once."""

    def __init__(self, voice: PiperVoiceSynthesizer) -> None:
        self.voice = voice
        self.sample_rate = voice.sample_rate
        self._rendered: dict[str, npt.NDArray[Any]] = {}
        self._lock = threading.Lock()

    def render_blocking(self, text: str) -> npt.NDArray[Any]:
        with self._lock:  # callers rendering the same line at once wait for the first
            if text not in self._rendered:
                audio = np.asarray(self.voice.render_blocking(text))
                audio.setflags(write=False)
                self._rendered[text] = audio
            return self._rendered[text]


def cpu_seconds(process: psutil.Process, *, children: bool = True) -> float:
    """User + system time of a process and (unless told not to) of its live children."""
    with process.oneshot():
        times = process.cpu_times()
        total = times.user + times.system
    for child in process.children(recursive=True) if children else []:
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return float(total)


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the high-water mark of resident memory since the process started (Linux)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def calls_started(instance: Instance) -> int | None:
    """The instance's own count of calls started (its ``/health``, with the API key)."""
    try:
        _, body = await instance.health()
    except (httpx.HTTPError, ValueError):
        return None
    value = body.get("stats", {}).get("calls_started")
    return int(value) if isinstance(value, int) else None


@dataclass
class Row:
    calls: int
    instances: int
    ok: int = 0
    answered: int = 0
    expected: int = 0
    unanswered: int = 0
    p50: float | None = None
    p95: float | None = None
    cpu_pct: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float | None] = field(default_factory=dict)
    spread: dict[str, int | None] = field(default_factory=dict)
    bench_cpu_pct: float = 0.0
    haproxy_cpu_pct: float | None = None
    slips: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


async def run(n: int, instances: int, lines: list[str], voice: CachedVoice) -> Row:
    row = Row(calls=n, instances=instances, expected=n * len(lines))
    async with AsyncExitStack() as stack:
        deepgram = await stack.enter_async_context(
            # Script mode, each connection on its own: every utterance that is loud for 150 ms
            # is recognized, whatever the other calls say. The server opens one Deepgram
            # socket per utterance, so every turn is heard as the first line (the agent asks
            # for the pet's name each time: one Claude round per turn, no tool calls).
            FakeDeepgram(api_key="dg", transcripts=lines[:1], script_per_connection=True)
        )
        claude = await stack.enter_async_context(FakeAnthropic(booking_policy("es"), api_key="ant"))
        eleven = await stack.enter_async_context(FakeElevenLabs(api_key="el"))
        settings = cloud_env(deepgram.url, claude.url, eleven.base_url) | {
            "TELNYX_TRANSCRIPTION_LANG": "es",
        }
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vx-instances-")))
        running: Cluster = await stack.enter_async_context(
            cluster(tmp, None, instances=instances, settings=settings, balancer=instances == 2)
        )
        servers = running.instances
        url = running.balancer.ws_url if running.balancer is not None else servers[0].ws_url
        procs = {s.name: psutil.Process(s.pid) for s in servers if s.pid is not None}
        haproxy = None
        if running.balancer is not None and running.balancer.process is not None:
            haproxy = psutil.Process(running.balancer.process.pid)
        me = psutil.Process()
        before = {s.name: await calls_started(s) for s in servers}

        async def one(i: int) -> SimulationResult:
            await asyncio.sleep(i * STAGGER_S)
            return await simulate_call(
                url, lines, transcribe=False, tts=voice, api_key=running.api_key
            )

        cpu0 = {name: cpu_seconds(p) for name, p in procs.items()}
        me0 = cpu_seconds(me, children=False)  # the servers and haproxy are its children
        hap0 = cpu_seconds(haproxy) if haproxy is not None else 0.0
        t0 = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        t1 = time.monotonic()
        elapsed = max(t1 - t0, 1e-6)
        for name, p in procs.items():
            try:
                row.cpu_pct[name] = 100 * (cpu_seconds(p) - cpu0[name]) / elapsed
            except psutil.Error:
                row.cpu_pct[name] = float("nan")  # the process died during the run
            row.peak_rss[name] = peak_rss_mb(p.pid)
        row.bench_cpu_pct = 100 * (cpu_seconds(me, children=False) - me0) / elapsed
        if haproxy is not None:
            with contextlib.suppress(psutil.Error):
                row.haproxy_cpu_pct = 100 * (cpu_seconds(haproxy) - hap0) / elapsed
        await asyncio.sleep(0.5)  # the last hang-ups reach the servers' counters
        for s in servers:
            after = await calls_started(s)
            start = before.get(s.name)
            row.spread[s.name] = None if after is None or start is None else after - start
        row.seconds = elapsed
    ok = [r for r in results if isinstance(r, SimulationResult)]
    responses = [ms for r in ok for ms in r.response_times_ms]
    row.ok = len(ok)
    row.answered = len(responses)
    row.unanswered = sum(r.timeouts for r in ok)
    row.slips = sum(r.schedule_slips for r in ok)
    row.p50 = percentile(responses, 50)
    row.p95 = percentile(responses, 95)
    row.errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return row


def fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.0f}"


def per_instance(values: dict[str, Any]) -> str:
    return " / ".join(f"{name} {fmt(v)}" for name, v in values.items())


def print_table(rows: list[Row]) -> None:
    header = [
        "N",
        "inst",
        "calls ok",
        "turns ans/exp",
        "unanswered",
        "p50 ms",
        "p95 ms",
        "CPU % per instance",
        "peak RSS MB",
        "calls per instance",
        "bench CPU %",
        "haproxy CPU %",
        "slips",
        "run s",
    ]
    table = [
        [
            str(r.calls),
            str(r.instances),
            f"{r.ok}/{r.calls}",
            f"{r.answered}/{r.expected}",
            str(r.unanswered),
            fmt(r.p50),
            fmt(r.p95),
            per_instance(r.cpu_pct),
            per_instance(r.peak_rss),
            per_instance(r.spread),
            fmt(r.bench_cpu_pct),
            fmt(r.haproxy_cpu_pct),
            str(r.slips),
            f"{r.seconds:.0f}",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *table]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument(
        "--lines", type=int, default=4, help="lines of the booking dialogue per call"
    )
    args = parser.parse_args()
    lines = spanish_booking_script()[: max(1, args.lines)]
    piper = await asyncio.to_thread(PiperVoiceSynthesizer)
    voice = CachedVoice(piper)
    for text in lines:  # rendered before any call is timed
        await asyncio.to_thread(voice.render_blocking, text)
    rows: list[Row] = []
    try:
        for n in args.calls:
            for k in sorted(args.instances, reverse=True):
                print(f"{n} calls on {k} instance(s)...", flush=True)
                try:
                    row = await run(n, k, lines, voice)
                except Exception as exc:  # one row failing does not lose the others
                    print(f"  failed: {exc!r}", flush=True)
                    continue
                rows.append(row)
                print(
                    f"  {row.ok}/{n} calls ok, {row.answered}/{row.expected} turns answered, "
                    f"p50 {fmt(row.p50)} ms, p95 {fmt(row.p95)} ms, {row.seconds:.0f} s",
                    flush=True,
                )
                for error in row.errors[:3]:
                    print(f"  error: {error}", flush=True)
    finally:
        await piper.close()
    print()
    print_table(rows)
    print(
        f"\nmachine: {os.cpu_count()} cores (psutil: {psutil.cpu_count(logical=False)} "
        f"physical); {len(lines)} caller lines per call, calls started {STAGGER_S * 1000:.0f} ms "
        "apart; CPU is % of one core over first call start -> last call end; bench CPU is "
        "this process (callers + provider fakes); 1 instance is reached directly, 2 through "
        "haproxy"
    )


if __name__ == "__main__":
    asyncio.run(main())
