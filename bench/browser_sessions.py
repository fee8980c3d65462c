"""N simultaneous browser sessions (Socket.IO ``/sandra``) against a real server.

Each session is a page simulated by :class:`voxagent.simulator.browser.BrowserCaller`: it gets
a token, talks (Piper-spoken lines as 40 ms chunks of 16 kHz PCM, in real time), reports what it
played, and barges in once. Two stacks: the offline default (PocketSphinx, the scripted agent,
Piper) and the cloud pipeline on loopback fakes (Deepgram in script mode, Claude, ElevenLabs
``pcm_16000``; no added provider latency). Prints per N: response p50/p95 (the page's end of
speech → first agent audio at the page), barge-in (``barge_in`` sent → ``barge_in_ack``),
server CPU (% of one core) and per session, and RSS per session.

    .venv/bin/python bench/browser_sessions.py --sessions 1 10 25 --stacks offline cloud
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from contextlib import AsyncExitStack
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))  # the fakes
from _server import cloud_env, running_server

from fakes.deepgram_server import FakeDeepgram
from fakes.llm_servers import FakeAnthropic, booking_policy
from fakes.tts_servers import FakeElevenLabs
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.simulator.browser import BrowserResult, simulate_browser_session
from voxagent.simulator.caller import percentile

LINES = [
    "i would like to book an appointment",
    "my dog's name is charlie",
    "it is for a vaccination",
    "no thank you goodbye",
]


async def run(stack: str, n: int, voice: PiperVoiceSynthesizer) -> dict[str, Any]:
    async with AsyncExitStack() as fakes:
        env = {"BROWSER_PERSONA": "maria", "TOKENS_PER_MINUTE_PER_IP": "0"}
        if stack == "cloud":
            deepgram = await fakes.enter_async_context(
                FakeDeepgram(api_key="dg", transcripts=LINES * 3, script_per_connection=True)
            )
            claude = await fakes.enter_async_context(
                FakeAnthropic(booking_policy("en"), api_key="ant")
            )
            eleven = await fakes.enter_async_context(FakeElevenLabs(api_key="el"))
            env |= cloud_env(deepgram.url, claude.url, eleven.base_url)
        with running_server(**env) as server:
            url = f"http://127.0.0.1:{server.port}"
            rss0 = server.rss_mb()
            cpu0, t0 = server.cpu_seconds(), time.monotonic()

            async def one(i: int) -> BrowserResult:
                await asyncio.sleep(i * 0.2)  # pages do not all open in the same millisecond
                return await simulate_browser_session(
                    url,
                    LINES,
                    tts=voice,
                    user_id=f"bench-{i}",
                    persona="maria",
                    language="en",
                    barge_in_turn=0,
                )

            results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
            cpu1, t1 = server.cpu_seconds(), time.monotonic()
            peak = server.peak_rss_mb()
    ok = [r for r in results if isinstance(r, BrowserResult)]
    responses = [ms for r in ok for ms in r.response_times_ms]
    barge = [r.barge_in_ack_ms for r in ok if r.barge_in_ack_ms is not None]
    cpu = 100 * (cpu1 - cpu0) / (t1 - t0)
    return {
        "stack": stack,
        "sessions": n,
        "ok": len(ok),
        "turns": len(responses),
        "response_p50_ms": percentile(responses, 50),
        "response_p95_ms": percentile(responses, 95),
        "barge_in_p50_ms": percentile(barge, 50),
        "barge_in_p95_ms": percentile(barge, 95),
        "server_cpu_pct": round(cpu, 1),
        "cpu_pct_per_session": round(cpu / n, 2),
        "mb_per_session": round(max(0.0, peak - rss0) / n, 1),
        "peak_rss_mb": round(peak),
        "errors": [repr(r) for r in results if isinstance(r, BaseException)][:3],
    }


def fmt(value: object) -> str:
    return "-" if value is None else f"{value:.0f}" if isinstance(value, float) else str(value)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 25])
    parser.add_argument("--stacks", nargs="+", default=["offline", "cloud"])
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    voice = await asyncio.to_thread(PiperVoiceSynthesizer)
    rows = []
    columns = [
        "stack",
        "sessions",
        "ok",
        "turns",
        "response_p50_ms",
        "response_p95_ms",
        "barge_in_p50_ms",
        "barge_in_p95_ms",
        "server_cpu_pct",
        "cpu_pct_per_session",
        "mb_per_session",
    ]
    print(" | ".join(columns))
    for stack in args.stacks:
        for n in args.sessions:
            row = await run(stack, n, voice)
            rows.append(row)
            print(" | ".join(fmt(row[c]) for c in columns), flush=True)
            if row["errors"]:
                print("  errors:", row["errors"])
    await voice.close()
    if args.json:
        text = json.dumps(rows, indent=2)
        await asyncio.to_thread(lambda: open(args.json, "w").write(text))  # noqa: SIM115


if __name__ == "__main__":
    asyncio.run(main())
