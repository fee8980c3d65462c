"""The clinic's tools: what an agent may do besides talking.

The scripted receptionist calls these methods directly; an LLM agent will see :data:`TOOLS`
(name, one-line description, JSON schema of the arguments) and call :meth:`ClinicTools.execute`.
Either way results are plain JSON-able dicts with ``ok`` and a ``message`` (plus data), and
failures are results too, never exceptions: a model can read "that slot is taken" and recover,
it cannot read a traceback. Either way, too, the call's tool observer (if any) hears each run
(see :mod:`voxagent.agents.toolkit`, which holds what every persona's tools share).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from voxagent.agents import understanding
from voxagent.agents.persona import Persona
from voxagent.agents.toolkit import (
    Result,
    ToolObserver,
    ToolSpec,
    observed,
    run_tool,
)
from voxagent.agents.toolkit import error as _error
from voxagent.agents.toolkit import schema as _schema
from voxagent.calls.info import CallInfo
from voxagent.state.appointments import (
    Appointment,
    AppointmentBook,
    BookingError,
    ClinicClosed,
    SlotInPast,
    SlotTaken,
)
from voxagent.state.database import utc_now

# How many free alternatives to offer when a requested slot cannot be had.
ALTERNATIVES = 3


_DAY = {
    "type": "string",
    "description": "A date as YYYY-MM-DD, or words like 'today', 'tomorrow', 'next monday'.",
}
_TIME = {"type": "string", "description": "A clock time as HH:MM (24 h), or words like '3 pm'."}
_PET = {"type": "string", "description": "The pet's name."}

TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "check_availability",
            "Check whether the clinic is open and the slot free at a day and time; "
            "suggests alternatives when not.",
            _schema(("day", "time"), day=_DAY, time=_TIME),
        ),
        ToolSpec(
            "book_appointment",
            "Book an appointment for a pet. Only call after the caller confirmed the details.",
            _schema(
                ("pet_name", "reason", "day", "time"),
                pet_name=_PET,
                reason={"type": "string", "description": "Service or reason for the visit."},
                day=_DAY,
                time=_TIME,
            ),
        ),
        ToolSpec(
            "find_appointments",
            "List the upcoming appointments of a pet (of this caller), optionally on one day.",
            _schema(("pet_name",), pet_name=_PET, day=_DAY),
        ),
        ToolSpec(
            "cancel_appointment",
            "Cancel a pet's upcoming appointment (the one on `day` if given). "
            "Only call after the caller confirmed.",
            _schema(
                ("pet_name",),
                pet_name=_PET,
                day=_DAY,
                appointment_id={"type": "integer", "description": "Exact appointment to cancel."},
            ),
        ),
        ToolSpec(
            "clinic_info",
            "Facts about the clinic: opening hours, address, prices, emergencies.",
            _schema(
                ("topic",),
                topic={"type": "string", "enum": ["hours", "address", "prices", "emergencies"]},
                service={"type": "string", "description": "For prices: one service only."},
            ),
        ),
        ToolSpec(
            "transfer_to_human",
            "Transfer the caller to a member of the clinic's staff.",
            _schema(()),
        ),
        ToolSpec("end_call", "Hang up after saying goodbye.", _schema(())),
    )
}


class ClinicTools:
    """The tools bound to one call (so bookings carry its id and the caller's number)."""

    def __init__(
        self,
        book: AppointmentBook,
        call: CallInfo,
        *,
        now: Callable[[], datetime] = utc_now,
        on_tool: ToolObserver | None = None,
    ) -> None:
        self.book = book
        self.call = call
        self.on_tool = on_tool
        """Told about every tool run (see :mod:`voxagent.agents.toolkit`)."""
        self._now = now
        self._handlers: dict[str, Callable[..., Awaitable[Result]]] = {
            "check_availability": self.check_availability,
            "book_appointment": self.book_appointment,
            "find_appointments": self.find_appointments,
            "cancel_appointment": self.cancel_appointment,
            "clinic_info": self.clinic_info,
            "transfer_to_human": self.transfer_to_human,
            "end_call": self.end_call,
        }

    @property
    def persona(self) -> Persona:
        return self.book.persona

    @property
    def lang(self) -> str:
        return self.call.language if self.call.language in ("en", "es") else "en"

    @property
    def specs(self) -> list[ToolSpec]:
        return list(TOOLS.values())

    async def execute(self, name: str, args: Mapping[str, Any] | None = None) -> Result:
        """Run a tool by name with JSON arguments; every problem comes back as a result."""
        return await run_tool(TOOLS, self._handlers, name, args, self.on_tool)

    # -- appointments -----------------------------------------------------------------------------

    @observed
    async def check_availability(self, day: str, time: str) -> Result:
        """Whether ``day``/``time`` can be booked; otherwise why, and what can."""
        start = self._when(day, time)
        if start is None:
            return _error(f"could not understand the day {day!r} or time {time!r}")
        local = self.persona.local(start)
        base: Result = {"start": start.isoformat(), "when": self._say(start)}
        if start < self._now():
            alternatives = await self.book.next_free_slots(self._now(), ALTERNATIVES)
            return self._unavailable(base, "past", "that time has already passed", alternatives)
        if not await self.book.is_open(start):
            day_hours = self.persona.hours_on(local.date(), "en")
            alternatives = await self._alternatives_when_closed(start)
            reason = "closed_day" if not day_hours else "closed_time"
            message = (
                f"the clinic is closed on {self.persona.format_day(local.date(), 'en')}"
                if not day_hours
                else f"outside opening hours; that day the clinic is open {day_hours}"
            )
            return self._unavailable(base, reason, message, alternatives)
        if not await self.book.is_free(start):
            alternatives = await self.book.next_free_slots(start, ALTERNATIVES)
            return self._unavailable(base, "taken", "that slot is already booked", alternatives)
        return {**base, "ok": True, "available": True, "message": f"{base['when']} is free"}

    @observed
    async def book_appointment(self, pet_name: str, reason: str, day: str, time: str) -> Result:
        """Book, turning refusals into results with alternatives."""
        start = self._when(day, time)
        if start is None:
            return _error(f"could not understand the day {day!r} or time {time!r}")
        try:
            appointment = await self.book.book(
                self.call.call_id,
                pet_name,
                reason,
                start,
                owner_phone=self.call.caller,
            )
        except SlotTaken as exc:
            mine = await self._already_mine(pet_name, start)
            if mine is not None:  # a retry of a booking that went through (idempotent)
                appointment = mine
            else:
                return await self._refused(exc, "taken", start)
        except (ClinicClosed, SlotInPast) as exc:
            return await self._refused(
                exc, "closed" if isinstance(exc, ClinicClosed) else "past", start
            )
        except BookingError as exc:
            return _error(str(exc))
        return {
            "ok": True,
            "message": f"booked {appointment.pet_name} on {self._say(appointment.starts_at)}",
            "appointment": self._describe(appointment),
        }

    async def _refused(self, exc: BookingError, kind: str, start: datetime) -> Result:
        alternatives = await self.book.next_free_slots(max(start, self._now()), ALTERNATIVES)
        result = _error(str(exc))
        result.update(reason=kind, alternatives=[a.isoformat() for a in alternatives])
        return result

    async def _already_mine(self, pet_name: str, start: datetime) -> Appointment | None:
        for appointment in await self.book.find_for(pet_name=pet_name):
            if appointment.call_id == self.call.call_id and appointment.starts_at == start:
                return appointment
        return None

    @observed
    async def find_appointments(self, pet_name: str, day: str | None = None) -> Result:
        """Upcoming appointments of the pet that this caller may see."""
        matches = await self._matching(pet_name, day)
        return {
            "ok": True,
            "appointments": [self._describe(a) for a in matches],
            "message": (
                f"{len(matches)} upcoming appointment(s) for {pet_name}"
                if matches
                else f"no upcoming appointment for {pet_name}"
            ),
        }

    @observed
    async def cancel_appointment(
        self, pet_name: str, day: str | None = None, appointment_id: int | None = None
    ) -> Result:
        """Cancel one appointment: the given id, else the pet's next one (on ``day``)."""
        matches = await self._matching(pet_name, day)
        if appointment_id is not None:
            matches = [a for a in matches if a.id == appointment_id]
        if not matches:
            return _error(f"no upcoming appointment for {pet_name} to cancel")
        target = matches[0]
        if not await self.book.cancel(target.id):
            return _error("that appointment was already cancelled")
        return {
            "ok": True,
            "message": f"cancelled {target.pet_name} on {self._say(target.starts_at)}",
            "appointment": self._describe(target),
        }

    # -- information and call control ---------------------------------------------------------

    @observed
    async def clinic_info(self, topic: str, service: str | None = None) -> Result:
        """Hours, address, prices or the emergency policy, in the call's language."""
        persona, lang = self.persona, self.lang
        topic = topic.strip().lower()
        if topic in ("hours", "opening hours", "schedule"):
            return {"ok": True, "topic": "hours", "message": persona.hours_summary(lang)}
        if topic in ("address", "location", "directions"):
            return {"ok": True, "topic": "address", "message": persona.line("address", lang)}
        if topic in ("prices", "price", "cost", "costs"):
            key = None
            if service:
                key = (
                    service
                    if service in persona.services
                    else understanding.match_service(service, persona.service_keywords(lang))
                )
            return {
                "ok": True,
                "topic": "prices",
                "message": persona.price_text(lang, key),
                "prices": {k: s.price for k, s in persona.services.items()},
                "currency": persona.currency[lang],
            }
        if topic in ("emergency", "emergencies"):
            return {"ok": True, "topic": "emergencies", "message": persona.line("emergency", lang)}
        return _error(f"unknown topic {topic!r}; use hours, address, prices or emergencies")

    @observed
    async def transfer_to_human(self) -> Result:
        return {
            "ok": True,
            "action": "transfer",
            "to": self.persona.phone,
            "message": self.persona.line("transfer", self.lang),
        }

    @observed
    async def end_call(self) -> Result:
        return {
            "ok": True,
            "action": "end_call",
            "message": self.persona.line("goodbye", self.lang),
        }

    # -- helpers ----------------------------------------------------------------------------------

    def _today(self) -> date:
        return self.persona.local(self._now()).date()

    def _when(self, day: str, clock: str) -> datetime | None:
        """A tool's day and time arguments as an aware datetime in the clinic's zone."""
        on = parse_day_argument(day, self._today(), self.lang)
        at = parse_time_argument(clock, self.lang)
        if on is None or at is None:
            return None
        return datetime.combine(on, at, tzinfo=self.persona.zone)

    async def _alternatives_when_closed(self, start: datetime) -> list[datetime]:
        """Same time on the next open day first (what callers usually want), then the earliest."""
        local = self.persona.local(start)
        for ahead in range(1, 15):
            candidate = local + timedelta(days=ahead)
            if await self.book.is_open(candidate) and await self.book.is_free(candidate):
                rest = await self.book.next_free_slots(candidate + self.persona.slot, ALTERNATIVES)
                return [candidate, *rest][:ALTERNATIVES]
        return await self.book.next_free_slots(start, ALTERNATIVES)

    def _unavailable(
        self, base: Result, reason: str, message: str, alternatives: list[datetime]
    ) -> Result:
        return {
            **base,
            "ok": True,
            "available": False,
            "reason": reason,
            "message": message,
            "alternatives": [a.isoformat() for a in alternatives],
            "alternatives_spoken": [self._say(a) for a in alternatives],
        }

    async def _matching(self, pet_name: str, day: str | None) -> list[Appointment]:
        """Upcoming appointments whose pet sounds like ``pet_name``, limited to this caller.

        A known caller number only sees its own appointments and ones booked without a number
        (from the browser); an unknown caller is matched by pet name alone.
        """
        caller = self.call.caller.strip()
        on = parse_day_argument(day, self._today(), self.lang) if day else None
        found = []
        for appointment in await self.book.upcoming():
            if caller and appointment.owner_phone not in (caller, ""):
                continue
            if not understanding.same_name(pet_name, appointment.pet_name):
                continue
            if on is not None and self.persona.local(appointment.starts_at).date() != on:
                continue
            found.append(appointment)
        return found

    def _say(self, moment: datetime) -> str:
        return self.persona.format_when(moment, "en")

    def _describe(self, appointment: Appointment) -> dict[str, Any]:
        return {
            "id": appointment.id,
            "pet_name": appointment.pet_name,
            "reason": appointment.reason,
            "start": appointment.starts_at.isoformat(),
            "when": self._say(appointment.starts_at),
        }


def parse_day_argument(value: str, today: date, lang: str = "en") -> date | None:
    """ "2026-11-24" or words ("tomorrow", "next monday") → a date."""
    value = value.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        return understanding.parse_day(value, today, lang) or understanding.parse_day(
            value, today, "en"
        )


def parse_time_argument(value: str, lang: str = "en") -> time | None:
    """ "10:30" (24 h) or words ("ten thirty", "3 pm") → a time."""
    value = value.strip()
    try:
        return time.fromisoformat(value)
    except ValueError:
        spoken = understanding.parse_time(value, lang, expecting=True)
        return spoken.resolve() if spoken else None
