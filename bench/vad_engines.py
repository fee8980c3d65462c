"""Which Silero back-end costs less per 32 ms window? (It decides the default VAD_ENGINE.)

.venv/bin/python bench/vad_engines.py
"""

from __future__ import annotations

import time

import numpy as np

from voxagent.audio.vad import load_vad


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    rng = np.random.default_rng(0)
    print(
        f"{'engine':>12} {'rate':>6} {'µs / window':>12} {'% core while speaking':>22}"
        f" {'MB / instance':>14}"
    )
    for engine in ("silero", "silero-lite", "pysilero"):
        for rate in (8000, 16000):
            vad = load_vad(engine, rate)
            window = (rng.standard_normal(vad.window_samples) * 3000).astype(np.int16)
            for _ in range(20):
                vad(window)
            n = 300
            start = time.perf_counter()
            for _ in range(n):
                vad(window)
            per = (time.perf_counter() - start) / n
            window_s = vad.window_samples / rate
            rss = _rss_mb()
            extra = [load_vad(engine, rate) for _ in range(10)]
            per_instance = (_rss_mb() - rss) / len(extra)
            print(
                f"{engine:>12} {rate:>6} {per * 1e6:>12.0f} {100 * per / window_s:>22.2f}"
                f" {per_instance:>14.2f}"
            )


if __name__ == "__main__":
    main()
