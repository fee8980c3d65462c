"""The clinic's appointment book: opening hours, free slots, booking and cancelling.

Opening hours come from the persona (clinic time); the database stores UTC. Booking is safe
under concurrency on both back-ends: the overlap check and the insert run in one transaction
that is serialized per clinic day (``BEGIN IMMEDIATE`` plus an in-process lock on SQLite, a
transaction-scoped advisory lock on PostgreSQL), and a partial unique index on booked start
times catches anything that slips past, so two callers can never get the same slot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from voxagent.agents.persona import Persona
from voxagent.state.database import AppointmentRow, Database, utc_now

BOOKED = "booked"
CANCELLED = "cancelled"

# How far ahead free slots are searched for; past this the clinic is effectively full.
SEARCH_HORIZON_DAYS = 60
_DAY_LOCK_BASE = 0x766F78_1000_0000


class BookingError(Exception):
    """A booking was refused; the message says why in words fit for a log or a tool result."""


class SlotTaken(BookingError):
    """Another appointment already holds (part of) the requested slot."""


class ClinicClosed(BookingError):
    """The slot is outside opening hours, on a closed day, or does not fit before closing."""


class SlotInPast(BookingError):
    """The slot has already started."""


@dataclass(frozen=True, slots=True)
class Appointment:
    """An appointment as callers see it (never the ORM row): times are aware UTC datetimes."""

    id: int
    call_id: str
    owner_name: str
    owner_phone: str
    pet_name: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    status: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: AppointmentRow) -> Appointment:
        return cls(
            id=row.id,
            call_id=row.call_id,
            owner_name=row.owner_name,
            owner_phone=row.owner_phone,
            pet_name=row.pet_name,
            reason=row.reason,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=row.status,
            created_at=row.created_at,
        )


class AppointmentBook:
    """Appointments of one clinic (one persona) in one database."""

    def __init__(
        self, db: Database, persona: Persona, *, now: Callable[[], datetime] = utc_now
    ) -> None:
        self.db = db
        self.persona = persona
        self._now = now

    # -- reading ----------------------------------------------------------------------------------

    async def is_open(self, start: datetime) -> bool:
        """Whether a whole slot starting at ``start`` lies within opening hours."""
        _require_aware(start)
        return self.persona.fits_hours(start)

    async def is_free(self, start: datetime) -> bool:
        """Whether no booked appointment overlaps the slot starting at ``start``."""
        _require_aware(start)
        async with self.db.transaction() as session:
            return not await self._overlapping(session, start, start + self.persona.slot)

    async def next_free_slots(self, after: datetime, count: int = 3) -> list[datetime]:
        """The first ``count`` free slot starts at or after ``after`` (and not in the past).

        Slots follow the grid of each opening range (09:00, 09:30, …), in clinic time.
        """
        _require_aware(after)
        after = max(after, self._now())
        horizon = after + timedelta(days=SEARCH_HORIZON_DAYS)
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(AppointmentRow.starts_at, AppointmentRow.ends_at).where(
                    AppointmentRow.status == BOOKED,
                    AppointmentRow.ends_at > after,
                    AppointmentRow.starts_at < horizon,
                )
            )
            busy = sorted((s, e) for s, e in rows)
        found: list[datetime] = []
        for start in self._grid(after, horizon):
            end = start + self.persona.slot
            if not any(s < end and e > start for s, e in busy):
                found.append(start)
                if len(found) >= count:
                    break
        return found

    async def find_for(
        self,
        *,
        owner_phone: str | None = None,
        pet_name: str | None = None,
        include_past: bool = False,
    ) -> list[Appointment]:
        """Booked appointments of an owner's phone and/or a pet (any case), soonest first."""
        query = select(AppointmentRow).where(AppointmentRow.status == BOOKED)
        if owner_phone:
            query = query.where(AppointmentRow.owner_phone == owner_phone)
        if pet_name:
            query = query.where(func.lower(AppointmentRow.pet_name) == pet_name.strip().lower())
        if not include_past:
            query = query.where(AppointmentRow.ends_at > self._now())
        async with self.db.transaction() as session:
            rows = await session.scalars(query.order_by(AppointmentRow.starts_at))
            return [Appointment.from_row(r) for r in rows]

    async def upcoming(self, limit: int = 200) -> list[Appointment]:
        """Booked appointments that have not ended yet, soonest first."""
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(AppointmentRow)
                .where(AppointmentRow.status == BOOKED, AppointmentRow.ends_at > self._now())
                .order_by(AppointmentRow.starts_at)
                .limit(limit)
            )
            return [Appointment.from_row(r) for r in rows]

    async def get(self, appointment_id: int) -> Appointment | None:
        async with self.db.transaction() as session:
            row = await session.get(AppointmentRow, appointment_id)
            return Appointment.from_row(row) if row else None

    # -- writing ----------------------------------------------------------------------------------

    async def book(
        self,
        call_id: str,
        pet_name: str,
        reason: str,
        start: datetime,
        owner_name: str = "",
        owner_phone: str = "",
    ) -> Appointment:
        """Book the slot starting at ``start``.

        Raises :class:`ClinicClosed`, :class:`SlotInPast` or :class:`SlotTaken` (also when a
        concurrent booking of the same slot wins the race).
        """
        _require_aware(start)
        if not pet_name.strip():
            raise BookingError("a pet name is required")
        if not self.persona.fits_hours(start):
            raise ClinicClosed(f"the clinic is closed at {self._describe(start)}")
        if start < self._now():
            raise SlotInPast(f"{self._describe(start)} has already passed")
        start = start.astimezone(UTC)  # what the row holds is what the caller gets back
        end = start + self.persona.slot
        try:
            async with self.db.transaction() as session:
                await self._lock_day(session, start)
                if await self._overlapping(session, start, end):
                    raise SlotTaken(f"{self._describe(start)} is already booked")
                row = AppointmentRow(
                    call_id=call_id,
                    owner_name=owner_name.strip(),
                    owner_phone=owner_phone.strip(),
                    pet_name=pet_name.strip(),
                    reason=reason.strip(),
                    starts_at=start,
                    ends_at=end,
                    status=BOOKED,
                    created_at=self._now().astimezone(UTC),
                )
                session.add(row)
                await session.flush()
                return Appointment.from_row(row)
        except IntegrityError:
            raise SlotTaken(f"{self._describe(start)} is already booked") from None

    async def cancel(
        self,
        appointment_id: int | None = None,
        *,
        owner_phone: str | None = None,
        pet_name: str | None = None,
        start: datetime | None = None,
    ) -> bool:
        """Cancel by id, or by (owner phone or pet name) plus start time. True if one was."""
        query = select(AppointmentRow).where(AppointmentRow.status == BOOKED)
        if appointment_id is not None:
            query = query.where(AppointmentRow.id == appointment_id)
        else:
            if start is None or not (owner_phone or pet_name):
                raise ValueError("cancel needs an appointment id, or a start with a phone or pet")
            _require_aware(start)
            query = query.where(AppointmentRow.starts_at == start)
            if owner_phone:
                query = query.where(AppointmentRow.owner_phone == owner_phone)
            if pet_name:
                query = query.where(func.lower(AppointmentRow.pet_name) == pet_name.strip().lower())
        async with self.db.transaction() as session:
            rows = list(await session.scalars(query))
            for row in rows:
                row.status = CANCELLED
            return bool(rows)

    # -- helpers ----------------------------------------------------------------------------------

    async def _overlapping(self, session: AsyncSession, start: datetime, end: datetime) -> bool:
        found = await session.scalar(
            select(AppointmentRow.id)
            .where(
                AppointmentRow.status == BOOKED,
                AppointmentRow.starts_at < end,
                AppointmentRow.ends_at > start,
            )
            .limit(1)
        )
        return found is not None

    async def _lock_day(self, session: AsyncSession, start: datetime) -> None:
        """Serialize bookings of one clinic day on PostgreSQL (SQLite is serialized already)."""
        if self.db.is_postgres:
            day = self.persona.local(start).date()
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": _DAY_LOCK_BASE + day.toordinal()},
            )

    def _grid(self, after: datetime, until: datetime) -> Sequence[datetime]:
        """Slot starts on the opening-hours grid between ``after`` and ``until``."""
        persona = self.persona
        zone = persona.zone
        slot = persona.slot
        starts: list[datetime] = []
        day: date = persona.local(after).date()
        last: date = persona.local(until).date()
        while day <= last:
            for opening, closing in persona.intervals_on(day):
                moment = datetime.combine(day, opening, tzinfo=zone)
                close_at = datetime.combine(day, closing, tzinfo=zone)
                while moment + slot <= close_at:
                    if moment >= after:
                        starts.append(moment.astimezone(UTC))
                    moment += slot
            day += timedelta(days=1)
        return starts

    def _describe(self, start: datetime) -> str:
        return self.persona.format_when(start, "en")


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
