"""How loud the agent's own voice comes back through the caller's microphone: learnt, not
assumed, so that on a line without echo cancellation (a browser playing Web Audio buffers on
laptop speakers) the agent does not interrupt itself, and a person still can.

The gate hears both sides: the level of every frame the agent plays (with when it plays) and
the level of every window the microphone sends. While the agent plays, the difference between
the two is the echo's coupling (0 dB: the microphone hears the agent as loud as it was sent;
-30 dB: a headset). The gate keeps the median of the recent differences, so a person talking
over the agent for a moment barely moves it, and lets through only sound louder than the
agent's level plus that coupling plus ``margin_db``. Until it has heard enough it assumes the
worst (0 dB). Pure: time comes in as an argument.
"""

from __future__ import annotations

import statistics
from collections import deque

__all__ = ["EchoGate"]

TAIL_S = 0.5
"""How long after it played the agent's audio can still come back (buffers plus the room)."""
SAMPLES = 50
"""Recent coupling measurements kept (about 1.6 s of 32 ms windows)."""
MIN_SAMPLES = 10
PLAYING_DB = -45.0
"""The agent counts as audible above this level (dBFS)."""
LOWEST_COUPLING_DB = -30.0


class EchoGate:
    def __init__(self, margin_db: float) -> None:
        self.margin_db = margin_db
        self._played: deque[tuple[float, float]] = deque()
        self._coupling: deque[float] = deque(maxlen=SAMPLES)

    def played(self, at: float, level_db: float) -> None:
        """The agent's audio at ``level_db`` plays at ``at``."""
        self._played.append((at, level_db))

    def reset(self) -> None:
        """The agent stopped (a barge-in): nothing of what was queued will play."""
        self._played.clear()

    @property
    def coupling_db(self) -> float:
        if len(self._coupling) < MIN_SAMPLES:
            return 0.0
        return max(LOWEST_COUPLING_DB, statistics.median(self._coupling))

    def _agent_level(self, now: float) -> float | None:
        while self._played and self._played[0][0] < now - TAIL_S:
            self._played.popleft()
        audible = [level for at, level in self._played if at <= now]
        loudest = max(audible, default=None)
        return loudest if loudest is not None and loudest > PLAYING_DB else None

    def floor(self, mic_db: float, now: float) -> float | None:
        """The level the microphone must beat now (None while the agent is silent); learns
        the coupling from this window as it goes."""
        agent = self._agent_level(now)
        if agent is None:
            return None
        threshold = agent + self.coupling_db + self.margin_db
        self._coupling.append(mic_db - agent)
        return threshold
