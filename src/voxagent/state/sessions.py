"""Call sessions: what we know about a call before, during and right after it.

A session is created when a call is requested (``POST /api/call/initiate``) or rings in, and
links our session id (carried in Telnyx ``client_state``) to Telnyx's ``call_control_id``. It
lives in memory here; durable history is the call record in the database.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["inbound", "outbound"]
Mode = Literal["media_stream", "webhook"]


@dataclass(slots=True)
class Session:
    session_id: str
    direction: Direction
    from_number: str
    to_number: str
    name: str = ""
    persona: str = "maria"
    variables: dict[str, str] = field(default_factory=dict)
    mode: Mode = "media_stream"
    call_control_id: str | None = None
    stream_token: str | None = None
    status: str = "created"
    """created → dialing → ringing → answered → ended (or failed)."""
    outcome: str | None = None
    hangup_cause: str | None = None
    created_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    ended_at: float | None = None
    batch_id: str | None = None

    @property
    def active(self) -> bool:
        return self.status not in ("ended", "failed")

    def as_dict(self) -> dict[str, object]:
        return {
            "session_id": self.session_id,
            "call_control_id": self.call_control_id,
            "direction": self.direction,
            "from": self.from_number,
            "to": self.to_number,
            "name": self.name,
            "persona": self.persona,
            "mode": self.mode,
            "status": self.status,
            "outcome": self.outcome,
            "hangup_cause": self.hangup_cause,
        }


class SessionStore:
    """In-memory sessions, indexed by session id and by Telnyx call_control_id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._by_call: dict[str, str] = {}

    def create(
        self, direction: Direction, from_number: str, to_number: str, **fields: object
    ) -> Session:
        session = Session(uuid.uuid4().hex, direction, from_number, to_number, **fields)  # type: ignore[arg-type]
        self._by_id[session.session_id] = session
        return session

    def new_stream_token(self, session: Session) -> str:
        session.stream_token = secrets.token_urlsafe(24)
        return session.stream_token

    def attach_call(self, session: Session, call_control_id: str) -> None:
        session.call_control_id = call_control_id
        self._by_call[call_control_id] = session.session_id

    def get(self, session_id: str | None) -> Session | None:
        return self._by_id.get(session_id) if session_id else None

    def by_call(self, call_control_id: str | None) -> Session | None:
        if not call_control_id:
            return None
        session_id = self._by_call.get(call_control_id)
        return self._by_id.get(session_id) if session_id else None

    def all(self) -> list[Session]:
        return list(self._by_id.values())

    def stats(self) -> dict[str, object]:
        sessions = self.all()
        outcomes: dict[str, int] = {}
        durations = []
        for s in sessions:
            if s.outcome:
                outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
            if s.answered_at and s.ended_at:
                durations.append(s.ended_at - s.answered_at)
        return {
            "total": len(sessions),
            "active": sum(1 for s in sessions if s.active),
            "completed": sum(1 for s in sessions if s.status == "ended"),
            "failed": sum(1 for s in sessions if s.status == "failed"),
            "by_outcome": outcomes,
            "by_direction": {
                d: sum(1 for s in sessions if s.direction == d) for d in ("inbound", "outbound")
            },
            "average_duration_seconds": round(sum(durations) / len(durations), 1)
            if durations
            else 0.0,
        }
