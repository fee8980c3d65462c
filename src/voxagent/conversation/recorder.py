"""A call's audio as a stereo recording: the caller on the left, the agent on the right.

The caller's stream is continuous (the phone sends 20 ms every 20 ms, silence included), so
it is the recording's clock: agent audio is written where the caller's track stands when it
is sent, never earlier than where the previous agent audio ended. A barge-in truncates what
was sent ahead but not played, so the recording holds what the caller could hear.

Both tracks are kept as the call's own bytes (one byte a sample for a phone call) and decoded
only when the WAV is made, after the call.
"""

from __future__ import annotations

import numpy as np

from voxagent.audio.format import AudioFormat
from voxagent.audio.wav import wav_bytes

__all__ = ["CallRecorder"]


class CallRecorder:
    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self.sample_rate = fmt.sample_rate
        self._width = fmt.bytes_per_sample
        self._caller = bytearray()
        self._agent = bytearray()
        """The agent's track, on the caller's clock; gaps hold the format's silence."""

    def caller(self, audio: bytes) -> None:
        self._caller += audio

    def agent(self, audio: bytes) -> None:
        start = max(len(self._agent), len(self._caller))
        if start > len(self._agent):
            self._agent += self.format.silence(start - len(self._agent))
        self._agent += audio

    def cut_agent(self) -> None:
        """Barge-in: agent audio not yet due at the caller's clock was never heard."""
        del self._agent[len(self._caller) :]

    @property
    def duration_ms(self) -> int:
        samples = max(len(self._caller), len(self._agent)) // self._width
        return samples * 1000 // self.sample_rate

    def stereo(self) -> np.ndarray:
        length = max(len(self._caller), len(self._agent)) // self._width
        out = np.zeros((length, 2), dtype=np.int16)
        caller = self.format.decode(bytes(self._caller))
        agent = self.format.decode(bytes(self._agent))
        out[: len(caller), 0] = caller
        out[: len(agent), 1] = agent
        return out

    def wav(self) -> bytes:
        return wav_bytes(self.stereo(), self.sample_rate)
