"""Response latency on the cloud pipeline (Deepgram → Claude → ElevenLabs), with and without
speculative responses, every provider a loopback fake with a realistic delay.

The fakes answer instantly except where told: Claude's first token after ``--llm-ttft``
seconds and ElevenLabs' first audio after ``--tts-ttfb`` seconds (typical of the real
services). So the numbers show what our pipeline adds, and what speculation saves, not the
vendors' speed. Each call is the Spanish booking dialogue, spoken by a Piper caller in real
time over the Telnyx media-stream protocol.

    .venv/bin/python bench/cloud_latency.py --calls 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.request
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))  # the fakes
from _server import cloud_env, running_server

from fakes.deepgram_server import FakeDeepgram
from fakes.dialogues import spanish_booking_script
from fakes.llm_servers import FakeAnthropic, booking_policy
from fakes.tts_servers import FakeElevenLabs
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.simulator.caller import percentile, simulate_call


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def run_mode(
    speculative: bool, calls: int, llm_ttft: float, tts_ttfb: float
) -> dict[str, Any]:
    voice = await asyncio.to_thread(PiperVoiceSynthesizer)
    turns: list[dict[str, Any]] = []
    heard: list[float] = []
    async with (
        FakeDeepgram(api_key="dg") as deepgram,
        FakeAnthropic(booking_policy("es"), api_key="ant", first_byte_delay=llm_ttft) as claude,
        FakeElevenLabs(api_key="el", first_byte_delay=tts_ttfb) as eleven,
    ):
        env = cloud_env(deepgram.url, claude.url, eleven.base_url) | {
            "TELNYX_TRANSCRIPTION_LANG": "es",
            "SPECULATIVE_RESPONSES": "true" if speculative else "false",
        }
        with running_server(**env) as server:
            http = f"http://127.0.0.1:{server.port}"
            for _ in range(calls):
                lines = spanish_booking_script()
                deepgram.transcripts = list(lines)
                result = await simulate_call(server.ws_url, lines, transcribe=False, tts=voice)
                heard += result.response_times_ms
                record = await asyncio.to_thread(
                    get_json, f"{http}/api/calls/{result.call_control_id}"
                )
                turns += [t for t in record["turns"] if t["user_text"]]
    await voice.close()

    def p50(key: str) -> float | None:
        return percentile([t[key] for t in turns if t.get(key) is not None], 50)

    return {
        "mode": "speculative" if speculative else "plain",
        "turns": len(turns),
        "heard_p50": percentile(heard, 50),
        "heard_p95": percentile(heard, 95),
        "sent_p50": p50("first_audio_sent_ms"),
        "stt": p50("stt_final_after_turn_ms"),
        "llm": p50("llm_ttft_ms"),
        "tts": p50("tts_ttfb_ms"),
        "hits": sum(1 for t in turns if t.get("speculative")),
    }


def fmt(value: object) -> str:
    return "-" if value is None else f"{value:.0f}" if isinstance(value, float) else str(value)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2, help="calls per mode")
    parser.add_argument("--llm-ttft", type=float, default=0.4, help="Claude's first token (s)")
    parser.add_argument("--tts-ttfb", type=float, default=0.15, help="voice's first audio (s)")
    args = parser.parse_args()
    rows = [
        await run_mode(speculative, args.calls, args.llm_ttft, args.tts_ttfb)
        for speculative in (False, True)
    ]
    print(
        f"\nfake Claude first token {args.llm_ttft * 1000:.0f} ms, "
        f"fake ElevenLabs first audio {args.tts_ttfb * 1000:.0f} ms, {args.calls} call(s) each"
    )
    columns = {
        "mode": "mode",
        "turns": "turns",
        "heard_p50": "heard p50",
        "heard_p95": "heard p95",
        "sent_p50": "sent p50",
        "stt": "stt after turn",
        "llm": "llm ttft",
        "tts": "tts ttfb",
        "hits": "speculative",
    }
    print(" | ".join(columns.values()))
    for row in rows:
        print(" | ".join(fmt(row[key]) for key in columns))


if __name__ == "__main__":
    asyncio.run(main())
