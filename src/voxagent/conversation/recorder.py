"""A call's audio as a stereo recording: the caller on the left, the agent on the right.

The caller's stream is continuous (the phone sends 20 ms every 20 ms, silence included), so
it is the recording's clock: agent audio is written where the caller's track stands when it
is sent, never earlier than where the previous agent audio ended. A barge-in truncates what
was sent ahead but not played, so the recording holds what the caller could hear.

Both tracks go to anonymous temporary files as the call's own bytes (one byte a sample for a
phone call), so a long recorded call costs disk, not memory; they are read back and decoded
once, when the WAV is made after the call.
"""

from __future__ import annotations

import tempfile
from typing import IO

import numpy as np

from voxagent.audio.format import AudioFormat
from voxagent.audio.wav import wav_bytes

__all__ = ["CallRecorder"]


class CallRecorder:
    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self.sample_rate = fmt.sample_rate
        self._width = fmt.bytes_per_sample
        # Files the recorder owns for the whole call (closed by close()), not a block's.
        self._caller: IO[bytes] = tempfile.TemporaryFile(prefix="voxagent-caller-")  # noqa: SIM115
        self._agent: IO[bytes] = tempfile.TemporaryFile(prefix="voxagent-agent-")  # noqa: SIM115
        self._caller_bytes = 0
        self._agent_bytes = 0
        """The agent's track, on the caller's clock; gaps hold the format's silence (μ-law
        silence is 0xFF, so a gap cannot be left as a file hole of zeros)."""

    def caller(self, audio: bytes) -> None:
        self._caller.write(audio)
        self._caller_bytes += len(audio)

    def agent(self, audio: bytes) -> None:
        gap = self._caller_bytes - self._agent_bytes
        if gap > 0:
            self._agent.write(self.format.silence(gap))
            self._agent_bytes += gap
        self._agent.write(audio)
        self._agent_bytes += len(audio)

    def cut_agent(self) -> None:
        """Barge-in: agent audio not yet due at the caller's clock was never heard."""
        if self._agent_bytes > self._caller_bytes:
            self._agent.flush()
            self._agent.truncate(self._caller_bytes)
            self._agent.seek(self._caller_bytes)
            self._agent_bytes = self._caller_bytes

    @property
    def duration_ms(self) -> int:
        samples = max(self._caller_bytes, self._agent_bytes) // self._width
        return samples * 1000 // self.sample_rate

    def stereo(self) -> np.ndarray:
        """Both tracks decoded side by side (blocking file reads: call it off the loop)."""
        caller = self.format.decode(_read_all(self._caller))
        agent = self.format.decode(_read_all(self._agent))
        out = np.zeros((max(len(caller), len(agent)), 2), dtype=np.int16)
        out[: len(caller), 0] = caller
        out[: len(agent), 1] = agent
        return out

    def wav(self) -> bytes:
        return wav_bytes(self.stereo(), self.sample_rate)

    def close(self) -> None:
        """Delete the temporary tracks (after the WAV is stored, or when it never will be)."""
        self._caller.close()
        self._agent.close()


def _read_all(track: IO[bytes]) -> bytes:
    track.flush()
    track.seek(0)
    data = track.read()
    track.seek(0, 2)
    return data
