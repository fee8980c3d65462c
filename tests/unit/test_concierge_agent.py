"""Sandra's scripted concierge, turn by turn, against a real SQLite database and a fixed clock.

The English scripts are written the way PocketSphinx hears people: lowercase, no punctuation,
"to" for "two" and "knights" for "nights".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.agents.concierge_base import Step
from voxagent.agents.concierge_persona import ConciergePersona
from voxagent.agents.concierge_scripted import ScriptedConcierge
from voxagent.agents.concierge_tools import ConciergeTools
from voxagent.agents.kinds import load_any_persona
from voxagent.calls.info import CallInfo
from voxagent.state.apartments import ApartmentBook, Reservation
from voxagent.state.database import ApartmentRow, Database

_LOADED = load_any_persona("sandra")
assert isinstance(_LOADED, ConciergePersona)
PERSONA: ConciergePersona = _LOADED
MADRID = ZoneInfo("Europe/Madrid")
MONDAY_10AM = datetime(2026, 11, 23, 10, tzinfo=MADRID)  # Friday is November 27
FRIDAY = date(2026, 11, 27)
CALLER = "+34600111222"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/data/apartments.db")
    await database.connect()
    yield database
    await database.close()


def make_book(db: Database, now: datetime = MONDAY_10AM) -> ApartmentBook:
    return ApartmentBook(
        db, PERSONA.apartments, today=lambda: now.date(), max_nights=PERSONA.max_nights
    )


@dataclass
class Call:
    """One simulated call: say things to the agent, collect what it says and does."""

    agent: ScriptedConcierge
    book: ApartmentBook
    said: list[str] = field(default_factory=list)
    actions: list[AgentAction] = field(default_factory=list)
    tools_run: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    async def _collect(self, stream: AsyncIterator[AgentAction]) -> str:
        texts = []
        async for action in stream:
            if isinstance(action, Say):
                texts.append(action.text)
            else:
                self.actions.append(action)
        text = " ".join(texts)
        self.said.append(text)
        return text

    async def greet(self) -> str:
        return await self._collect(self.agent.greeting())

    async def say(self, transcript: str) -> str:
        return await self._collect(self.agent.reply(transcript))

    async def run(self, lines: list[str]) -> list[str]:
        await self.greet()
        return [await self.say(line) for line in lines]

    @property
    def ended(self) -> bool:
        return any(isinstance(a, EndCall) for a in self.actions)

    def step(self) -> Step:
        """The question the agent waits on (a call, so type checkers do not narrow it)."""
        return self.agent.step


def make_call(
    db: Database,
    *,
    lang: str = "en",
    caller: str = CALLER,
    call_id: str = "call-1",
    now: datetime = MONDAY_10AM,
) -> Call:
    clock: Callable[[], datetime] = lambda: now.astimezone(UTC)  # noqa: E731
    info = CallInfo(call_id, caller=caller, language=lang, persona="sandra")
    book = make_book(db, now)
    call = Call(None, book)  # type: ignore[arg-type]

    def observe(name: str, arguments: Mapping[str, Any], result: dict[str, Any]) -> None:
        call.tools_run.append((name, dict(arguments), result))

    tools = ConciergeTools(book, PERSONA, info, now=clock, on_tool=observe)
    call.agent = ScriptedConcierge(PERSONA, tools, info, now=clock)
    return call


async def booked(book: ApartmentBook) -> list[Reservation]:
    return await book.reservations(include_past=True)


async def apartment_id(book: ApartmentBook, key: str) -> int:
    return next(a.id for a in await book.apartments() if a.key == key)


# -- booking end to end ---------------------------------------------------------------------------


async def test_a_spoken_english_booking_end_to_end(db: Database) -> None:
    call = make_call(db)
    greeting = await call.greet()
    assert greeting == (
        "Good morning, welcome to Valencia Sol Apartments. This is Sandra. How can I help you?"
    )
    said = [
        await call.say(line)
        for line in (
            "hi um i would like to book an apartment",
            "from friday for three knights",
            "to people",
            "the loft",
            "my name is anna smith",
            "yes please",
            "no thank you goodbye",
        )
    ]
    assert "What dates would you like to stay?" in said[0]
    assert said[1] == "How many guests will there be?"
    assert said[2].startswith("From Friday, November 27 to Monday, November 30, for 2 guests")
    assert "the Ruzafa Loft in Ruzafa, at 95 euros a night" in said[2]
    assert "Cabanyal" not in said[2], "only three apartments are read out, cheapest first"
    assert said[3] == "What name should I put the reservation under?"
    assert said[4] == (
        "Let me confirm: the Ruzafa Loft, from Friday, November 27 to Monday, November 30, "
        "3 nights for 2 guests, under the name Anna Smith. That's 285 euros in total. "
        "Shall I book it?"
    )
    assert said[5].startswith(
        "Done! The Ruzafa Loft is yours from Friday, November 27 to Monday, November 30. "
        "Your reservation number is 1. Check-in is from 3:00 PM."
    )
    assert said[6].startswith("Thank you for calling Valencia Sol Apartments")
    assert call.ended

    (reservation,) = await booked(call.book)
    assert reservation.apartment_name == "Ruzafa Loft"
    assert (reservation.check_in, reservation.check_out) == (FRIDAY, date(2026, 11, 30))
    assert (reservation.guests, reservation.guest_name) == (2, "Anna Smith")
    assert (reservation.guest_phone, reservation.call_id) == (CALLER, "call-1")
    assert reservation.total_price == 285 and reservation.status == "booked"


async def test_a_spanish_booking_in_one_breath(db: Database) -> None:
    call = make_call(db, lang="es")
    greeting = await call.greet()
    assert greeting.startswith("Buenos días, bienvenido a Apartamentos Valencia Sol")
    offer = await call.say(
        "hola quiero reservar un apartamento del doce al quince de diciembre para dos personas"
    )
    assert offer.startswith("Del sábado 12 de diciembre al martes 15 de diciembre, para 2 personas")
    assert "el apartamento Ruzafa Loft, en Ruzafa, a 95 euros la noche" in offer
    assert await call.say("el segundo") == "¿A nombre de quién hago la reserva?"
    readback = await call.say("me llamo José García")
    assert readback == (
        "Le confirmo: apartamento Ruzafa Loft, del sábado 12 de diciembre al martes 15 de "
        "diciembre, 3 noches para 2 personas, a nombre de José García. Son 285 euros en total. "
        "¿Hago la reserva?"
    )
    done = await call.say("sí, perfecto")
    assert done.startswith("¡Listo! El apartamento Ruzafa Loft es suyo del sábado 12")
    assert "a partir de las 3:00 de la tarde" in done
    (reservation,) = await booked(call.book)
    assert (reservation.check_in, reservation.check_out) == (date(2026, 12, 12), date(2026, 12, 15))
    assert reservation.guest_name == "José García"


@pytest.mark.parametrize(
    "lines",
    [
        # the dates in two answers, the guests as a bare number, the choice by its order
        ["i need a place to stay", "friday", "three", "four", "the first one", "peter jones",
         "yeah that's right"],
        # everything at once, then "yes" takes the first offered
        ["do you have anything available friday two monday for two adults", "yes",
         "it's under the name of peter jones", "yes"],
        # a week, "me and my wife", the cheapest
        ["can i book an apartment for a week from tomorrow", "me and my wife",
         "the cheapest one please", "mister peter jones", "correct"],
    ],
)  # fmt: skip
async def test_messy_scripts_still_book(db: Database, lines: list[str]) -> None:
    call = make_call(db)
    said = await call.run(lines)
    assert "Done!" in said[-1], said
    (reservation,) = await booked(call.book)
    assert reservation.guest_name == "Peter Jones"


async def test_a_correction_at_the_read_back_looks_again(db: Database) -> None:
    call = make_call(db)
    await call.run(["book an apartment from friday for two nights for two people", "the loft",
                    "anna smith"])  # fmt: skip
    assert call.step() is Step.CONFIRM
    again = await call.say("no actually we are four")
    assert "for 4 guests" in again and "Ruzafa Loft" not in again, "the loft sleeps two"
    assert call.step() is Step.CHOOSE
    readback = await call.say("the beach one")
    assert readback.startswith("Let me confirm: the Cabanyal Beach Flat") and "4 guests" in readback
    assert "Anna Smith" in readback, "the name is kept"
    changed = await call.say("no")
    assert changed.startswith("No problem. What would you like to change")
    assert await call.say("the dates") == "What dates would you like to stay?"
    assert not await booked(call.book)


# -- refusals and alternatives --------------------------------------------------------------------


async def test_full_dates_are_refused_with_the_nearest_free_ones(db: Database) -> None:
    book = make_book(db)
    family = await apartment_id(book, "city-of-arts-family")
    await book.book(family, FRIDAY, date(2026, 11, 30), 6, "Someone Else", guest_phone="+1")
    call = make_call(db)
    await call.greet()
    refused = await call.say("i'd like an apartment from friday for three nights for six people")
    assert refused.startswith(
        "Sorry, nothing is free from Friday, November 27 to Monday, November 30 for 6 guests."
    )
    assert "The nearest free dates are from Monday, November 30 to Thursday, December 3" in refused
    assert call.step() is Step.ALTERNATIVES
    offer = await call.say("yes")
    assert offer.startswith("From Monday, November 30 to Thursday, December 3, for 6 guests")
    assert "City of Arts Family Apartment" in offer and offer.endswith("Would you like it?")
    await call.say("yes")
    await call.say("jane doe")
    assert "Done!" in await call.say("yes")
    mine = [r for r in await booked(book) if r.guest_name == "Jane Doe"]
    assert [(r.check_in, r.check_out) for r in mine] == [(date(2026, 11, 30), date(2026, 12, 3))]


async def test_too_many_guests_and_too_long_stays_are_explained(db: Database) -> None:
    call = make_call(db)
    await call.greet()
    said = await call.say("an apartment from friday for two nights for ten people")
    assert said == ("Sorry, our largest apartment sleeps 6 guests. How many guests will there be?")
    said = await call.say("two")
    assert said.startswith("From Friday, November 27 to Sunday, November 29, for 2 guests")
    said = await call.say("no")
    assert call.step() is Step.CHANGE
    await call.say("the dates")
    said = await call.say("from friday for forty nights")
    assert said.startswith("Sorry, by phone we can book stays of up to 30 nights.")
    assert said.endswith("How many nights would you like to stay, from Friday, November 27?")


async def test_a_booking_lost_to_another_caller_offers_what_is_left(db: Database) -> None:
    call = make_call(db)
    await call.run(["from friday for two nights for two people", "the loft", "anna smith"])
    loft = await apartment_id(call.book, "ruzafa-loft")
    await call.book.book(loft, FRIDAY, date(2026, 11, 29), 2, "Quicker", guest_phone="+1")
    said = await call.say("yes")
    assert said.startswith("Sorry, the Ruzafa Loft has just been booked for some of those nights.")
    assert "Ruzafa Loft" not in said.split("nights.", 1)[1]
    assert call.step() is Step.CHOOSE
    assert [r.guest_name for r in await booked(call.book)] == ["Quicker"]


# -- cancelling -----------------------------------------------------------------------------------


async def test_cancel_a_reservation(db: Database) -> None:
    book = make_book(db)
    loft = await apartment_id(book, "ruzafa-loft")
    mine = await book.book(loft, FRIDAY, date(2026, 11, 29), 2, "Anna Smith", guest_phone=CALLER)
    other = await book.book(loft, date(2026, 12, 4), date(2026, 12, 6), 2, "Anna Smith",
                            guest_phone="+44700900900")  # fmt: skip
    call = make_call(db)
    said = await call.run(["i need to cancel my reservation", "and a smith", "yes"])
    assert said[0] == "Of course. What name is the reservation under?"
    assert said[1] == (
        "I found the reservation for Anna Smith: the Ruzafa Loft, from Friday, November 27 to "
        "Sunday, November 29. Shall I cancel it?"
    )
    assert said[2].startswith("Done. The reservation for Anna Smith")
    left = {r.id: r.status for r in await book.reservations(include_past=True)}
    assert left == {other.id: "booked"}, "only this caller's reservation was cancelled"
    assert (await book.get_reservation(mine.id)).status == "cancelled"  # type: ignore[union-attr]


async def test_cancel_in_spanish_and_keep_it(db: Database) -> None:
    book = make_book(db)
    loft = await apartment_id(book, "ruzafa-loft")
    await book.book(loft, FRIDAY, date(2026, 11, 29), 2, "Ana López", guest_phone=CALLER)
    call = make_call(db, lang="es")
    said = await call.run(["quiero cancelar la reserva a nombre de ana lópez", "no, mejor no"])
    assert said[0].startswith("He encontrado la reserva de Ana López: apartamento Ruzafa Loft")
    assert said[1].startswith("De acuerdo, la reserva se queda como está.")
    assert [r.status for r in await booked(book)] == ["booked"]


async def test_cancel_finds_nothing_for_a_stranger(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["cancel my booking under the name of bob marley"])
    assert said[0].startswith("Sorry, I couldn't find an upcoming reservation under the name Bob")


# -- questions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "lang", "topic"),
    [
        ("what time is check in", "en", "check_in"),
        ("when do we have to check out", "en", "check_out"),
        ("what's the wifi password", "en", "wifi"),
        ("is there parking", "en", "parking"),
        ("how do i get there from the airport", "en", "airport"),
        ("we come by train to the station", "en", "train"),
        ("where is your office", "en", "address"),
        ("can you recommend things to do", "en", "tips"),
        ("a qué hora es la entrada", "es", "check_in"),
        ("cuál es la contraseña del wifi", "es", "wifi"),
        ("dónde puedo aparcar el coche", "es", "parking"),
        ("cómo llego desde el aeropuerto", "es", "airport"),
        ("qué me recomienda visitar", "es", "tips"),
    ],
)
async def test_each_question_is_answered_from_the_persona(
    db: Database, question: str, lang: str, topic: str
) -> None:
    call = make_call(db, lang=lang)
    await call.greet()
    answer = await call.say(question)
    assert answer.startswith(PERSONA.info(topic, lang))
    assert answer.endswith(PERSONA.line("anything_else", lang))
    assert [name for name, _, _ in call.tools_run] == ["concierge_info"]


async def test_prices_come_from_the_database(db: Database) -> None:
    book = make_book(db)
    await book.apartments()  # seeded
    async with db.transaction() as session:
        await session.execute(
            update(ApartmentRow).values(price_per_night=ApartmentRow.price_per_night + 1)
        )
    call = make_call(db)
    await call.greet()
    answer = await call.say("how much are your apartments per night")
    assert answer.startswith("We have 6 apartments in Valencia, from 76 euros to 176 euros a night")


async def test_a_question_mid_booking_then_the_pending_question_again(db: Database) -> None:
    call = make_call(db)
    await call.run(["book an apartment from friday for two nights"])
    said = await call.say("oh and is there parking")
    assert said == f"{PERSONA.info('parking', 'en')} How many guests will there be?"
    assert call.step() is Step.GUESTS


# -- recovery and call control --------------------------------------------------------------------


async def test_a_person_on_request(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["can i talk to a real person please"])
    assert said[0] == "Of course. I'll put you through to a colleague now. Please hold."
    assert call.actions == [Transfer("+34960500123")]


async def test_not_understood_thrice_offers_a_person(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book an apartment", "blah blah", "purple monkey", "banana"])
    assert said[1] == "Sorry, I didn't catch that. What dates would you like to stay?"
    assert said[2] == (
        "Sorry, I didn't catch that. For example, from Friday for three nights, or December "
        "twelfth to the fifteenth. What dates would you like to stay?"
    )
    assert said[3] == (
        "I'm sorry, I'm having trouble understanding. Would you like me to put you through to "
        "a colleague?"
    )
    assert "let's keep going" in await call.say("no thanks")
    assert call.step() is Step.DATES


async def test_a_yes_to_an_unheard_read_back_books_nothing(db: Database) -> None:
    call = make_call(db)
    await call.run(["from friday for two nights for two people", "the loft", "anna smith"])
    call.agent.interrupted("Let me")
    said = await call.say("yes")
    assert said.startswith("Just to be sure: Let me confirm: the Ruzafa Loft")
    assert not await booked(call.book)
    assert "Done!" in await call.say("yes")


async def test_the_tool_observer_hears_the_script(db: Database) -> None:
    call = make_call(db)
    await call.run(["from friday for two nights for two people", "the loft", "anna smith", "yes"])
    names = [name for name, _, _ in call.tools_run]
    assert names == ["check_availability", "book_apartment"]
    _, arguments, result = call.tools_run[1]
    assert arguments == {
        "apartment_id": result["reservation"]["apartment_id"],
        "check_in": "2026-11-27",
        "check_out": "2026-11-29",
        "guests": 2,
        "guest_name": "Anna Smith",
    }
    assert result["ok"] is True
