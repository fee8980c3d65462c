"""How loud the agent's own voice comes back through the caller's microphone: learnt, not
assumed, so that on a line without echo cancellation (a browser playing Web Audio buffers on
laptop speakers) the agent does not interrupt itself, and a person still can.

The gate hears both sides: the level of every frame the agent sends (and when) and the level
of every window the microphone sends. While the agent plays, the difference between the two is
the echo's coupling (0 dB: the microphone hears the agent as loud as it was sent; -30 dB: a
headset). The echo's delay is not known, so the microphone is compared with the loudest the
agent played in the last ``TAIL_S``: the echo's difference is at most the coupling, and less
wherever the agent's voice dipped. So the gate takes a high percentile of the recent
differences (the median sat several dB under the coupling and let speech peaks through).

It lets through only sound louder than the agent's level plus that coupling plus
``margin_db``, and learns only from what it held back: a person talking over the agent (double
talk) never teaches it that the echo is loud. It learns only once the agent has played for a
whole ``TAIL_S`` (before that the microphone may be silent only because the echo is still on
its way). It starts from the worst case (0 dB) and the estimate falls by at most ``FALL_DB`` a
window (a few early samples understate it), while it rises at once. An echo that jumps more
than ``margin_db`` above what was learnt (a microphone gain turned up mid-call) is taken for a
person. Pure: time comes in as an argument.
"""

from __future__ import annotations

from collections import deque

__all__ = ["EchoGate"]

TAIL_S = 0.6
"""How long after it was sent the agent's audio can still come back: the send lead, the
page's buffers, the room, the microphone's chunks, and a stalled loop."""
SAMPLES = 100
"""Recent coupling measurements kept (about 3.2 s of 32 ms windows)."""
MIN_SAMPLES = 30
COUPLING_QUANTILE = 0.9
"""Which of the recent differences stands for the coupling: a high one, the moments the echo
came back from the agent's loudest."""
PLAYING_DB = -45.0
"""The agent counts as audible above this level (dBFS)."""
LOWEST_COUPLING_DB = -30.0
FALL_DB = 0.5
"""How fast the learnt coupling may fall (per window): from 0 dB to a headset's -30 dB in 2 s."""
FRAME_S = 0.04
"""Slack when asking whether the agent has played for a whole tail (frames are 20 ms)."""


class EchoGate:
    def __init__(self, margin_db: float) -> None:
        self.margin_db = margin_db
        self._played: deque[tuple[float, float]] = deque()
        self._coupling: deque[float] = deque(maxlen=SAMPLES)
        self._estimate = 0.0

    def played(self, at: float, level_db: float) -> None:
        """The agent's audio at ``level_db`` leaves at ``at``: the page may play it from then
        on (at once when its queue is empty), so its echo is possible from then."""
        self._played.append((at, level_db))

    def reset(self) -> None:
        """The agent stopped (a barge-in): nothing of what was queued will play."""
        self._played.clear()

    @property
    def coupling_db(self) -> float:
        return self._estimate

    def _learn(self, difference_db: float) -> None:
        self._coupling.append(difference_db)
        target = 0.0
        if len(self._coupling) >= MIN_SAMPLES:
            learnt = sorted(self._coupling)
            target = max(LOWEST_COUPLING_DB, learnt[int(COUPLING_QUANTILE * (len(learnt) - 1))])
        self._estimate = max(target, self._estimate - FALL_DB)

    def _agent_level(self, now: float) -> float | None:
        while self._played and self._played[0][0] < now - TAIL_S:
            self._played.popleft()
        audible = [level for at, level in self._played if at <= now]
        loudest = max(audible, default=None)
        return loudest if loudest is not None and loudest > PLAYING_DB else None

    def floor(self, mic_db: float, now: float) -> float | None:
        """The level the microphone must beat now (None while the agent is silent); learns
        the coupling from this window when it holds it back."""
        agent = self._agent_level(now)
        if agent is None:
            return None
        threshold = agent + self.coupling_db + self.margin_db
        if mic_db < threshold and self._played[0][0] <= now - TAIL_S + FRAME_S:
            self._learn(mic_db - agent)
        return threshold
