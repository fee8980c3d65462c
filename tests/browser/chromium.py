"""Debian's Chromium for the browser tests: its flags, a fake microphone made with Piper, and
launching it through Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxagent.audio.resample import resample
from voxagent.audio.wav import write_wav

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

HAVE_CHROMIUM = bool(shutil.which(CHROMIUM)) or Path(CHROMIUM).exists()

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # WebRTC on loopback: candidates on 127.0.0.1, as plain addresses (not mDNS names)
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def speech_wav(path: Path, parts: Sequence[str | float], *, rate: int = 48000) -> Path:
    """A fake microphone: each ``str`` spoken by Piper, each ``float`` that many seconds of
    silence, at ``rate`` (Chromium loops the file)."""
    from voxagent.providers.tts.piper import PiperVoiceSynthesizer

    voice = PiperVoiceSynthesizer(workers=1)
    chunks = []
    for part in parts:
        if isinstance(part, str):
            pcm = voice.render_blocking(part)
            chunks.append(resample(np.asarray(pcm, dtype=np.int16), voice.sample_rate, rate))
        else:
            chunks.append(np.zeros(int(part * rate), dtype=np.int16))
    audio = (np.concatenate(chunks).astype(np.float32) * 0.7).astype(np.int16)
    write_wav(path, audio, rate)
    return path


async def launch(playwright: object, wav: Path | None = None) -> object:
    flags = list(FLAGS)
    if wav is not None:
        flags.append(f"--use-file-for-fake-audio-capture={wav}")
    return await playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=CHROMIUM, headless=True, args=flags
    )
