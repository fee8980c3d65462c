"""Call sessions: what is shared about a call before, during and right after it.

A session is created when a call is requested or rings in, and links our session id (carried
in Telnyx ``client_state``) to Telnyx's ``call_control_id``. Sessions are immutable snapshots:
every change goes through :meth:`SessionStore.update`, which checks the status against a
transition table that never goes backwards, so a late or replayed webhook cannot undo what a
newer one did. That is also what a store shared by several instances (Redis) needs: one place
where a change is decided.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from voxagent.calls.info import CallInfo, ChannelKind, Direction

__all__ = [
    "MemorySessionStore",
    "Session",
    "SessionStatus",
    "SessionStore",
    "can_move",
    "further_or_same",
    "new_session",
    "session_from_json",
    "session_to_json",
]

log = logging.getLogger(__name__)


class SessionStatus(StrEnum):
    CREATED = "created"
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    FAILED = "failed"


_ORDER = {
    SessionStatus.CREATED: 0,
    SessionStatus.DIALING: 1,
    SessionStatus.RINGING: 2,
    SessionStatus.ANSWERED: 3,
    SessionStatus.ENDED: 4,
    SessionStatus.FAILED: 4,
}
"""created → dialing → ringing → answered → ended; any live state may fail. Steps may be
skipped (an inbound call is never dialled; a simulated stream is answered at once), but a
status never moves back, and ended and failed are final."""


def can_move(current: SessionStatus, new: SessionStatus) -> bool:
    return _ORDER[new] > _ORDER[current]


def further_or_same(session: Session, than: Session) -> bool:
    """Whether ``session`` got at least as far through its life as ``than``."""
    return _ORDER[session.status] >= _ORDER[than.status]


_TERMINAL = frozenset({SessionStatus.ENDED, SessionStatus.FAILED})


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    direction: Direction
    from_number: str
    to_number: str
    name: str = ""
    persona: str = "maria"
    language: str = "en"
    variables: Mapping[str, str] = field(default_factory=dict)
    mode: ChannelKind = ChannelKind.MEDIA_STREAM
    call_control_id: str | None = None
    stream_token: str | None = None
    status: SessionStatus = SessionStatus.CREATED
    outcome: str | None = None
    hangup_cause: str | None = None
    created_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    ended_at: float | None = None
    batch_id: str | None = None

    @property
    def active(self) -> bool:
        return self.status not in _TERMINAL

    def call_info(self, call_id: str) -> CallInfo:
        """The facts of the call this session placed or answered."""
        return CallInfo(
            call_id=call_id,
            channel=self.mode,
            direction=self.direction,
            caller=self.from_number,
            callee=self.to_number,
            persona=self.persona,
            language=self.language,
            name=self.name,
            variables=self.variables,
            session_id=self.session_id,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "session_id": self.session_id,
            "call_control_id": self.call_control_id,
            "direction": self.direction,
            "from": self.from_number,
            "to": self.to_number,
            "name": self.name,
            "persona": self.persona,
            "mode": str(self.mode),
            "status": str(self.status),
            "outcome": self.outcome,
            "hangup_cause": self.hangup_cause,
        }


def new_session(
    direction: Direction,
    from_number: str,
    to_number: str,
    *,
    name: str = "",
    persona: str = "maria",
    language: str = "en",
    variables: Mapping[str, str] | None = None,
    mode: ChannelKind = ChannelKind.MEDIA_STREAM,
    batch_id: str | None = None,
    status: SessionStatus = SessionStatus.CREATED,
) -> Session:
    """A fresh session with a new id (what every store's ``create`` makes, then keeps)."""
    return Session(
        uuid.uuid4().hex,
        direction,
        from_number,
        to_number,
        name=name,
        persona=persona,
        language=language,
        variables=dict(variables or {}),
        mode=mode,
        batch_id=batch_id,
        status=status,
        answered_at=time.time() if status is SessionStatus.ANSWERED else None,
    )


def session_to_json(session: Session) -> str:
    """A session as one JSON document (how a shared store keeps it)."""
    fields = dataclasses.asdict(session)
    fields["variables"] = dict(session.variables)
    return json.dumps(fields, separators=(",", ":"))


def session_from_json(raw: str | bytes) -> Session:
    """The session a :func:`session_to_json` document describes; ValueError when it is not
    one (a document from an incompatible version, or damaged)."""
    try:
        fields = json.loads(raw)
        if fields["direction"] not in ("inbound", "outbound"):
            raise ValueError(f"direction {fields['direction']!r}")
        fields["mode"] = ChannelKind(fields["mode"])
        fields["status"] = SessionStatus(fields["status"])
        return Session(**fields)
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"not a stored session: {exc}") from None


_CHANGEABLE = frozenset({"outcome", "hangup_cause", "mode"})
"""What ``update`` may change besides the status (ids and tokens have their own methods;
timestamps follow the status)."""


