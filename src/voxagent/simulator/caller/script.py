"""The caller's script: what it says, and its speech rendered to line frames before dialling.

Rendering up front (synthesize, trim, scale, resample, encode, cut) leaves the 50 Hz send
loop nothing to do per frame but pick the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from voxagent.audio.g711 import G711Codec
from voxagent.audio.resample import resample
from voxagent.simulator.caller.playout import FRAME_BYTES, LINE_RATE, split_frames

__all__ = ["DEFAULT_SCRIPT", "SPEECH_GAIN", "SpeechRenderer", "trim_silence"]

Int16Array = npt.NDArray[np.int16]

DEFAULT_SCRIPT: list[str] = [
    # Phrases PocketSphinx hears reliably in Piper's voice over G.711 (measured; "luna",
    # "a vaccination" alone and "three p m" were often misheard, "three in the afternoon" not).
    "i would like to book an appointment",
    "my dog's name is charlie",
    "it is for a vaccination",
    "monday at three in the afternoon",
    "yes that is correct",
    "no thank you goodbye",
]

SPEECH_GAIN = 0.5
"""Piper normalises to full scale; -6 dB leaves headroom for the resampler's overshoot
and is closer to a real handset level."""


def trim_silence(
    pcm: Int16Array, sample_rate: int, *, threshold: float = 0.02, margin_s: float = 0.03
) -> Int16Array:
    """Drop leading/trailing near-silence (below ``threshold`` of the peak) from TTS output.

    Piper pads ~0.2 s of silence after a sentence; sending it would make the measured
    response latency include our own padding instead of starting at the caller's last word.
    """
    if len(pcm) == 0:
        return pcm
    magnitude = np.abs(pcm.astype(np.int32))
    loud = np.flatnonzero(magnitude > threshold * int(magnitude.max()))
    if len(loud) == 0:
        return pcm[:0]
    margin = int(margin_s * sample_rate)
    return pcm[max(0, int(loud[0]) - margin) : int(loud[-1]) + 1 + margin]


class SpeechRenderer(Protocol):
    """What the caller needs from a TTS engine (``PiperVoiceSynthesizer`` fits)."""

    sample_rate: int

    def render_blocking(self, text: str) -> npt.NDArray[Any]: ...


@dataclass(slots=True)
class _Utterance:
    index: int
    text: str
    frames: list[bytes]
    barge_in: bool
    started_at: float | None = None
    ended_at: float | None = None


async def _render_script(
    utterances: Sequence[str],
    tts: SpeechRenderer,
    codec: G711Codec,
    barge_in_turn: int | None,
) -> list[_Utterance]:
    """Synthesize, resample, encode and cut every utterance before dialling."""
    out: list[_Utterance] = []
    for index, text in enumerate(utterances):
        audio = await asyncio.to_thread(tts.render_blocking, text)
        pcm = np.asarray(audio, dtype=np.int16)
        pcm = trim_silence(pcm, tts.sample_rate)
        scaled = np.rint(pcm.astype(np.float32) * SPEECH_GAIN).astype(np.int16)
        line = resample(scaled, tts.sample_rate, LINE_RATE)
        frames = split_frames(codec.encode(line), FRAME_BYTES, codec.silence_byte)
        out.append(_Utterance(index, text, frames, barge_in=index == barge_in_turn))
    return out
