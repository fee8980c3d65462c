"""A call's audio as a stereo recording: the caller on the left, the agent on the right.

The caller's stream is continuous (the phone sends 20 ms every 20 ms, silence included), so
it is the recording's clock: agent audio is written where the caller's track stands when it
is sent, never earlier than where the previous agent audio ended. A barge-in truncates what
was sent ahead but not played, so the recording holds what the caller could hear.
"""

from __future__ import annotations

import numpy as np

from voxagent.audio.wav import wav_bytes

__all__ = ["CallRecorder"]


class CallRecorder:
    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._caller: list[np.ndarray] = []
        self._caller_samples = 0
        self._agent: list[tuple[int, np.ndarray]] = []  # (start sample, audio)
        self._agent_end = 0

    def caller(self, pcm: np.ndarray) -> None:
        self._caller.append(pcm.astype(np.int16, copy=False))
        self._caller_samples += len(pcm)

    def agent(self, pcm: np.ndarray) -> None:
        start = max(self._agent_end, self._caller_samples)
        self._agent.append((start, pcm.astype(np.int16, copy=False)))
        self._agent_end = start + len(pcm)

    def cut_agent(self) -> None:
        """Barge-in: agent audio not yet due at the caller's clock was never heard."""
        now = self._caller_samples
        kept: list[tuple[int, np.ndarray]] = []
        for start, pcm in self._agent:
            if start >= now:
                continue
            kept.append((start, pcm[: now - start]))
        self._agent = kept
        self._agent_end = min(self._agent_end, now)

    @property
    def duration_ms(self) -> int:
        return max(self._caller_samples, self._agent_end) * 1000 // self.sample_rate

    def stereo(self) -> np.ndarray:
        length = max(self._caller_samples, self._agent_end)
        out = np.zeros((length, 2), dtype=np.int16)
        if self._caller:
            caller = np.concatenate(self._caller)
            out[: len(caller), 0] = caller
        for start, pcm in self._agent:
            out[start : start + len(pcm), 1] = pcm
        return out

    def wav(self) -> bytes:
        return wav_bytes(self.stereo(), self.sample_rate)
