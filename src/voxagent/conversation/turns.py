"""When does the caller start and stop talking? Speech probabilities in, turn events out.

Pure: one probability per VAD window, no clocks. Hysteresis keeps a cough from starting a
turn (``min_speech_ms``) and a breath from ending one (``end_silence_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech has lasted ``min_speech_ms``; it began ``backdate_ms`` before this window ended."""

    backdate_ms: float


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """The caller finished a turn; their last speech ended ``silence_ms`` ago."""

    silence_ms: float
    speech_ms: float


TurnEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    def __init__(
        self,
        window_ms: float,
        *,
        threshold: float = 0.5,
        min_speech_ms: float = 120,
        end_silence_ms: float = 700,
    ) -> None:
        self.window_ms = window_ms
        self.threshold = threshold
        self.release = max(0.05, threshold - 0.15)
        self.min_speech_ms = min_speech_ms
        self.end_silence_ms = end_silence_ms
        self.speaking = False
        self.run_ms = 0.0
        """Continuous speech so far in the current burst (resets after a pause)."""
        self._candidate_ms = 0.0
        self._silence_ms = 0.0
        self._speech_ms = 0.0

    @property
    def silence_ms(self) -> float:
        """Silence so far inside the current turn (0 when not in a turn)."""
        return self._silence_ms if self.speaking else 0.0

    def update(self, probability: float) -> TurnEvent | None:
        voiced = probability >= (self.release if self.speaking else self.threshold)
        if not self.speaking:
            if voiced:
                self._candidate_ms += self.window_ms
                self.run_ms = self._candidate_ms
                if self._candidate_ms >= self.min_speech_ms:
                    self.speaking = True
                    self._speech_ms = self._candidate_ms
                    self._silence_ms = 0.0
                    return SpeechStarted(backdate_ms=self._candidate_ms)
            else:
                self._candidate_ms = 0.0
                self.run_ms = 0.0
            return None
        if voiced:
            self._speech_ms += self._silence_ms + self.window_ms
            self._silence_ms = 0.0
            self.run_ms += self.window_ms
            return None
        self._silence_ms += self.window_ms
        if self._silence_ms >= self.window_ms * 3:
            self.run_ms = 0.0
        if self._silence_ms >= self.end_silence_ms:
            event = SpeechStopped(silence_ms=self._silence_ms, speech_ms=self._speech_ms)
            self.speaking = False
            self._candidate_ms = 0.0
            self._silence_ms = 0.0
            self.run_ms = 0.0
            return event
        return None
