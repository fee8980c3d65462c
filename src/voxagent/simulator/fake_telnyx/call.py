"""One call leg as the fake sees it (:class:`FakeCall`), and how Telnyx names and dates it."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from voxagent.simulator.caller import SimulationResult
from voxagent.simulator.fake_telnyx.records import EmittedEvent, JsonObject

__all__ = ["DEFAULT_CONNECTION_ID", "Behaviour", "FakeCall"]

Behaviour = Literal["answer", "busy", "no_answer", "reject", "machine"]
"""What a dialled number does: answer (a human), busy (486), never answer, reject (603),
or answer as an answering machine (AMD result ``machine``)."""

DEFAULT_CONNECTION_ID = "1234567890"


def _now_iso() -> str:
    """ISO-8601 UTC with microseconds and a ``Z``, as in Telnyx's ``occurred_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _new_call_control_id() -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode("ascii").rstrip("=")
    return "v3:" + raw


class _Line(Protocol):
    """The call's media stream in progress (a ``media_line._MediaLine``), as others end it."""

    async def close(self, reason: str) -> None: ...


@dataclass(eq=False, slots=True)
class _Clip:
    """One ``speak`` or ``playback_start`` in the call's audio queue."""

    kind: Literal["speak", "playback"]
    duration: float | None  # None: until stopped (loop "infinity")
    fields: JsonObject
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "completed"

    def stop(self, status: str) -> None:
        if not self.stopped.is_set():
            self.status = status
            self.stopped.set()


@dataclass(eq=False)
class FakeCall:
    """Everything the fake knows about one call leg; public fields are for inspection."""

    call_control_id: str
    call_leg_id: str
    call_session_id: str
    connection_id: str
    direction: Literal["incoming", "outgoing"]
    from_number: str
    to_number: str
    webhook_url: str | None
    script: list[str]
    script_pos: int = 0
    """The next line of ``script``: a new media stream on the call goes on from here."""
    behaviour: str = "answer"
    client_state: str | None = None
    state: Literal["parked", "bridging", "answered", "hangup"] = "parked"
    options: JsonObject = field(default_factory=dict)
    """The dial (outbound) or answer (inbound) body."""
    stream: JsonObject | None = None
    """``stream_*`` fields of the stream in effect (or last in effect)."""
    streaming: bool = False
    transcribing: bool = False
    interim_results: bool = False
    started_at: float = field(default_factory=time.time)
    start_time: str = field(default_factory=_now_iso)
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: str | None = None
    hangup_source: str | None = None
    sip_hangup_cause: str | None = None
    spoken: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    fetched: list[tuple[str, int, str, bytes]] = field(default_factory=list)
    """``playback_start`` audio Telnyx downloaded: (url, HTTP status, content type, body)."""
    said: list[str] = field(default_factory=list)
    """What the party said through ``call.transcription`` (webhook mode)."""
    dtmf_sent: list[str] = field(default_factory=list)
    transferred_to: str | None = None
    agent_turns: int = 0
    """``speak``/``playback`` clips that finished (the party answers after each)."""
    reply_timeouts: int = 0
    simulation: SimulationResult | None = None
    """The party on the call's latest media stream (``simulations`` has every stream's)."""
    simulations: list[SimulationResult] = field(default_factory=list)
    """The party on each media stream of the call, in order."""
    stream_error: str | None = None
    events: list[EmittedEvent] = field(default_factory=list, repr=False)

    _outbox: deque[EmittedEvent] = field(init=False, default_factory=deque, repr=False)
    _sender: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _tasks: set[asyncio.Task[None]] = field(init=False, default_factory=set, repr=False)
    _sim: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _party: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _player: asyncio.Task[None] | None = field(init=False, default=None, repr=False)
    _clips: deque[_Clip] = field(init=False, default_factory=deque, repr=False)
    _current: _Clip | None = field(init=False, default=None, repr=False)
    _line: _Line | None = field(init=False, default=None, repr=False)
    _stream_serial: int = field(init=False, default=0, repr=False)
    """How many media streams were started: which one is the call's current stream."""
    _commands: set[str] = field(init=False, default_factory=set, repr=False)
    _changed: asyncio.Event = field(init=False, default_factory=asyncio.Event, repr=False)
    _hung_up: asyncio.Event = field(init=False, default_factory=asyncio.Event, repr=False)
    """Set once ``call.hangup`` has been queued (everything about the call is over)."""

    @property
    def alive(self) -> bool:
        return self.state != "hangup"

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def agent_idle(self) -> bool:
        return self._current is None and not self._clips

    @property
    def event_types(self) -> list[str]:
        return [e.event_type for e in self.events]

    def lines_said(self) -> list[int]:
        """The script lines the party began over all its media streams, in order (0-based
        indices into ``script``; a line said again after a stream was lost appears again)."""
        said: list[int] = []
        offset = 0
        for simulation in self.simulations:
            said += [offset + t.line for t in simulation.turns if t.line is not None]
            offset += simulation.resume_at
        return said

    def notify(self) -> None:
        """Wake everything waiting for this call to change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], within_s: float | None) -> bool:
        """Wait for ``predicate`` (re-checked on every :meth:`notify`); False if ``within_s``
        passes first."""
        loop = asyncio.get_running_loop()
        deadline = None if within_s is None else loop.time() + within_s
        while not predicate():
            changed = self._changed
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    def summary(self) -> JsonObject:
        return {
            "call_control_id": self.call_control_id,
            "direction": self.direction,
            "from": self.from_number,
            "to": self.to_number,
            "state": self.state,
            "streaming": self.streaming,
            "transcribing": self.transcribing,
            "hangup_cause": self.hangup_cause,
            "hangup_source": self.hangup_source,
            "events": self.event_types,
        }