class SessionStore(Protocol):
    """Where sessions live: memory for one process, Redis for several (later)."""

    async def create(
        self,
        direction: Direction,
        from_number: str,
        to_number: str,
        *,
        name: str = "",
        persona: str = "maria",
        language: str = "en",
        variables: Mapping[str, str] | None = None,
        mode: ChannelKind = ChannelKind.MEDIA_STREAM,
        batch_id: str | None = None,
        status: SessionStatus = SessionStatus.CREATED,
    ) -> Session: ...

    async def get(self, session_id: str | None) -> Session | None: ...

    async def by_call(self, call_control_id: str | None) -> Session | None: ...

    async def attach_call(self, session_id: str, call_control_id: str) -> Session | None:
        """Link Telnyx's id for the call to the session."""
        ...

    async def new_stream_token(self, session_id: str) -> str:
        """A fresh secret the media stream of this call must present."""
        ...

    async def update(
        self, session_id: str, *, status: SessionStatus | None = None, **changes: object
    ) -> Session | None:
        """Apply ``changes`` (and move to ``status``) atomically; None when the session is
        unknown or the move would go backwards, in which case nothing changes."""
        ...

    async def active(self) -> list[Session]: ...


def apply_update(
    session: Session, status: SessionStatus | None, changes: Mapping[str, object], now: float
) -> Session | None:
    """The session after an update, or None when the update is refused (pure: every store
    decides the same way)."""
    unknown = set(changes) - _CHANGEABLE
    if unknown:
        raise ValueError(f"sessions cannot change {sorted(unknown)} through update()")
    fields: dict[str, object] = dict(changes)
    if status is not None and status is not session.status:
        if not can_move(session.status, status):
            log.debug(
                "session %s: %s → %s refused (it never goes back)",
                session.session_id,
                session.status,
                status,
            )
            return None
        fields["status"] = status
        if status is SessionStatus.ANSWERED:
            fields["answered_at"] = now
        elif status in _TERMINAL:
            fields["ended_at"] = now
    elif not session.active and any(
        getattr(session, name) not in (None, value) for name, value in changes.items()
    ):
        return None  # an ended session's facts are final: late news may only fill a gap
    return dataclasses.replace(session, **fields)  # type: ignore[arg-type]


class MemorySessionStore:
    """Sessions of this process, indexed by session id and by Telnyx ``call_control_id``.

    Ended sessions are kept (stats and late webhooks want them) up to ``max_ended``; the
    oldest are forgotten first, so a long-running server does not grow without bound.
    """

    def __init__(self, *, max_ended: int = 10_000) -> None:
        self._by_id: dict[str, Session] = {}
        self._by_call: dict[str, str] = {}
        self._ended: deque[str] = deque()
        self._max_ended = max_ended

    async def create(
        self,
        direction: Direction,
        from_number: str,
        to_number: str,
        *,
        name: str = "",
        persona: str = "maria",
        language: str = "en",
        variables: Mapping[str, str] | None = None,
        mode: ChannelKind = ChannelKind.MEDIA_STREAM,
        batch_id: str | None = None,
        status: SessionStatus = SessionStatus.CREATED,
    ) -> Session:
        session = new_session(
            direction,
            from_number,
            to_number,
            name=name,
            persona=persona,
            language=language,
            variables=variables,
            mode=mode,
            batch_id=batch_id,
            status=status,
        )
        self._by_id[session.session_id] = session
        return session

    async def put(self, session: Session) -> None:
        """Keep a whole session (a copy of a shared one, say)."""
        before = self._by_id.get(session.session_id)
        self._by_id[session.session_id] = session
        if session.call_control_id:
            self._by_call[session.call_control_id] = session.session_id
        if not session.active and (before is None or before.active):
            self._retire(session.session_id)

    async def get(self, session_id: str | None) -> Session | None:
        return self._by_id.get(session_id) if session_id else None

    async def by_call(self, call_control_id: str | None) -> Session | None:
        if not call_control_id:
            return None
        session_id = self._by_call.get(call_control_id)
        return self._by_id.get(session_id) if session_id else None

    async def attach_call(self, session_id: str, call_control_id: str) -> Session | None:
        session = self._by_id.get(session_id)
        if session is None:
            return None
        session = dataclasses.replace(session, call_control_id=call_control_id)
        self._by_id[session_id] = session
        self._by_call[call_control_id] = session_id
        return session

    async def new_stream_token(self, session_id: str) -> str:
        token = secrets.token_urlsafe(24)
        session = self._by_id[session_id]
        self._by_id[session_id] = dataclasses.replace(session, stream_token=token)
        return token

    async def update(
        self, session_id: str, *, status: SessionStatus | None = None, **changes: object
    ) -> Session | None:
        session = self._by_id.get(session_id)
        if session is None:
            return None
        updated = apply_update(session, status, changes, time.time())
        if updated is None:
            return None
        self._by_id[session_id] = updated
        if session.active and not updated.active:
            self._retire(session_id)
        return updated

    async def active(self) -> list[Session]:
        return [s for s in self._by_id.values() if s.active]

    def _retire(self, session_id: str) -> None:
        self._ended.append(session_id)
        while len(self._ended) > self._max_ended:
            old = self._by_id.pop(self._ended.popleft(), None)
            if old is not None and old.call_control_id:
                self._by_call.pop(old.call_control_id, None)
