"""N simultaneous simulated phone calls against a real server on the offline providers.

Every call runs the booking script and talks over the agent once (barge-in), over the Telnyx
media-stream protocol in real time. Prints, per N: response latency (caller speech end → first
agent audio, measured at the caller), greeting latency, barge-in latency (caller starts talking
→ ``clear`` arrives), server CPU (% of one core, averaged over the calls) and peak RSS.

    .venv/bin/python bench/calls.py --calls 1 5 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(__file__))
from _server import running_server

from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.simulator.caller import (
    DEFAULT_SCRIPT,
    SimulationResult,
    percentile,
    simulate_call,
)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


@dataclass
class Row:
    n: int
    ok: int
    turns: int
    p50: float | None
    p95: float | None
    greeting: float | None
    clear_p50: float | None
    clear_p95: float | None
    stopped: int
    cpu: float
    rss: float
    errors: list[str]

    def line(self) -> str:
        return (
            f"{self.n:>5} {self.ok:>3} {self.turns:>5} {fmt(self.p50):>8} {fmt(self.p95):>8} "
            f"{fmt(self.greeting):>8} {fmt(self.clear_p50):>12} {fmt(self.clear_p95):>12} "
            f"{self.stopped:>7} {self.cpu:>12.1f} {self.rss:>11.0f}"
        )


async def run(n: int, tts: PiperVoiceSynthesizer) -> Row:
    with running_server() as server:
        cpu0, t0 = server.cpu_seconds(), time.monotonic()

        async def one(i: int) -> SimulationResult:
            await asyncio.sleep(i * 0.37)  # callers do not all dial in the same millisecond
            return await simulate_call(
                server.ws_url,
                list(DEFAULT_SCRIPT),
                barge_in=True,
                barge_in_turn=1,
                tts=tts,
                transcribe=False,
                hangup_after_s=1.5,
            )

        results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        cpu1, t1 = server.cpu_seconds(), time.monotonic()
        peak = server.peak_rss_mb()
    ok = [r for r in results if isinstance(r, SimulationResult)]
    barges = [r.barge_in for r in ok if r.barge_in is not None]
    responses = [ms for r in ok for ms in r.response_times_ms]
    clears = [b.clear_ms for b in barges if b.clear_ms is not None]
    return Row(
        n=n,
        ok=len(ok),
        turns=len(responses),
        p50=percentile(responses, 50),
        p95=percentile(responses, 95),
        greeting=percentile([r.greeting_ms for r in ok if r.greeting_ms is not None], 50),
        clear_p50=percentile(clears, 50),
        clear_p95=percentile(clears, 95),
        stopped=sum(1 for b in barges if b.agent_audio_stopped),
        cpu=100 * (cpu1 - cpu0) / (t1 - t0),
        rss=peak,
        errors=[repr(r) for r in results if isinstance(r, BaseException)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 5, 10])
    args = parser.parse_args()
    tts = PiperVoiceSynthesizer()
    header = (
        "calls",
        "ok",
        "turns",
        "resp p50",
        "resp p95",
        "greeting",
        "barge-in p50",
        "barge-in p95",
        "stopped",
        "server CPU %",
        "peak RSS MB",
    )
    print("{:>5} {:>3} {:>5} {:>8} {:>8} {:>8} {:>12} {:>12} {:>7} {:>12} {:>11}".format(*header))
    for n in args.calls:
        row = asyncio.run(run(n, tts))
        print(row.line(), flush=True)
        for error in row.errors:
            print("   error:", error)
    print("latencies in ms; response = caller speech end → first agent audio (includes the")
    print("end-of-turn silence window, END_OF_TURN_SILENCE_MS=600 by default)")


if __name__ == "__main__":
    main()
