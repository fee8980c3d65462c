"""Batches of outbound calls: at most ``concurrency`` in progress, dialled at ``pace`` per second.

A slot is held from dialling until the call has ended (its hang-up webhook), so a batch never
has more live calls than its limit; the runner is told of endings by the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voxagent.calls.sessions import Session

log = logging.getLogger(__name__)

ENDED_POLL_S = 1.0
"""How often a batch looks at the sessions of its calls in progress."""


@dataclass
class BatchEntry:
    index: int
    name: str
    phone: str
    variables: dict[str, str] = field(default_factory=dict)
    status: str = "queued"
    """queued → dialing → in_progress → ended | failed."""
    session_id: str | None = None
    call_control_id: str | None = None
    outcome: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "name": self.name,
            "phone": self.phone,
            "status": self.status,
            "session_id": self.session_id,
            "call_control_id": self.call_control_id,
            "outcome": self.outcome,
            "error": self.error,
        }


Dialer = Callable[[BatchEntry], Awaitable[Session]]


class Batch:
    def __init__(
        self,
        entries: list[BatchEntry],
        concurrency: int,
        pace: float,
        *,
        look_up: Callable[[str], Awaitable[Session | None]] | None = None,
    ) -> None:
        """``look_up(session_id)`` reads a session's state: with several instances a call's
        hang-up webhook may reach another instance, so the batch also looks for itself."""
        self.batch_id = uuid.uuid4().hex
        self._look_up = look_up
        self.entries = entries
        self.concurrency = concurrency
        self.pace = pace
        self._slots = asyncio.Semaphore(concurrency)
        self._ended: dict[str, asyncio.Event] = {}
        self.max_in_progress = 0
        self.task: asyncio.Task[None] | None = None
        self.follower: asyncio.Task[None] | None = None
        """With several instances: the task sharing its progress."""

    @property
    def done(self) -> bool:
        return all(e.status in ("ended", "failed") for e in self.entries)

    def in_progress(self) -> int:
        return sum(1 for e in self.entries if e.status in ("dialing", "in_progress"))

    def summary(self) -> dict[str, object]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        return {
            "batch_id": self.batch_id,
            "done": self.done,
            "concurrency": self.concurrency,
            "pace": self.pace,
            "max_in_progress": self.max_in_progress,
            "counts": counts,
            "entries": [e.as_dict() for e in self.entries],
        }

    def session_ended(self, session: Session) -> None:
        for entry in self.entries:
            if entry.session_id == session.session_id:
                entry.outcome = session.outcome
                if entry.status != "failed":
                    entry.status = "ended"
                event = self._ended.get(session.session_id)
                if event is not None:
                    event.set()

    async def run(self, dial: Dialer) -> None:
        interval = 1.0 / self.pace if self.pace > 0 else 0.0
        tasks = []
        for entry in self.entries:
            await self._slots.acquire()
            tasks.append(asyncio.create_task(self._one(entry, dial)))
            if interval:
                await asyncio.sleep(interval)
        await asyncio.gather(*tasks)
        log.info("batch %s finished: %s", self.batch_id, self.summary()["counts"])

    async def _until_ended(self, session_id: str, event: asyncio.Event) -> None:
        while not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), ENDED_POLL_S)
            if not event.is_set() and self._look_up is not None:
                try:
                    session = await self._look_up(session_id)
                except Exception:  # Redis away: the webhook may still tell us
                    continue
                if session is not None and not session.active:
                    self.session_ended(session)

    async def _one(self, entry: BatchEntry, dial: Dialer) -> None:
        try:
            entry.status = "dialing"
            self.max_in_progress = max(self.max_in_progress, self.in_progress())
            try:
                session = await dial(entry)
            except Exception as exc:
                entry.status = "failed"
                entry.error = str(exc) or type(exc).__name__
                return
            entry.session_id = session.session_id
            entry.call_control_id = session.call_control_id
            event = self._ended.setdefault(session.session_id, asyncio.Event())
            if entry.status == "dialing":
                entry.status = "in_progress"
            if not session.active:
                entry.status, entry.outcome = "ended", session.outcome
                return
            await self._until_ended(session.session_id, event)
        finally:
            self._slots.release()
