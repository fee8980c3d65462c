"""The concierge's apartments and their reservations: what is free, booking, finding, cancelling.

A stay is the nights from ``check_in`` up to (not including) ``check_out``, as calendar dates
in the business's own time zone: a guest leaving on the 15th frees the 15th for the next one.

Two callers may ask for the same apartment and nights at once. Booking checks for an
overlapping stay and inserts in one transaction that holds a lock on the apartment: on SQLite
the database's write lock (``BEGIN IMMEDIATE`` plus the in-process queue of
:meth:`Database.transaction`), on PostgreSQL the apartment's row, locked with
``SELECT … FOR UPDATE``. The second booking waits for the first to commit, then sees it and is
refused with :class:`DatesTaken`, so exactly one of them wins.

The apartments themselves are seeded from the persona file the first time the book is used,
idempotently: an apartment already in the table (by its key) is left as it is, so prices an
operator changed in the database are kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from voxagent.state.database import ApartmentRow, Database, ReservationRow, utc_now

__all__ = [
    "BOOKED",
    "CANCELLED",
    "Apartment",
    "ApartmentBook",
    "ApartmentSeed",
    "DatesTaken",
    "Offer",
    "Reservation",
    "ReservationError",
    "StayInvalid",
    "TooManyGuests",
    "UnknownApartment",
]

BOOKED = "booked"
CANCELLED = "cancelled"

# Serializes the first seeding when several workers start on one PostgreSQL database.
_SEED_LOCK_KEY = 0x766F78_0002


class ReservationError(Exception):
    """A booking was refused; the message says why, fit for a log or a tool result."""


class StayInvalid(ReservationError):
    """The dates make no stay: in the past, leaving before arriving, or too long.

    ``reason`` says which, for an agent to word it: ``order``, ``past``, ``too_long`` or
    ``too_far``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TooManyGuests(ReservationError):
    """The apartment sleeps fewer people than asked for."""


class DatesTaken(ReservationError):
    """Another booked stay holds some of the nights (also when a concurrent booking won)."""


class UnknownApartment(ReservationError):
    """No apartment has that id."""


@dataclass(frozen=True, slots=True)
class ApartmentSeed:
    """An apartment as the persona file describes it, to create its row on first use."""

    key: str
    name: str
    neighbourhood: str
    bedrooms: int
    max_guests: int
    price_per_night: int
    descriptions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Apartment:
    """An apartment as callers see it (never the ORM row)."""

    id: int
    key: str
    name: str
    neighbourhood: str
    bedrooms: int
    max_guests: int
    price_per_night: int
    descriptions: Mapping[str, str]

    @classmethod
    def from_row(cls, row: ApartmentRow) -> Apartment:
        return cls(
            id=row.id,
            key=row.key,
            name=row.name,
            neighbourhood=row.neighbourhood,
            bedrooms=row.bedrooms,
            max_guests=row.max_guests,
            price_per_night=row.price_per_night,
            descriptions={"en": row.description_en, "es": row.description_es},
        )

    def description(self, lang: str) -> str:
        return self.descriptions.get(lang) or self.descriptions.get("en", "")


@dataclass(frozen=True, slots=True)
class Offer:
    """A free apartment for a stay, with what the stay costs."""

    apartment: Apartment
    check_in: date
    check_out: date

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days

    @property
    def total(self) -> int:
        return self.nights * self.apartment.price_per_night


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reservation as callers see it, with its apartment's name."""

    id: int
    apartment_id: int
    apartment_name: str
    guest_name: str
    guest_phone: str
    check_in: date
    check_out: date
    guests: int
    total_price: int
    status: str
    call_id: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: ReservationRow, apartment_name: str) -> Reservation:
        return cls(
            id=row.id,
            apartment_id=row.apartment_id,
            apartment_name=apartment_name,
            guest_name=row.guest_name,
            guest_phone=row.guest_phone,
            check_in=row.check_in,
            check_out=row.check_out,
            guests=row.guests,
            total_price=row.total_price,
            status=row.status,
            call_id=row.call_id,
            created_at=row.created_at,
        )

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days


