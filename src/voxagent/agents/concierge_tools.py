"""The concierge's tools: free apartments, bookings, a guest's reservations, and what guests ask.

The same shape as the clinic's (:mod:`voxagent.agents.tools`): the scripted concierge calls the
methods, an LLM agent sees :data:`CONCIERGE_TOOLS` and calls :meth:`ConciergeTools.execute`;
results are dicts with ``ok`` and a ``message``, and refusals are results with a ``reason``
and, where there are any, alternatives. Availability and prices always come from the
database (:class:`~voxagent.state.apartments.ApartmentBook`), never from the persona file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any

from voxagent.agents.concierge_persona import INFO_LINES, ConciergePersona
from voxagent.agents.toolkit import (
    Result,
    ToolObserver,
    ToolSpec,
    error,
    observed,
    run_tool,
    schema,
)
from voxagent.agents.tools import parse_day_argument
from voxagent.agents.understanding import same_name, tokenize
from voxagent.calls.info import CallInfo
from voxagent.state.apartments import (
    Apartment,
    ApartmentBook,
    DatesTaken,
    Offer,
    Reservation,
    ReservationError,
    StayInvalid,
    TooManyGuests,
    UnknownApartment,
)
from voxagent.state.database import utc_now

__all__ = ["CONCIERGE_TOOLS", "INFO_TOPICS", "ConciergeTools"]


INFO_TOPICS = (*INFO_LINES, "directions", "apartments")

_TOPIC_ALIASES = {
    "directions": "address",
    "checkin": "check_in",
    "checkout": "check_out",
    "wi_fi": "wifi",
    "station": "train",
    "prices": "apartments",
}

_DAY = {
    "type": "string",
    "description": "A date as YYYY-MM-DD, or words like 'tomorrow', 'next friday'.",
}
_GUESTS = {"type": "integer", "description": "How many people will stay, children included."}
_NAME = {"type": "string", "description": "The name the reservation is (to be) under."}

CONCIERGE_TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "check_availability",
            "List the apartments free for a whole stay that sleep that many guests, with the "
            "price per night and the total; suggests the nearest free dates when none is.",
            schema(
                ("check_in", "check_out", "guests"),
                check_in=_DAY,
                check_out={**_DAY, "description": "The day of leaving (YYYY-MM-DD)."},
                guests=_GUESTS,
            ),
        ),
        ToolSpec(
            "book_apartment",
            "Book an apartment for a stay. Only call after the guest confirmed the read-back.",
            schema(
                ("apartment_id", "check_in", "check_out", "guests", "guest_name"),
                apartment_id={"type": "integer", "description": "From check_availability."},
                check_in=_DAY,
                check_out=_DAY,
                guests=_GUESTS,
                guest_name=_NAME,
            ),
        ),
        ToolSpec(
            "find_reservations",
            "List the upcoming reservations under a guest's name (of this caller).",
            schema(("guest_name",), guest_name=_NAME),
        ),
        ToolSpec(
            "cancel_reservation",
            "Cancel an upcoming reservation under the guest's name (the given one if several). "
            "Only call after the guest confirmed.",
            schema(
                ("guest_name",),
                guest_name=_NAME,
                reservation_id={"type": "integer", "description": "Exact reservation number."},
            ),
        ),
        ToolSpec(
            "concierge_info",
            "What guests ask: check-in and check-out times, Wi-Fi, parking, getting here "
            "from the airport or the train station, the office address, local tips, and the "
            "apartments with their prices.",
            schema(("topic",), topic={"type": "string", "enum": list(INFO_TOPICS)}),
        ),
        ToolSpec(
            "transfer_to_human",
            "Put the caller through to a member of the team.",
            schema(()),
        ),
        ToolSpec("end_call", "Hang up after saying goodbye.", schema(())),
    )
}


class ConciergeTools:
    """The tools bound to one call (so reservations carry its id and the caller's number)."""

    def __init__(
        self,
        book: ApartmentBook,
        persona: ConciergePersona,
        call: CallInfo,
        *,
        now: Callable[[], datetime] = utc_now,
        on_tool: ToolObserver | None = None,
    ) -> None:
        self.book = book
        self.persona = persona
        self.call = call
        self.on_tool = on_tool
        """Told about every tool run (see :mod:`voxagent.agents.toolkit`)."""
        self._now = now
        self._handlers: dict[str, Callable[..., Awaitable[Result]]] = {
            "check_availability": self.check_availability,
            "book_apartment": self.book_apartment,
            "find_reservations": self.find_reservations,
            "cancel_reservation": self.cancel_reservation,
            "concierge_info": self.concierge_info,
            "transfer_to_human": self.transfer_to_human,
            "end_call": self.end_call,
        }

    @property
    def lang(self) -> str:
        return self.call.language if self.call.language in ("en", "es") else "en"

    @property
    def specs(self) -> list[ToolSpec]:
        return list(CONCIERGE_TOOLS.values())

    async def execute(self, name: str, args: Mapping[str, Any] | None = None) -> Result:
        """Run a tool by name with JSON arguments; every problem comes back as a result."""
        return await run_tool(CONCIERGE_TOOLS, self._handlers, name, args, self.on_tool)

    # -- availability and bookings --------------------------------------------------------------

    @observed
    async def check_availability(self, check_in: str, check_out: str, guests: int) -> Result:
        """The free apartments for the stay, or why none, with the nearest free dates."""
        stay = self._stay(check_in, check_out)
        if stay is None:
            return error(f"could not understand the dates {check_in!r} to {check_out!r}")
        arriving, leaving = stay
        base: Result = self._stay_fields(arriving, leaving) | {"guests": guests}
        if guests < 1:
            return error("guests must be at least 1")
        try:
            offers = await self.book.free(arriving, leaving, guests)
        except StayInvalid as exc:
            return {**base, "ok": True, "available": False, "reason": exc.reason,
                    "message": str(exc), "max_nights": self.book.max_nights}  # fmt: skip
        if offers:
            return {
                **base,
                "ok": True,
                "available": True,
                "apartments": [self._offer(o) for o in offers],
                "message": f"{len(offers)} apartment(s) free {base['stay']}",
            }
        largest = max((a.max_guests for a in await self.book.apartments()), default=0)
        if guests > largest:
            return {**base, "ok": True, "available": False, "reason": "too_many_guests",
                    "max_guests": largest,
                    "message": f"the largest apartment sleeps {largest}"}  # fmt: skip
        nearest = await self.book.nearest_free(arriving, (leaving - arriving).days, guests)
        return {
            **base,
            "ok": True,
            "available": False,
            "reason": "full",
            "message": f"nothing is free {base['stay']} for {guests}",
            "alternatives": [self._offer(o) for o in nearest],
        }

    @observed
    async def book_apartment(
        self, apartment_id: int, check_in: str, check_out: str, guests: int, guest_name: str
    ) -> Result:
        """Book, turning refusals into results (with the apartments still free if taken)."""
        stay = self._stay(check_in, check_out)
        if stay is None:
            return error(f"could not understand the dates {check_in!r} to {check_out!r}")
        arriving, leaving = stay
        try:
            reservation = await self.book.book(
                apartment_id,
                arriving,
                leaving,
                guests,
                guest_name,
                guest_phone=self.call.caller,
                call_id=self.call.call_id,
            )
        except DatesTaken as exc:
            mine = await self._already_mine(apartment_id, arriving, leaving)
            if mine is not None:  # a retry of a booking that went through
                reservation = mine
            else:
                others = await self.book.free(arriving, leaving, guests)
                result = error(str(exc))
                result.update(reason="taken", alternatives=[self._offer(o) for o in others])
                return result
        except StayInvalid as exc:
            return error(str(exc)) | {"reason": exc.reason}
        except TooManyGuests as exc:
            return error(str(exc)) | {"reason": "too_many_guests"}
        except UnknownApartment as exc:
            return error(str(exc)) | {"reason": "unknown_apartment"}
        except ReservationError as exc:
            return error(str(exc))
        described = self._reservation(reservation)
        return {
            "ok": True,
            "message": f"booked {reservation.apartment_name} {described['stay']} "
            f"for {reservation.guest_name}, reservation number {reservation.id}",
            "reservation": described,
        }

    @observed
    async def find_reservations(self, guest_name: str) -> Result:
        """Upcoming reservations under a name like ``guest_name`` that this caller may see."""
        found = await self._matching(guest_name)
        return {
            "ok": True,
            "reservations": [self._reservation(r) for r in found],
            "message": (
                f"{len(found)} upcoming reservation(s) under {guest_name}"
                if found
                else f"no upcoming reservation under {guest_name}"
            ),
        }

    @observed
    async def cancel_reservation(
        self, guest_name: str, reservation_id: int | None = None
    ) -> Result:
        """Cancel one reservation: the given number, else the guest's next one."""
        found = await self._matching(guest_name)
        if reservation_id is not None:
            found = [r for r in found if r.id == reservation_id]
        if not found:
            return error(f"no upcoming reservation under {guest_name} to cancel")
        cancelled = await self.book.cancel(found[0].id)
        if cancelled is None:
            return error("that reservation was already cancelled")
        described = self._reservation(cancelled)
        return {
            "ok": True,
            "message": f"cancelled reservation {cancelled.id} {described['stay']}",
            "reservation": described,
        }

    # -- information and call control ---------------------------------------------------------

    @observed
    async def concierge_info(self, topic: str) -> Result:
        """What guests ask, in the call's language."""
        persona, lang = self.persona, self.lang
        topic = topic.strip().lower().replace("-", "_").replace(" ", "_")
        topic = _TOPIC_ALIASES.get(topic, topic)
        if topic in INFO_LINES:
            return {"ok": True, "topic": topic, "message": persona.info(topic, lang)}
        if topic == "apartments":
            apartments = await self.book.apartments()
            return {
                "ok": True,
                "topic": topic,
                "message": self.apartments_text(apartments),
                "apartments": [self._apartment(a) for a in apartments],
                "currency": persona.currency[lang],
            }
        return error(f"unknown topic {topic!r}; use one of {', '.join(INFO_TOPICS)}")

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

    def apartments_text(self, apartments: list[Apartment]) -> str:
        """ "We have 6 apartments in Valencia, from 75 euros to 175 euros a night: …"."""
        persona, lang = self.persona, self.lang
        if not apartments:
            return ""
        prices = [a.price_per_night for a in apartments]
        items = [
            persona.line(
                "apartment_item",
                lang,
                name=a.name,
                neighbourhood=a.neighbourhood,
                guests=persona.guests_text(a.max_guests, lang),
            )
            for a in apartments
        ]
        return persona.line(
            "info_apartments",
            lang,
            count=len(apartments),
            low=persona.format_price(min(prices), lang),
            high=persona.format_price(max(prices), lang),
            items=persona.join(items, lang),
        )

    # -- helpers --------------------------------------------------------------------------------

    def _today(self) -> date:
        return self.persona.local(self._now()).date()

    def _stay(self, check_in: str, check_out: str) -> tuple[date, date] | None:
        arriving = parse_day_argument(check_in, self._today(), self.lang)
        if arriving is None:
            return None
        leaving = parse_day_argument(check_out, arriving, self.lang)
        return None if leaving is None else (arriving, leaving)

    def _stay_fields(self, arriving: date, leaving: date) -> Result:
        return {
            "check_in": arriving.isoformat(),
            "check_out": leaving.isoformat(),
            "nights": (leaving - arriving).days,
            "stay": self.persona.stay_text(arriving, leaving, "en"),
        }

    def _apartment(self, apartment: Apartment) -> Result:
        return {
            "id": apartment.id,
            "key": apartment.key,
            "name": apartment.name,
            "neighbourhood": apartment.neighbourhood,
            "bedrooms": apartment.bedrooms,
            "max_guests": apartment.max_guests,
            "price_per_night": apartment.price_per_night,
            "description": apartment.description(self.lang),
        }

    def _offer(self, offer: Offer) -> Result:
        return {
            **self._apartment(offer.apartment),
            **self._stay_fields(offer.check_in, offer.check_out),
            "total": offer.total,
        }

    def _reservation(self, reservation: Reservation) -> Result:
        return {
            "id": reservation.id,
            "apartment_id": reservation.apartment_id,
            "apartment": reservation.apartment_name,
            "guest_name": reservation.guest_name,
            "guests": reservation.guests,
            "total": reservation.total_price,
            **self._stay_fields(reservation.check_in, reservation.check_out),
        }

    async def _already_mine(
        self, apartment_id: int, arriving: date, leaving: date
    ) -> Reservation | None:
        for reservation in await self.book.reservations(guest_phone=self.call.caller or None):
            if (
                reservation.call_id == self.call.call_id
                and reservation.apartment_id == apartment_id
                and (reservation.check_in, reservation.check_out) == (arriving, leaving)
            ):
                return reservation
        return None

    async def _matching(self, guest_name: str) -> list[Reservation]:
        """Upcoming reservations under a name that sounds like ``guest_name``, limited to
        this caller: a known caller (a phone number, a browser user) sees its own and those
        made without one; an unknown caller is matched by name alone."""
        caller = self.call.caller.strip()
        return [
            r
            for r in await self.book.reservations()
            if (not caller or r.guest_phone in (caller, ""))
            and same_guest(guest_name, r.guest_name)
        ]


def same_guest(heard: str, name: str) -> bool:
    """Whether a heard name fits a reservation's ("smith" fits "Anna Smith")."""
    heard_words = [w for w in tokenize(heard) if len(w) >= 3]
    name_words = [w for w in tokenize(name) if len(w) >= 3]
    return any(same_name(a, b) for a in heard_words for b in name_words)
