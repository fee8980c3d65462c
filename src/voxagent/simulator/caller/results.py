"""What one simulated call observed (:class:`SimulationResult`), and how it is printed.

The barge-in arithmetic (:func:`measure_barge_in`) and the latency percentiles work on
recorded times only, so they are unit-tested with plain numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from voxagent.audio.g711 import codec_for
from voxagent.audio.wav import write_wav
from voxagent.simulator.caller.playout import LINE_RATE

__all__ = [
    "STOP_WINDOW_S",
    "BargeInResult",
    "SimulationResult",
    "Turn",
    "measure_barge_in",
    "percentile",
]

STOP_WINDOW_S = 1.0
"""After ``clear``, agent media arriving within this window means the agent kept talking."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100); ``None`` for no data."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(slots=True)
class Turn:
    """One side's turn in the dialogue; agent text is what the caller *heard*, recognized."""

    speaker: Literal["caller", "agent"]
    text: str
    response_ms: float | None = None
    interrupted: bool = False
    timed_out: bool = False
    audio_s: float = 0.0
    line: int | None = None
    """A caller turn's script line: its index in the utterances the simulation was given."""


@dataclass(frozen=True, slots=True)
class BargeInResult:
    """How the agent reacted when the caller talked over it.

    ``clear_ms``: caller speech start → ``clear`` received. ``last_audio_ms``: caller
    speech start → last agent media frame received while the caller spoke (``None`` if the
    agent had sent everything before). ``heard_ms``: how long the caller still *heard* the
    agent after starting to speak (the playout model, including clear).
    """

    utterance: int
    overlapped: bool
    clear_received: bool
    clear_ms: float | None
    last_audio_ms: float | None
    heard_ms: float | None
    agent_audio_stopped: bool


def measure_barge_in(
    *,
    utterance: int,
    speech_start: float,
    speech_end: float,
    overlapped: bool,
    clear_times: Sequence[float],
    media_times: Sequence[float],
    heard_until: float | None,
    stop_window_s: float = STOP_WINDOW_S,
) -> BargeInResult:
    """Barge-in arithmetic on recorded times (seconds, one clock), kept pure for tests.

    Agent media received between the caller's speech start and end belongs to the reply
    being interrupted; after ``clear`` none of it should arrive within ``stop_window_s``.
    """
    clear_at = next((t for t in clear_times if t >= speech_start), None)
    during = [t for t in media_times if speech_start <= t < speech_end]
    last = max(during) if during else None
    stopped = False
    if clear_at is not None:
        window_end = min(clear_at + stop_window_s, speech_end)
        stopped = not any(clear_at < t <= window_end for t in media_times)
    heard = None if heard_until is None else max(0.0, heard_until - speech_start) * 1000

    def ms(t: float | None) -> float | None:
        return None if t is None else (t - speech_start) * 1000

    return BargeInResult(
        utterance=utterance,
        overlapped=overlapped,
        clear_received=clear_at is not None,
        clear_ms=ms(clear_at),
        last_audio_ms=ms(last),
        heard_ms=heard,
        agent_audio_stopped=stopped,
    )


