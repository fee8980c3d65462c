"""Microphone chunks in order, once each, no faster than a person can speak.

Socket.IO runs every incoming event in its own task, and a page that reconnects may resend, so
chunks can arrive late or twice. :class:`AudioReassembler` hands them on in ``seq`` order:
a duplicate or a chunk older than what was delivered is dropped; a chunk ahead of a missing
one waits (bounded) until the hole is filled or given up on, which is counted as a gap. Audio
faster than twice real time (beyond a one-second burst) is refused: it is a runaway client or
an attempt to make the server transcribe at the owner's expense.

Pure: time comes in as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AudioReassembler", "TooFast"]

MAX_WAITING = 8
"""Chunks held while a hole is open (320 ms of the console's 40 ms chunks)."""
MAX_SPEED = 2.0
BURST_S = 1.0


class TooFast(ValueError):
    """More audio than real time allows."""


@dataclass
class AudioReassembler:
    bytes_per_second: int
    next_seq: int = 0
    gaps: int = 0
    """Chunks never received (given up on)."""
    duplicates: int = 0
    received_s: float = 0.0
    _waiting: dict[int, bytes] = field(default_factory=dict)
    _started: float | None = None

    def push(self, seq: int, pcm: bytes, now: float) -> list[bytes]:
        """Take one chunk; returns the chunks now deliverable, in order."""
        seconds = len(pcm) / self.bytes_per_second
        if self._started is None:
            self._started = now
        allowed = MAX_SPEED * (now - self._started) + BURST_S
        if self.received_s + seconds > allowed:
            raise TooFast(f"audio arrives faster than {MAX_SPEED:g}x real time")
        if seq < self.next_seq or seq in self._waiting:
            self.duplicates += 1
            return []
        self.received_s += seconds
        self._waiting[seq] = pcm
        ready: list[bytes] = []
        while True:
            chunk = self._waiting.pop(self.next_seq, None)
            if chunk is not None:
                ready.append(chunk)
                self.next_seq += 1
            elif len(self._waiting) > MAX_WAITING:
                # The hole is not going to be filled: count it and move past it.
                following = min(self._waiting)
                self.gaps += following - self.next_seq
                self.next_seq = following
            else:
                return ready

    def restart(self) -> None:
        """A new conversation on the same connection: sequence numbers start again."""
        self.next_seq = 0
        self._waiting.clear()
