"""Where the time of each turn went, from the caller's last word to the agent's first sound.

Timestamps are ``time.monotonic()`` seconds; the derived numbers are milliseconds relative
to the caller's end of speech, which is what a caller experiences as "response time".
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

MARKS = (
    "speech_end",
    "end_of_turn",
    "stt_final",
    "agent_request",
    "agent_first_text",
    "tts_request",
    "tts_first_audio",
    "first_audio_sent",
    "interrupted_at",
)


TurnKind = Literal[
    "greeting",
    "reply",
    "reprompt",
    "no_input",
    "apology",
    "goodbye",
    "reconnected",
    "announcement",
]
"""Why the agent spoke: the greeting, an answer to the caller, a request to repeat (speech
with no words), a prompt after silence, an apology (no provider left), a closing line, the
line after a lost instance, or a line an operator asked for."""


@dataclass(slots=True)
class TurnTimeline:
    index: int
    kind: TurnKind = "reply"
    user_text: str = ""
    agent_text: str = ""
    started_at: float = field(default_factory=time.monotonic)
    speech_end: float | None = None
    end_of_turn: float | None = None
    """When the silence window closed and the turn was declared over (endpointing cost)."""
    stt_final: float | None = None
    agent_request: float | None = None
    """When the agent was asked (the final transcript, or a speculative interim one)."""
    agent_first_text: float | None = None
    tts_request: float | None = None
    """When the first sentence went to the voice."""
    tts_first_audio: float | None = None
    first_audio_sent: float | None = None
    interrupted_at: float | None = None
    interrupted: bool = False
    speculative: bool = False
    barge_in_ms: float | None = None
    """A barge-in heard by our VAD: the caller's first interrupting sound → ``clear`` sent."""
    """The agent's answer was started on an interim transcript (a speculation that held)."""
    providers: dict[str, str] = field(default_factory=dict)
    """Which provider served each stage of this turn (after any fallback switch)."""
    tools: list[dict[str, Any]] = field(default_factory=list)
    """The tools the agent ran for this turn, in order: ``{name, arguments, result}``."""

    def mark(self, name: str, at: float | None = None) -> None:
        """Record ``name`` once; later repeats keep the first time (it is the one that counts)."""
        if name not in MARKS:
            raise ValueError(f"unknown timeline mark {name!r}")
        if getattr(self, name) is None:
            setattr(self, name, time.monotonic() if at is None else at)

    def _ms_since_origin(self, name: str) -> float | None:
        value = getattr(self, name)
        origin = self.speech_end if self.speech_end is not None else self.started_at
        return None if value is None else round((value - origin) * 1000, 1)

    @property
    def response_ms(self) -> float | None:
        """Caller speech end (or turn start, for the greeting) → first agent audio sent."""
        return self._ms_since_origin("first_audio_sent")

    def provider_ms(self) -> dict[str, float | None]:
        """Each provider's own time to first result, the numbers to hold a vendor to:
        the recognizer's wait after the end of turn, the agent's first text, the first audio."""

        def between(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else round((end - start) * 1000, 1)

        return {
            "stt_final_after_turn_ms": between(self.end_of_turn, self.stt_final),
            "llm_ttft_ms": between(self.agent_request, self.agent_first_text),
            "tts_ttfb_ms": between(self.tts_request, self.tts_first_audio),
        }

    def latencies(self) -> dict[str, float | None]:
        """Each mark in ms from the caller's end of speech (the greeting: from call start)."""
        return {f"{name}_ms": self._ms_since_origin(name) for name in MARKS[1:]}

    def as_record(self) -> dict[str, object]:
        record: dict[str, object] = {
            "turn": self.index,
            "kind": self.kind,
            "user_text": self.user_text,
            "agent_text": self.agent_text,
            "interrupted": self.interrupted,
            "speculative": self.speculative,
        }
        record.update(self.latencies())
        record.update(self.provider_ms())
        record["providers"] = dict(self.providers)
        record["tools"] = [dict(t) for t in self.tools]
        record["barge_in_ms"] = self.barge_in_ms
        return record

    def raw(self) -> dict[str, object]:
        return asdict(self)


ANSWERING: ContextVar[TurnTimeline | None] = ContextVar("answering", default=None)
"""The turn the agent is answering in this task (set by the engine's respond task)."""

MAX_TOOLS_PER_TURN = 20


def note_tool(name: str, arguments: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """A tool observer: the run is kept on the turn being answered (none: not kept), as
    plain JSON (what is not JSON becomes its text), at most ``MAX_TOOLS_PER_TURN`` a turn."""
    turn = ANSWERING.get()
    if turn is None or len(turn.tools) >= MAX_TOOLS_PER_TURN:
        return
    try:
        entry = json.loads(
            json.dumps({"name": name, "arguments": arguments, "result": result}, default=str)
        )
    except (TypeError, ValueError):
        log.exception("tool %s: its arguments or result cannot be kept", name)
        return
    turn.tools.append(entry)
