"""One conversation in the browser: its call, what the page sees of it, and how it resumes.

A :class:`BrowserSession` is the call's observer: the words, the state, each turn's latency and
every cut reach the page (and the user's other tabs, through the room ``user_{id}``); audio goes
to the connection that owns the session only. When that connection drops, the call is closed
(its record is complete) and the conversation is kept as a :class:`Resumable` until the session
TTL passes, so a page that reconnects can pick up where it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voxagent.channels.browser.channel import BrowserChannel
from voxagent.channels.browser.emitter import Emitter
from voxagent.conversation.call import Call
from voxagent.conversation.history import Message
from voxagent.conversation.timeline import TurnTimeline

__all__ = ["BrowserSession", "Resumable", "room_for"]


def room_for(user_id: str) -> str:
    return f"user_{user_id}"


@dataclass(frozen=True, slots=True)
class Resumable:
    """What a reconnecting page needs to continue a conversation."""

    session_id: str
    call_id: str
    user_id: str
    persona: str
    language: str
    history: tuple[Message, ...]
    expires_at: float


@dataclass
class BrowserSession:
    session_id: str
    user_id: str
    persona: str
    language: str
    emitter: Emitter
    channel: BrowserChannel
    on_turn: Callable[[TurnTimeline], None] = lambda turn: None
    """Told of every finished turn (the namespace's latency window)."""
    call: Call | None = None
    ended: bool = False
    tools: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=list)

    @property
    def room(self) -> str:
        return room_for(self.user_id)

    def resumable(self, ttl_seconds: float) -> Resumable:
        call = self.call
        return Resumable(
            session_id=self.session_id,
            call_id=call.call_id if call is not None else "",
            user_id=self.user_id,
            persona=self.persona,
            language=self.language,
            history=tuple(call.history) if call is not None else (),
            expires_at=time.time() + ttl_seconds,
        )

    # ------------------------------------------------------- the call's observer
    def _to_room(self, event: str, data: Any) -> None:
        self.emitter.emit(event, data, self.room)

    def user_text(self, text: str, *, final: bool, turn: int | None) -> None:
        if final:
            self._to_room("transcript_final", {"text": text, "turn": turn})
        else:
            self._to_room("transcript_interim", {"text": text})

    def agent_text(self, text: str, turn: int) -> None:
        self._to_room("agent_text", {"text": text, "turn": turn})

    def state_changed(self, state: str) -> None:
        if state == "bot_speaking":
            state = "speaking"
        if state != "ended":
            self._to_room("state", {"state": state})

    def turn_finished(self, turn: TurnTimeline) -> None:
        self.on_turn(turn)
        latencies = turn.latencies()
        self._to_room(
            "metrics",
            {
                "turn": turn.index,
                "kind": turn.kind,
                "response_ms": turn.response_ms,
                "stt_final_ms": latencies["stt_final_ms"],
                "agent_first_text_ms": latencies["agent_first_text_ms"],
                "tts_first_audio_ms": latencies["tts_first_audio_ms"],
                "first_audio_sent_ms": latencies["first_audio_sent_ms"],
                "interrupted": turn.interrupted,
            },
        )

    def interrupted(self, turn: TurnTimeline, heard: str, reason: str) -> None:
        self.emitter.emit("barge_in_ack", {"turn": turn.index, "heard": heard, "reason": reason})

    def tool_used(self, name: str, arguments: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        self._to_room("tool_call", {"name": name, "arguments": dict(arguments)})
        ok = result.get("ok") is not False
        self._to_room("tool_result", {"name": name, "ok": ok, "result": dict(result)})
