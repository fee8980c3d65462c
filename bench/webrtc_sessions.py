"""N simultaneous browser sessions with their audio over WebRTC, against a real server.

Each session is a page simulated in this process: Socket.IO for the events
(:class:`~voxagent.simulator.browser.BrowserCaller`) and an aiortc peer for the audio
(:class:`~voxagent.simulator.webrtc_peer.PagePeer`), both on loopback only. It says its
lines (Piper, 16 kHz) into its microphone track in real time, waits for the agent's answer on
the agent's track, and barges in once (on the data channel). Prints per N: connect time,
response p50/p95 (the end of the page's speech → the first loud frame of the agent's track),
barge-in (``barge_in`` sent → ``barge_in_ack``, and → the agent's track silent at the page),
server CPU per peer and MB per peer, and the CPU of this process (the simulated pages: Opus in
Python for every peer, so at 25 peers it, not the server, is what saturates two cores).

``--soak-minutes M`` instead keeps N sessions talking for M minutes (each conversation ends
and a new one starts, so peers come and go) and prints the server's RSS every 30 s and its
slope (MB per minute, least squares over the second half).

    .venv/bin/python bench/webrtc_sessions.py --sessions 1 10 25
    .venv/bin/python bench/webrtc_sessions.py --sessions 10 --soak-minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import psutil

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))  # the fakes
from _server import ServerProcess, cloud_env, running_server

from fakes.deepgram_server import FakeDeepgram
from fakes.llm_servers import FakeAnthropic, booking_policy
from fakes.tts_servers import FakeElevenLabs
from voxagent.channels.webrtc.host_addresses import restrict_host_addresses
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.simulator.browser import BrowserCaller, get_token, render_line
from voxagent.simulator.caller import percentile
from voxagent.simulator.webrtc_peer import PagePeer

LINES = [
    "i would like to book an appointment",
    "my dog's name is charlie",
    "it is for a vaccination",
]
QUIET_S = 0.8


@dataclass
class Session:
    connect_ms: list[float] = field(default_factory=list)
    responses_ms: list[float] = field(default_factory=list)
    barge_ack_ms: list[float] = field(default_factory=list)
    barge_silent_ms: list[float] = field(default_factory=list)
    conversations: int = 0


def quiet_for(peer: PagePeer) -> float:
    last = peer.loud_frames[-1] if peer.loud_frames else 0.0
    return time.monotonic() - last


async def until_quiet(peer: PagePeer, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        quiet = quiet_for(peer)
        if quiet >= QUIET_S:
            return
        await asyncio.sleep(QUIET_S - quiet)


async def conversation(
    url: str, user: str, lines: list[bytes], result: Session, barge: bool
) -> None:
    token = await get_token(url, user)
    caller = BrowserCaller(url, token)
    await caller.connect()
    peer: PagePeer | None = None
    try:
        await caller.start()
        peer = PagePeer(url, token, caller.session_id or "")
        result.connect_ms.append(1000 * await peer.connect(within_s=15))
        await peer.wait_channel_open()
        await asyncio.sleep(0.5)
        await until_quiet(peer)
        for turn, pcm in enumerate(lines):
            await peer.mic.queue(pcm).wait()
            spoke = time.monotonic()
            heard = await peer.wait_loud(after=spoke, within_s=20)
            result.responses_ms.append(1000 * (heard - spoke))
            if barge and turn == 0:
                await asyncio.sleep(0.3)
                mark = len(peer.events)
                sent = time.monotonic()
                peer.send("barge_in", {})
                await peer.wait_for("barge_in_ack", after=mark, within_s=5)
                acked = next(t for n, _, t in peer.events[mark:] if n == "barge_in_ack")
                result.barge_ack_ms.append(1000 * (acked - sent))
                await asyncio.sleep(0.6)
                loud_after = [t for t in peer.loud_frames if t >= sent]
                result.barge_silent_ms.append(
                    1000 * ((loud_after[-1] if loud_after else sent) - sent)
                )
            await until_quiet(peer)
        result.conversations += 1
        await caller.emit("end", {})
        await caller.wait_for("session_ended", within_s=10)
    finally:
        if peer is not None:
            await peer.close()
        await caller.close()


async def stack_env(stack: str, fakes: AsyncExitStack, n: int) -> dict[str, str]:
    env = {
        "BROWSER_PERSONA": "maria",
        "TOKENS_PER_MINUTE_PER_IP": "0",
        "STUN_SERVERS": "",
        "WEBRTC_HOST_ADDRESSES": "127.0.0.1",
        "WEBRTC_MAX_PEERS": str(max(100, 2 * n)),
    }
    if stack == "cloud":
        deepgram = await fakes.enter_async_context(
            FakeDeepgram(api_key="dg", transcripts=LINES * 400, script_per_connection=True)
        )
        claude = await fakes.enter_async_context(FakeAnthropic(booking_policy("en"), api_key="ant"))
        eleven = await fakes.enter_async_context(FakeElevenLabs(api_key="el"))
        env |= cloud_env(deepgram.url, claude.url, eleven.base_url)
    return env


async def run(stack: str, n: int, lines: list[bytes]) -> dict[str, Any]:
    async with AsyncExitStack() as fakes:
        env = await stack_env(stack, fakes, n)
        with running_server(**env) as server:
            url = f"http://127.0.0.1:{server.port}"
            rss0 = server.rss_mb()
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            me = psutil.Process()
            mine0 = sum(me.cpu_times()[:2])
            results = [Session() for _ in range(n)]

            async def one(i: int) -> None:
                await asyncio.sleep(i * 0.2)
                await conversation(url, f"rtc-bench-{i}", lines, results[i], barge=True)

            outcome = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
            cpu1, t1 = server.cpu_seconds(), time.monotonic()
            mine1 = sum(me.cpu_times()[:2])
            peak = server.peak_rss_mb()
    responses = [ms for r in results for ms in r.responses_ms]
    cpu = 100 * (cpu1 - cpu0) / (t1 - t0)
    return {
        "stack": stack,
        "peers": n,
        "ok": sum(r.conversations for r in results),
        "connect_p50_ms": percentile([ms for r in results for ms in r.connect_ms], 50),
        "response_p50_ms": percentile(responses, 50),
        "response_p95_ms": percentile(responses, 95),
        "barge_ack_p50_ms": percentile([ms for r in results for ms in r.barge_ack_ms], 50),
        "barge_silent_p50_ms": percentile([ms for r in results for ms in r.barge_silent_ms], 50),
        "barge_silent_p95_ms": percentile([ms for r in results for ms in r.barge_silent_ms], 95),
        "server_cpu_pct": round(cpu, 1),
        "cpu_pct_per_peer": round(cpu / n, 2),
        "pages_cpu_pct": round(100 * (mine1 - mine0) / (t1 - t0), 1),
        "mb_per_peer": round(max(0.0, peak - rss0) / n, 1),
        "errors": [repr(e) for e in outcome if isinstance(e, BaseException)][:3],
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MB) points."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


async def soak(stack: str, n: int, minutes: float, lines: list[bytes]) -> None:
    async with AsyncExitStack() as fakes:
        env = await stack_env(stack, fakes, n)
        with running_server(**env) as server:
            url = f"http://127.0.0.1:{server.port}"
            end = time.monotonic() + minutes * 60
            results = [Session() for _ in range(n)]
            failures: list[str] = []

            async def talker(i: int) -> None:
                await asyncio.sleep(i * 0.3)
                round_ = 0
                while time.monotonic() < end:
                    try:
                        await conversation(url, f"soak-{i}-{round_}", lines, results[i], False)
                    except Exception as exc:  # counted, and the page starts again
                        failures.append(repr(exc))
                    round_ += 1

            async def sampler(server: ServerProcess) -> list[tuple[float, float]]:
                start, points = time.monotonic(), []
                while time.monotonic() < end:
                    minute = (time.monotonic() - start) / 60
                    points.append((minute, server.rss_mb()))
                    print(f"  {minute:5.1f} min  RSS {points[-1][1]:7.1f} MB", flush=True)
                    await asyncio.sleep(30)
                return points

            sampling = asyncio.create_task(sampler(server))
            await asyncio.gather(*(talker(i) for i in range(n)))
            points = await sampling
    half = points[len(points) // 2 :]
    print(
        f"soak {stack}, {n} peers, {minutes:g} min: {sum(r.conversations for r in results)} "
        f"conversations, {sum(len(r.responses_ms) for r in results)} turns, "
        f"{len(failures)} failures; RSS {points[0][1]:.0f} → {points[-1][1]:.0f} MB, "
        f"slope over the second half {slope(half):+.2f} MB/min (whole run {slope(points):+.2f})"
    )
    if failures:
        print("  failures:", failures[:3])


def fmt(value: object) -> str:
    return "-" if value is None else f"{value:.0f}" if isinstance(value, float) else str(value)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 25])
    parser.add_argument("--stacks", nargs="+", default=["cloud", "offline"])
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    args = parser.parse_args()
    restrict_host_addresses(["127.0.0.1"])  # this process's peers: loopback, like the server's
    voice = await asyncio.to_thread(PiperVoiceSynthesizer)
    lines = [await asyncio.to_thread(render_line, voice, text) for text in LINES]
    await voice.close()
    if args.soak_minutes:
        await soak(args.stacks[0], args.sessions[0], args.soak_minutes, lines)
        return
    columns = [
        "stack",
        "peers",
        "ok",
        "connect_p50_ms",
        "response_p50_ms",
        "response_p95_ms",
        "barge_ack_p50_ms",
        "barge_silent_p50_ms",
        "barge_silent_p95_ms",
        "server_cpu_pct",
        "cpu_pct_per_peer",
        "mb_per_peer",
        "pages_cpu_pct",
    ]
    print(" | ".join(columns))
    for stack in args.stacks:
        for n in args.sessions:
            row = await run(stack, n, lines)
            print(" | ".join(fmt(row[c]) for c in columns), flush=True)
            if row["errors"]:
                print("  errors:", row["errors"])


if __name__ == "__main__":
    asyncio.run(main())
