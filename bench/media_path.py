"""Cost of the media path alone: N calls streaming line silence, nobody speaking.

Each simulated line sends one 20 ms G.711 frame every 20 ms (JSON + base64, like Telnyx);
the server decodes, runs the VAD gate and keeps the call. After the greetings have played
we measure the server's CPU (% of one core) and memory per call.

    .venv/bin/python bench/media_path.py --calls 1 10 50 100 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

import numpy as np
import websockets

sys.path.insert(0, os.path.dirname(__file__))
from _server import ServerProcess, running_server

from voxagent.audio.g711 import codec_for
from voxagent.channels.telnyx import media_protocol as proto


def line_noise_frames(n: int) -> list[bytes]:
    """Quiet line noise (±8 LSB, about -70 dBFS), like a real idle phone line."""
    rng = np.random.default_rng(7)
    codec = codec_for("PCMU")
    return [codec.encode(rng.integers(-8, 9, 160).astype(np.int16)) for _ in range(n)]


async def idle_line(url: str, stop_at: float, frames: list[bytes]) -> int:
    stream_id = str(uuid.uuid4())
    sent = 0
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(proto.connected_message())
        await ws.send(
            proto.start_message(
                stream_id,
                f"v3:{uuid.uuid4().hex}",
                call_session_id=str(uuid.uuid4()),
                from_number="+15550001111",
                to_number="+15550002222",
            )
        )

        async def drain() -> None:
            async for _ in ws:
                pass

        reader = asyncio.create_task(drain())
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() < stop_at:
            payload = frames[sent % len(frames)]
            await ws.send(
                proto.inbound_media_message(
                    stream_id,
                    payload,
                    chunk=sent + 1,
                    timestamp=sent * 20,
                    sequence_number=sent + 2,
                )
            )
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * 0.02 - loop.time()))
        reader.cancel()
    return sent


async def measure(
    server: ServerProcess, calls: int, seconds: float, settle: float
) -> dict[str, float]:
    frames = line_noise_frames(50)
    loop = asyncio.get_running_loop()
    # One warm-up call first, so one-time costs (model sessions, the cached greeting, memory
    # arenas) are not charged to the calls being measured.
    await idle_line(server.ws_url, loop.time() + settle, frames)
    rss_before = server.rss_mb()
    stop_at = loop.time() + settle + seconds
    tasks = [asyncio.create_task(idle_line(server.ws_url, stop_at, frames)) for _ in range(calls)]
    await asyncio.sleep(settle)  # greetings synthesized and played
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, t1 = server.cpu_seconds(), time.monotonic()
    rss_during = server.rss_mb()
    sent = sum(await asyncio.gather(*tasks))
    cpu_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
    return {
        "calls": calls,
        "cpu_pct_core": cpu_pct,
        "cpu_pct_per_call": cpu_pct / calls,
        "mb_per_call": (rss_during - rss_before) / calls,
        "frames_per_s": sent / (settle + seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()
    header = ("calls", "server CPU % core", "% core / call", "MB / call", "frames/s in")
    print("{:>6} {:>18} {:>14} {:>10} {:>12}".format(*header))
    for n in args.calls:
        # Nobody speaks on these lines, so the agent's "are you still there?" would start
        # talking mid-measurement: this benchmark measures listening, so it is turned off.
        with running_server(NO_INPUT_TIMEOUT_S="0") as server:
            row = asyncio.run(measure(server, n, args.seconds, args.settle))
        print(
            f"{row['calls']:>6.0f} {row['cpu_pct_core']:>18.1f} {row['cpu_pct_per_call']:>14.2f} "
            f"{row['mb_per_call']:>10.2f} {row['frames_per_s']:>12.0f}"
        )


if __name__ == "__main__":
    main()