class ApartmentBook:
    """The apartments and reservations of one business in one database."""

    def __init__(
        self,
        db: Database,
        seeds: Sequence[ApartmentSeed] = (),
        *,
        today: Callable[[], date] = lambda: utc_now().date(),
        max_nights: int = 30,
        horizon_days: int = 365,
    ) -> None:
        self.db = db
        self.seeds = tuple(seeds)
        self.max_nights = max_nights
        self.horizon_days = horizon_days
        self._today = today
        self._seeded = False
        self._seed_lock = asyncio.Lock()

    # -- apartments ---------------------------------------------------------------------------

    async def ensure_seeded(self) -> None:
        """Create the seed apartments missing from the table (once per book)."""
        if self._seeded:
            return
        async with self._seed_lock:
            if self._seeded:
                return
            if self.seeds:
                async with self.db.transaction() as session:
                    if self.db.is_postgres:
                        await session.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK_KEY}
                        )
                    present = set(await session.scalars(select(ApartmentRow.key)))
                    for seed in self.seeds:
                        if seed.key not in present:
                            session.add(_row_of(seed))
            self._seeded = True

    async def apartments(self) -> list[Apartment]:
        """Every apartment, cheapest first."""
        await self.ensure_seeded()
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(ApartmentRow).order_by(ApartmentRow.price_per_night, ApartmentRow.id)
            )
            return [Apartment.from_row(r) for r in rows]

    async def get(self, apartment_id: int) -> Apartment | None:
        await self.ensure_seeded()
        async with self.db.transaction() as session:
            row = await session.get(ApartmentRow, apartment_id)
            return Apartment.from_row(row) if row else None

    # -- availability -------------------------------------------------------------------------

    def check_stay(self, check_in: date, check_out: date) -> None:
        """Raise :class:`StayInvalid` unless the dates make a stay that can be booked."""
        today = self._today()
        if check_out <= check_in:
            raise StayInvalid("the check-out date must be after the check-in date", "order")
        if check_in < today:
            raise StayInvalid(f"{check_in.isoformat()} has already passed", "past")
        if (check_out - check_in).days > self.max_nights:
            raise StayInvalid(f"stays are at most {self.max_nights} nights", "too_long")
        if check_in > today + timedelta(days=self.horizon_days):
            raise StayInvalid(f"bookings open {self.horizon_days} days ahead", "too_far")

    async def free(self, check_in: date, check_out: date, guests: int = 1) -> list[Offer]:
        """The apartments free for the whole stay that sleep ``guests``, cheapest first."""
        self.check_stay(check_in, check_out)
        await self.ensure_seeded()
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(ApartmentRow)
                .where(ApartmentRow.max_guests >= max(guests, 1))
                .order_by(ApartmentRow.price_per_night, ApartmentRow.id)
            )
            apartments = list(rows)
            busy = set(
                await session.scalars(
                    select(ReservationRow.apartment_id).where(
                        ReservationRow.status == BOOKED,
                        ReservationRow.check_in < check_out,
                        ReservationRow.check_out > check_in,
                    )
                )
            )
        return [
            Offer(Apartment.from_row(row), check_in, check_out)
            for row in apartments
            if row.id not in busy
        ]

    async def nearest_free(
        self, check_in: date, nights: int, guests: int = 1, *, days: int = 14
    ) -> list[Offer]:
        """Other stays of the same length, starting up to ``days`` before or after
        ``check_in`` (nearest first), each with its cheapest free apartment."""
        found: list[Offer] = []
        for shift in sorted(range(-days, days + 1), key=lambda d: (abs(d), d < 0)):
            start = check_in + timedelta(days=shift)
            if shift == 0:
                continue
            try:
                offers = await self.free(start, start + timedelta(days=nights), guests)
            except StayInvalid:
                continue
            if offers:
                found.append(offers[0])
                if len(found) >= 3:
                    break
        return found

    # -- reservations -------------------------------------------------------------------------

    async def book(
        self,
        apartment_id: int,
        check_in: date,
        check_out: date,
        guests: int,
        guest_name: str,
        *,
        guest_phone: str = "",
        call_id: str = "",
    ) -> Reservation:
        """Reserve the nights, or raise :class:`StayInvalid`, :class:`TooManyGuests`,
        :class:`UnknownApartment` or :class:`DatesTaken` (also when a concurrent booking of
        the same nights won the race)."""
        if not guest_name.strip():
            raise ReservationError("a guest name is required")
        if guests < 1:
            raise ReservationError("at least one guest is required")
        self.check_stay(check_in, check_out)
        await self.ensure_seeded()
        async with self.db.transaction() as session:
            apartment = await session.scalar(
                select(ApartmentRow).where(ApartmentRow.id == apartment_id).with_for_update()
            )
            if apartment is None:
                raise UnknownApartment(f"there is no apartment {apartment_id}")
            if guests > apartment.max_guests:
                raise TooManyGuests(
                    f"{apartment.name} sleeps at most {apartment.max_guests} guests"
                )
            if await self._overlapping(session, apartment_id, check_in, check_out):
                raise DatesTaken(f"{apartment.name} is already booked for some of those nights")
            row = ReservationRow(
                apartment_id=apartment_id,
                guest_name=guest_name.strip()[:200],
                guest_phone=guest_phone.strip()[:128],
                check_in=check_in,
                check_out=check_out,
                guests=guests,
                total_price=(check_out - check_in).days * apartment.price_per_night,
                status=BOOKED,
                call_id=call_id,
                created_at=utc_now().astimezone(UTC),
            )
            session.add(row)
            await session.flush()
            return Reservation.from_row(row, apartment.name)

    async def reservations(
        self, *, guest_phone: str | None = None, include_past: bool = False
    ) -> list[Reservation]:
        """Booked reservations (of one phone or user when given), soonest first; past stays
        (checked out before today) only when asked for."""
        await self.ensure_seeded()
        query = (
            select(ReservationRow, ApartmentRow.name)
            .join(ApartmentRow, ApartmentRow.id == ReservationRow.apartment_id)
            .where(ReservationRow.status == BOOKED)
        )
        if guest_phone:
            query = query.where(ReservationRow.guest_phone == guest_phone)
        if not include_past:
            query = query.where(ReservationRow.check_out > self._today())
        async with self.db.transaction() as session:
            rows = await session.execute(
                query.order_by(ReservationRow.check_in, ReservationRow.id).limit(500)
            )
            return [Reservation.from_row(row, name) for row, name in rows]

    async def get_reservation(self, reservation_id: int) -> Reservation | None:
        async with self.db.transaction() as session:
            found = (
                await session.execute(
                    select(ReservationRow, ApartmentRow.name)
                    .join(ApartmentRow, ApartmentRow.id == ReservationRow.apartment_id)
                    .where(ReservationRow.id == reservation_id)
                )
            ).first()
            return Reservation.from_row(found[0], found[1]) if found else None

    async def cancel(self, reservation_id: int) -> Reservation | None:
        """Cancel a booked reservation; None when there is none (or it was cancelled)."""
        async with self.db.transaction() as session:
            found = (
                await session.execute(
                    select(ReservationRow, ApartmentRow.name)
                    .join(ApartmentRow, ApartmentRow.id == ReservationRow.apartment_id)
                    .where(ReservationRow.id == reservation_id, ReservationRow.status == BOOKED)
                    .with_for_update(of=ReservationRow)
                )
            ).first()
            if found is None:
                return None
            row, name = found
            row.status = CANCELLED
            await session.flush()
            return Reservation.from_row(row, name)

    # -- helpers ------------------------------------------------------------------------------

    async def _overlapping(
        self, session: AsyncSession, apartment_id: int, check_in: date, check_out: date
    ) -> bool:
        found = await session.scalar(
            select(ReservationRow.id)
            .where(
                ReservationRow.apartment_id == apartment_id,
                ReservationRow.status == BOOKED,
                ReservationRow.check_in < check_out,
                ReservationRow.check_out > check_in,
            )
            .limit(1)
        )
        return found is not None


def _row_of(seed: ApartmentSeed) -> ApartmentRow:
    return ApartmentRow(
        key=seed.key,
        name=seed.name,
        neighbourhood=seed.neighbourhood,
        bedrooms=seed.bedrooms,
        max_guests=seed.max_guests,
        price_per_night=seed.price_per_night,
        description_en=seed.descriptions.get("en", ""),
        description_es=seed.descriptions.get("es", ""),
        created_at=utc_now(),
    )
