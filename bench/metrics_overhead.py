"""What Prometheus costs the server: CPU with N idle calls, scraped every second vs not at all.

N simulated phone lines stream quiet line noise (nobody speaks; see media_path.py) to one
server for the whole run. After the greetings, phases alternate, not scraped then scraped
(``GET /metrics`` with an API key every ``--interval`` s, as Prometheus would), ``--pairs``
times, so that a drift in the calls' own cost falls on both sides. Each phase's server CPU
is measured in % of one core; the difference is what the scrapes cost. Last, a burst of
back-to-back scrapes gives the server's CPU per scrape directly (less noisy).

    .venv/bin/python bench/metrics_overhead.py --calls 50 --phase 10 --pairs 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from _server import ServerProcess, running_server
from media_path import idle_line, line_noise_frames

API_KEY = "bench-metrics-key"
TARGET_PCT = 2.0
BURST = 100
"""The scrapes may cost at most this much of one core."""


class Scraper:
    def __init__(self, url: str, interval: float) -> None:
        self.url = url
        self.interval = interval
        self.latencies: list[float] = []
        self.sizes: list[int] = []

    async def run(self, until: float, *, count: int | None = None) -> None:
        """Scrape every ``interval`` until ``until``; or ``count`` times back to back."""
        loop = asyncio.get_running_loop()
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(headers=headers, timeout=5) as client:
            start = loop.time()
            n = 0
            while loop.time() < until if count is None else n < count:
                t0 = time.perf_counter()
                response = await client.get(self.url)
                self.latencies.append(time.perf_counter() - t0)
                response.raise_for_status()
                self.sizes.append(len(response.content))
                n += 1
                if count is None:
                    await asyncio.sleep(max(0.0, start + n * self.interval - loop.time()))


async def cpu_pct(server: ServerProcess, seconds: float) -> float:
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = server.cpu_seconds(), time.monotonic()
    return 100 * (cpu1 - cpu0) / (t1 - t0)


async def measure(
    server: ServerProcess, calls: int, phase: float, pairs: int, settle: float, interval: float
) -> tuple[list[float], list[float], Scraper, float]:
    frames = line_noise_frames(50)
    loop = asyncio.get_running_loop()
    await idle_line(server.ws_url, loop.time() + settle, frames)  # one-time costs first
    scraper = Scraper(f"http://127.0.0.1:{server.port}/metrics", interval)
    await scraper.run(loop.time() + 2 * interval)  # the first render builds its caches
    scraper.latencies.clear()
    scraper.sizes.clear()
    stop_at = loop.time() + settle + 2 * pairs * phase + 10  # and the burst
    lines = [asyncio.create_task(idle_line(server.ws_url, stop_at, frames)) for _ in range(calls)]
    await asyncio.sleep(settle)  # greetings synthesized and played
    quiet: list[float] = []
    scraped: list[float] = []
    for _ in range(pairs):
        quiet.append(await cpu_pct(server, phase))
        scraping = asyncio.create_task(scraper.run(loop.time() + phase))
        scraped.append(await cpu_pct(server, phase))
        await scraping
    # A burst of back-to-back scrapes: the server's CPU per scrape, above the calls' own
    # rate (far less noisy than the difference of two phases).
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await Scraper(scraper.url, 0).run(0, count=BURST)
    cpu1, t1 = server.cpu_seconds(), time.monotonic()
    baseline = statistics.mean(quiet) / 100 * (t1 - t0)
    per_scrape_ms = 1000 * max(0.0, cpu1 - cpu0 - baseline) / BURST
    await asyncio.gather(*lines)
    return quiet, scraped, scraper, per_scrape_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--phase", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--pairs", type=int, default=3, help="(not scraped, scraped) pairs")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()
    # Nobody speaks on these lines: the agent's "are you still there?" is turned off.
    with running_server(NO_INPUT_TIMEOUT_S="0", API_KEYS=API_KEY) as server:
        quiet, scraped, scraper, per_scrape_ms = asyncio.run(
            measure(server, args.calls, args.phase, args.pairs, args.settle, args.interval)
        )
    print(
        f"{args.calls} idle calls, {args.pairs} x ({args.phase:.0f} s not scraped, "
        f"{args.phase:.0f} s scraped every {args.interval:g} s)"
    )
    print(
        "{:>6} {:>22} {:>22} {:>12}".format("pair", "not scraped % core", "scraped % core", "diff")
    )
    for i, (off, on) in enumerate(zip(quiet, scraped, strict=True), 1):
        print(f"{i:>6} {off:>22.1f} {on:>22.1f} {on - off:>+12.2f}")
    off, on = statistics.mean(quiet), statistics.mean(scraped)
    diff = on - off
    print(f"{'mean':>6} {off:>22.1f} {on:>22.1f} {diff:>+12.2f}")
    latencies = sorted(scraper.latencies)
    p50 = latencies[len(latencies) // 2] * 1000
    worst = latencies[-1] * 1000
    size = statistics.mean(scraper.sizes) / 1024
    print(
        f"scrapes: {len(latencies)}, {size:.1f} KiB each, response p50 {p50:.1f} ms, "
        f"max {worst:.1f} ms"
    )
    verdict = "within" if diff < TARGET_PCT else "OVER"
    print(
        f"scraping every {args.interval:g} s costs {diff:+.2f} % of one core "
        f"({verdict} the {TARGET_PCT:g} % target)"
    )
    burst_pct = per_scrape_ms / 10 / args.interval
    print(
        f"{BURST} back-to-back scrapes: {per_scrape_ms:.2f} ms of server CPU each, i.e. "
        f"{burst_pct:.2f} % of one core at one scrape every {args.interval:g} s"
    )


if __name__ == "__main__":
    main()