@dataclass(slots=True)
class SimulationResult:
    """Everything one simulated call observed, plus the audio to write a stereo WAV."""

    url: str
    encoding: str
    stream_id: str
    call_control_id: str
    turns: list[Turn] = field(default_factory=list)
    barge_in: BargeInResult | None = None
    hung_up_by: Literal["caller", "agent"] | None = None
    close_code: int | None = None
    close_reason: str = ""
    duration_s: float = 0.0
    greeting_ms: float | None = None
    frames_sent: int = 0
    frames_received: int = 0
    marks_received: int = 0
    marks_echoed: int = 0
    clears_received: int = 0
    timeouts: int = 0
    malformed_received: int = 0
    schedule_slips: int = 0
    unplayed_at_end_s: float = 0.0
    resume_at: int = 0
    """Where a next stream on this call goes on (an index into the utterances given): after
    the last line the agent answered, or that line again if its answer or the line itself
    was cut off when this stream ended (:func:`~voxagent.simulator.caller.resume.resume_line`)."""
    caller_audio: list[tuple[float, bytes]] = field(default_factory=list, repr=False)
    agent_audio: list[tuple[float, bytes]] = field(default_factory=list, repr=False)

    @property
    def response_times_ms(self) -> list[float]:
        """Caller speech end → first agent audio, for every answered caller turn."""
        times: list[float] = []
        previous = None
        for turn in self.turns:
            if turn.speaker == "agent" and previous == "caller" and turn.response_ms is not None:
                times.append(turn.response_ms)
            previous = turn.speaker
        return times

    def latency_summary(self) -> dict[str, float | None]:
        values = self.response_times_ms
        return {
            "greeting_ms": self.greeting_ms,
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "max_ms": max(values) if values else None,
        }

    def format_dialogue(self) -> str:
        lines: list[str] = []
        for turn in self.turns:
            if turn.speaker == "caller":
                lines.append(f"caller: {turn.text}")
                continue
            lines.append(_agent_line(turn))
        summary = self.latency_summary()
        lines.append("")
        lines.append(
            f"latency: greeting {_fmt_ms(summary['greeting_ms'])}, "
            f"response p50 {_fmt_ms(summary['p50_ms'])}, p95 {_fmt_ms(summary['p95_ms'])} "
            f"over {len(self.response_times_ms)} turn(s)"
            + (f", {self.timeouts} timeout(s)" if self.timeouts else "")
        )
        if self.barge_in is not None:
            b = self.barge_in
            lines.append(
                f"barge-in: clear {'received' if b.clear_received else 'NOT received'}"
                + (f" after {_fmt_ms(b.clear_ms)}" if b.clear_received else "")
                + f", agent heard for {_fmt_ms(b.heard_ms)}, last agent frame "
                + (_fmt_ms(b.last_audio_ms) if b.last_audio_ms is not None else "before speech")
                + f", agent audio {'stopped' if b.agent_audio_stopped else 'DID NOT stop'}"
                + ("" if b.overlapped else " (agent was already silent)")
            )
        lines.append(
            f"call: {self.duration_s:.1f} s, hung up by {self.hung_up_by or 'nobody'}, "
            f"{self.frames_sent} frames sent, {self.frames_received} received, "
            f"{self.marks_echoed} marks echoed, {self.clears_received} clear(s)"
        )
        if self.unplayed_at_end_s > 0.05:
            lines.append(
                f"note: the line went down with {self.unplayed_at_end_s:.1f} s of agent audio "
                "still queued (never heard)"
            )
        return "\n".join(lines)

    def write_wav(self, path: str | os.PathLike[str]) -> None:
        """Stereo 8 kHz WAV: left = what the caller sent, right = agent audio as played."""
        codec = codec_for(self.encoding)
        end = 0
        for track in (self.caller_audio, self.agent_audio):
            for offset, payload in track:
                end = max(end, round(offset * LINE_RATE) + len(payload))
        stereo = np.zeros((end, 2), dtype=np.int16)
        for channel, track in enumerate((self.caller_audio, self.agent_audio)):
            for offset, payload in track:
                at = round(offset * LINE_RATE)
                stereo[at : at + len(payload), channel] = codec.decode(payload)
        write_wav(path, stereo, LINE_RATE)


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _agent_line(turn: Turn) -> str:
    if turn.timed_out:
        return "agent: (no reply)"
    text = turn.text or f"[{turn.audio_s:.1f} s of audio]"
    notes = [] if turn.response_ms is None else [f"response {turn.response_ms:.0f} ms"]
    if turn.interrupted:
        notes.append("interrupted")
    return f"agent: {text}" + (f" ({', '.join(notes)})" if notes else "")
