"""What one call is built from, and the knobs of the engine that runs it.

``calls.factory`` assembles :class:`CallParts` for a call's audio format; the engine
(:class:`~voxagent.conversation.call.Call`) only uses them.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from voxagent.agents.base import Agent
from voxagent.audio.vad import SpeechProbability
from voxagent.conversation.recorder import CallRecorder
from voxagent.providers.fallback import FallbackRecognizer
from voxagent.providers.tts.base import TextToSpeech

__all__ = ["CallParts", "EngineConfig", "EngineLines"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    vad_threshold: float = 0.5
    min_speech_ms: int = 120
    end_of_turn_silence_ms: int = 600
    barge_in_min_ms: int = 200
    max_history_messages: int = 50
    max_call_seconds: int = 1800
    send_lead_ms: int = 80
    """How far ahead of real time audio is sent: enough to ride out jitter, short enough that
    the far end never holds more than a few frames."""
    speculative: bool = False
    """Let the agent start on an interim transcript that stayed unchanged for
    ``speculation_stable_ms`` (agents that declare ``can_prefetch``)."""
    speculation_stable_ms: int = 200
    min_words_speech_ms: int = 600
    """Speech at least this long that the recognizer returned no words for is answered with a
    request to repeat; shorter is taken for a noise."""
    no_input_timeout_s: float = 8.0
    """Silence after the agent finished before it asks whether the caller is still there."""
    max_turns_kept: int = 100
    """Turn timelines kept in memory (and in the record): the latest ones."""


@dataclass(frozen=True, slots=True)
class EngineLines:
    """What the engine says by itself, in the call's language, whatever agent runs the call."""

    technical_trouble: str = "Sorry, we are having technical trouble."
    say_again: str = "Sorry, I didn't catch that. Could you say it again?"
    still_there: str = "Are you still there?"
    no_input_goodbye: str = "I can't hear you, so I'll end the call now. Goodbye!"
    reconnected: str = "Sorry, I lost you for a second."
    """Said when another instance picks up a call whose instance was lost."""
    transfer_to: str | None = None
    """Where to send the caller when nothing else can help (the persona's phone number)."""


@dataclass
class CallParts:
    """What one call is built from; ``calls.factory`` assembles it for the call's format."""

    agent: Agent
    recognizer: FallbackRecognizer
    """The call's own walk through the recognizer chain; it accepts the call's format."""
    voice: TextToSpeech
    """The call's own walk through the voice chain; it speaks the call's format."""
    vad: SpeechProbability
    vad_executor: Executor
    config: EngineConfig = field(default_factory=EngineConfig)
    lines: EngineLines = field(default_factory=EngineLines)
    recorder: CallRecorder | None = None
