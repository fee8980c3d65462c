"""The scripted receptionist, turn by turn, against a real SQLite database and a fixed clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.agents.persona import Persona, load_persona
from voxagent.agents.scripted import ScriptedReceptionist
from voxagent.agents.scripted_base import Step
from voxagent.agents.tools import TOOLS, ClinicTools
from voxagent.calls.info import CallInfo
from voxagent.state.appointments import AppointmentBook
from voxagent.state.database import AppointmentRow, Database

PERSONA = load_persona("maria")
ZONE = PERSONA.zone
MONDAY_9AM = datetime(2026, 11, 23, 9, tzinfo=ZONE)  # clinic time; Tuesday 24 follows
SATURDAY_9AM = datetime(2026, 11, 21, 9, tzinfo=ZONE)  # tomorrow is Sunday: closed
CALLER = "+5215550001111"

THE_SCRIPT = [
    "i would like to book an appointment",
    "his name is max",
    "a vaccination",
    "tomorrow at ten in the morning",
    "yes please",
    "no thank you goodbye",
]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/data/clinic.db")
    await database.connect()
    yield database
    await database.close()


@dataclass
class Call:
    """One simulated call: say things to the agent, collect what it says and does."""

    agent: ScriptedReceptionist
    book: AppointmentBook
    said: list[str] = field(default_factory=list)
    actions: list[AgentAction] = field(default_factory=list)

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


def make_call(
    db: Database,
    *,
    now: datetime = MONDAY_9AM,
    lang: str = "en",
    caller: str = CALLER,
    persona: Persona = PERSONA,
    call_id: str = "call-1",
) -> Call:
    clock: Callable[[], datetime] = lambda: now.astimezone(UTC)  # noqa: E731
    context = CallInfo(call_id, caller=caller, callee="+525555010123", language=lang)
    book = AppointmentBook(db, persona, now=clock)
    tools = ClinicTools(book, context, now=clock)
    return Call(ScriptedReceptionist(persona, tools, context, now=clock), book)


async def booked_rows(db: Database) -> list[AppointmentRow]:
    async with db.transaction() as session:
        rows = await session.scalars(
            select(AppointmentRow)
            .where(AppointmentRow.status == "booked")
            .order_by(AppointmentRow.id)
        )
        return list(rows)


def local(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


# -- the end-to-end script -----------------------------------------------------------------------


async def test_the_script_books_an_appointment(db: Database) -> None:
    call = make_call(db)
    greeting = await call.greet()
    assert greeting == (
        "Good morning, thank you for calling Happy Paws Veterinary Clinic. "
        "This is María. How can I help you?"
    )
    said = [await call.say(line) for line in THE_SCRIPT]
    assert said == [
        "Sure, I can help you book an appointment. What is your pet's name?",
        "What is the reason for Max's visit?",
        "What day and time would you like to bring Max in?",
        "Let me confirm: a vaccination for Max on Tuesday, November 24 at 10:00 AM. "
        "Shall I book it?",
        "Done. Max is booked for a vaccination on Tuesday, November 24 at 10:00 AM. "
        "Is there anything else I can help you with?",
        "Thank you for calling Happy Paws Veterinary Clinic. Have a great day. Goodbye!",
    ]
    assert call.actions == [EndCall("completed")]
    rows = await booked_rows(db)
    assert len(rows) == 1
    row = rows[0]
    assert (row.pet_name, row.reason, row.call_id, row.owner_phone) == (
        "Max",
        "vaccination",
        "call-1",
        CALLER,
    )
    assert local(row.starts_at) == datetime(2026, 11, 24, 10, tzinfo=ZONE)
    assert row.ends_at - row.starts_at == timedelta(minutes=30)


@pytest.mark.parametrize(
    "lines",
    [
        # plausible PocketSphinx mis-recognitions of each line of the script
        ["i would like to book and appointment", "his name is macs", "a vacation",
         "tomorrow attend in the morning", "yes please", "no thank you good bye"],
        ["i would like to look an a pointment", "is name is mac", "of vaccination",
         "to morrow at ten in the mourning", "yes", "know thank you goodbye"],
        ["i'd like to book a appointment", "his names max", "the vaccination",
         "tomorrow and ten in the morning", "yeah please", "no thanks bye"],
        ["i would like a book an appointment", "max", "vaccination",
         "tomorrow at 10 in the morning", "yes plays", "no that's all thank you"],
        ["uh i would like to book an appointment please", "it's max", "a vaccine nation",
         "tomorrow at ten a m", "yes that's right", "nothing else goodbye"],
    ],
)  # fmt: skip
async def test_misrecognized_script_still_books(db: Database, lines: list[str]) -> None:
    call = make_call(db)
    said = await call.run(lines)
    assert "Shall I book it?" in said[3], said
    assert said[4].startswith("Done. Max is booked for a vaccination on Tuesday, November 24")
    assert call.ended
    rows = await booked_rows(db)
    assert [(r.pet_name, r.reason) for r in rows] == [("Max", "vaccination")]
    assert local(rows[0].starts_at).hour == 10


async def test_everything_in_one_sentence(db: Database) -> None:
    call = make_call(db)
    await call.greet()
    said = await call.say("i'd like to book a vaccination for max tomorrow at ten")
    assert said == (
        "Let me confirm: a vaccination for Max on Tuesday, November 24 at 10:00 AM. "
        "Shall I book it?"
    )
    assert (await call.say("yes")).startswith("Done.")
    assert len(await booked_rows(db)) == 1


async def test_details_can_come_in_any_order(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["my dog rocky needs a check up", "friday at three thirty", "yes"])
    assert said[0] == "What day and time would you like to bring Rocky in?"
    assert "a consultation for Rocky on Friday, November 27 at 3:30 PM" in said[1]
    rows = await booked_rows(db)
    assert rows[0].reason == "consultation"
    assert local(rows[0].starts_at) == datetime(2026, 11, 27, 15, 30, tzinfo=ZONE)


async def test_day_then_time_separately(db: Database) -> None:
    call = make_call(db)
    said = await call.run(
        ["book an appointment for luna", "grooming", "wednesday", "eleven", "yes"]
    )
    assert said[2] == "What time on Wednesday, November 25 works for you?"
    assert "grooming for Luna on Wednesday, November 25 at 11:00 AM" in said[3]
    assert said[4].startswith("Done. Luna is booked for grooming")


async def test_free_text_reason_books_a_consultation(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["i want to book", "max", "he keeps sneezing a lot"])
    assert said[2] == "What day and time would you like to bring Max in?"
    await call.say("tomorrow at noon")
    await call.say("yes")
    rows = await booked_rows(db)
    assert rows[0].reason == "he keeps sneezing a lot"


# -- slots that cannot be had --------------------------------------------------------------------


async def test_closed_tomorrow_proposes_the_next_open_slot(db: Database) -> None:
    call = make_call(db, now=SATURDAY_9AM)
    said = await call.run(THE_SCRIPT)
    assert said[3] == (
        "Sorry, we're closed on Sunday, November 22. The next available time is "
        "Monday, November 23 at 10:00 AM. Shall I book a vaccination for Max then?"
    )
    assert said[4].startswith("Done. Max is booked for a vaccination on Monday, November 23")
    assert call.ended
    rows = await booked_rows(db)
    assert local(rows[0].starts_at) == datetime(2026, 11, 23, 10, tzinfo=ZONE)


async def test_outside_hours_says_that_days_hours(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book a vaccination for max", "tomorrow at eight in the evening"])
    assert said[1].startswith(
        "Sorry, that's outside our hours. On Tuesday, November 24 we're open "
        "from 9:00 AM to 6:00 PM. The next available time is Wednesday, November 25 at 9:00 AM."
    )
    assert call.agent.step is Step.OFFER


async def test_past_time_today(db: Database) -> None:
    call = make_call(db, now=datetime(2026, 11, 23, 12, tzinfo=ZONE))
    said = await call.run(["book a vaccination for max", "today at ten"])
    assert said[1].startswith("Sorry, that time has already passed.")
    assert "Monday, November 23 at 12:00 PM" in said[1]


async def test_taken_slot_offers_the_closest_free_ones(db: Database) -> None:
    other = make_call(db, call_id="earlier-call")
    await other.book.book(
        "earlier-call", "Luna", "grooming", datetime(2026, 11, 24, 10, tzinfo=ZONE)
    )
    call = make_call(db)
    said = await call.run(["book a vaccination for max", "tomorrow at ten"])
    assert said[1] == (
        "Sorry, Tuesday, November 24 at 10:00 AM is already taken. The closest available times "
        "are 10:30 AM, 11:00 AM or 11:30 AM. Shall I book 10:30 AM?"
    )
    said_choice = await call.say("the second one")
    assert said_choice.startswith(
        "Let me confirm: a vaccination for Max on Tuesday, November 24 at 11:00 AM"
    )
    await call.say("yes")
    rows = await booked_rows(db)
    assert [(r.pet_name, local(r.starts_at).strftime("%H:%M")) for r in rows] == [
        ("Luna", "10:00"),
        ("Max", "11:00"),
    ]


async def test_taken_slot_yes_takes_the_first_offer(db: Database) -> None:
    other = make_call(db, call_id="earlier-call")
    await other.book.book(
        "earlier-call", "Luna", "grooming", datetime(2026, 11, 24, 10, tzinfo=ZONE)
    )
    call = make_call(db)
    await call.run(["book a vaccination for max", "tomorrow at ten", "yes please"])
    rows = await booked_rows(db)
    assert local(rows[-1].starts_at).strftime("%H:%M") == "10:30"


async def test_slot_taken_between_check_and_yes(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book a vaccination for max tomorrow at ten"])
    assert "Shall I book it?" in said[0]
    rival = make_call(db, call_id="rival")
    await rival.book.book("rival", "Luna", "grooming", datetime(2026, 11, 24, 10, tzinfo=ZONE))
    said_yes = await call.say("yes")
    assert said_yes.startswith("Sorry, Tuesday, November 24 at 10:00 AM is already taken.")
    assert call.agent.step is Step.OFFER
    await call.say("yes")
    assert [r.pet_name for r in await booked_rows(db)] == ["Luna", "Max"]


async def test_as_soon_as_possible(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book a vaccination for max", "as soon as possible"])
    assert said[1].startswith("The next available time is Monday, November 23 at 9:00 AM.")


# -- confirmation ------------------------------------------------------------------------------


async def test_no_at_confirmation_asks_what_to_change(db: Database) -> None:
    call = make_call(db)
    said = await call.run(
        ["book a vaccination for max tomorrow at ten", "no", "the time", "wednesday at eleven"]
    )
    assert said[1] == (
        "No problem. What would you like to change: the day and time, the pet's name, "
        "or the reason?"
    )
    assert said[2] == "What day and time would you like to bring Max in?"
    assert "Wednesday, November 25 at 11:00 AM. Shall I book it?" in said[3]
    assert await booked_rows(db) == []
    await call.say("yes")
    assert len(await booked_rows(db)) == 1


async def test_changing_only_the_time_keeps_the_day(db: Database) -> None:
    call = make_call(db)
    said = await call.run(
        ["book a vaccination for max on friday at ten", "no", "the time", "eleven thirty"]
    )
    assert "Friday, November 27 at 11:30 AM. Shall I book it?" in said[3]


async def test_price_question_then_book_it(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["how much does grooming cost", "ok book it for max"])
    assert said[0] == "Grooming is 400 pesos. Is there anything else I can help you with?"
    assert said[1] == "What day and time would you like to bring Max in?"
    await call.say("tomorrow at three")
    await call.say("yes")
    assert [(r.pet_name, r.reason) for r in await booked_rows(db)] == [("Max", "grooming")]


async def test_correction_in_the_no(db: Database) -> None:
    call = make_call(db)
    said = await call.run(
        ["book a vaccination for max tomorrow at ten", "no make it eleven thirty"]
    )
    assert "Tuesday, November 24 at 11:30 AM. Shall I book it?" in said[1]


async def test_never_mind_drops_the_booking(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book a vaccination for max tomorrow at ten", "never mind"])
    assert said[1] == "Okay, I won't book it. Is there anything else I can help you with?"
    assert await booked_rows(db) == []


async def test_yes_to_an_unheard_confirmation_is_asked_again(db: Database) -> None:
    call = make_call(db)
    question = (await call.run(["book a vaccination for max tomorrow at ten"]))[0]
    call.agent.interrupted("Let me confirm: a vaccination for Max")
    again = await call.say("yes")
    assert again == f"Just to be sure: {question}"
    assert await booked_rows(db) == []
    assert (await call.say("yes")).startswith("Done.")
    assert len(await booked_rows(db)) == 1


async def test_yes_after_hearing_the_whole_question_counts(db: Database) -> None:
    call = make_call(db)
    question = (await call.run(["book a vaccination for max tomorrow at ten"]))[0]
    call.agent.interrupted(question)
    assert (await call.say("yes")).startswith("Done.")


async def test_yes_please_thats_all_books_and_ends(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book a vaccination for max tomorrow at ten", "yes please that's all"])
    assert said[1].startswith("Done.")
    assert said[1].endswith("Goodbye!")
    assert call.ended
    assert len(await booked_rows(db)) == 1


# -- information at any point --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("what are your hours", "We're open Monday to Friday from 9:00 AM to 6:00 PM"),
        ("where are you located", "We're at Orizaba Street 123, Roma Norte, Mexico City."),
        ("how much is a vaccination", "A vaccination is 350 pesos."),
        ("what are your prices", "Our prices: a consultation is 450 pesos"),
        ("are you open on sunday", "Sorry, we're closed on Sunday, November 29."),
        ("are you open on saturday",
         "On Saturday, November 28 we're open from 9:00 AM to 1:00 PM."),
    ],
)  # fmt: skip
async def test_clinic_questions(db: Database, question: str, answer: str) -> None:
    call = make_call(db)
    said = await call.run([question])
    assert said[0].startswith(answer)
    assert said[0].endswith("Is there anything else I can help you with?")


async def test_info_question_mid_booking_resumes_the_question(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["i would like to book an appointment", "what's your address"])
    assert said[1] == (
        "We're at Orizaba Street 123, Roma Norte, Mexico City. What is your pet's name?"
    )
    assert call.agent.step is Step.PET


async def test_emergency_offers_a_transfer(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["my dog ate chocolate", "yes"])
    assert said[0].startswith("If this is an emergency, please bring your pet in right away")
    assert said[0].endswith("Would you like me to transfer you to our staff now?")
    assert call.actions == [Transfer(PERSONA.phone)]


# -- transfer, goodbye, recovery -----------------------------------------------------------------


async def test_transfer_on_request(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["can i talk to a real person please"])
    assert said[0] == "Of course. I'll transfer you to a member of our team now. Please hold."
    assert call.actions == [Transfer("+525555010123")]
    assert await call.say("hello?") == ""  # the call is being handed over


async def test_goodbye_at_any_point(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["i would like to book an appointment", "actually bye"])
    assert said[1].endswith("Goodbye!")
    assert call.actions == [EndCall("completed")]


async def test_no_thats_all_at_a_confirmation_ends_without_booking(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book a vaccination for max tomorrow at ten", "no that's all"])
    assert said[1].endswith("Goodbye!")
    assert call.ended
    assert await booked_rows(db) == []


async def test_no_with_a_question_is_not_goodbye(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["what are your hours", "no but what is your address"])
    assert said[1].startswith("We're at")
    assert not call.ended


async def test_not_understood_then_hint_then_transfer_offer(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["book an appointment for max", "a vaccination", "blah", "blah blah"])
    assert said[2] == (
        "Sorry, I didn't catch that. What day and time would you like to bring Max in?"
    )
    assert said[3] == (
        "Sorry, I didn't catch that. For example, tomorrow at ten in the morning. "
        "What day and time would you like to bring Max in?"
    )
    third = await call.say("purple")
    assert third == (
        "I'm sorry, I'm having trouble understanding. Would you like me to transfer you "
        "to a member of our team?"
    )
    declined = await call.say("no")
    assert declined == "Okay, let's keep going. What day and time would you like to bring Max in?"
    await call.say("tomorrow at ten")
    await call.say("yes")
    assert len(await booked_rows(db)) == 1


async def test_not_understood_at_the_start_lists_what_we_can_do(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["purple monkey dishwasher"])
    assert said[0] == (
        "Sorry, I didn't catch that. I can book or cancel an appointment, or tell you our "
        "hours, address and prices. How can I help you?"
    )


async def test_silence_or_fillers_are_not_understood(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["", "uh um"])
    assert all(s.startswith("Sorry, I didn't catch that.") for s in said)


async def test_anything_else_yes_then_new_request(db: Database) -> None:
    call = make_call(db)
    said = await call.run(["what are your hours", "yes", "where are you"])
    assert said[1] == "Sure. What else can I do for you?"
    assert said[2].startswith("We're at")


# -- cancelling ----------------------------------------------------------------------------------


async def _book_max(db: Database, owner_phone: str = CALLER) -> None:
    book = make_call(db).book
    await book.book("old-call", "Max", "vaccination", datetime(2026, 11, 25, 10, tzinfo=ZONE),
                    owner_phone=owner_phone)  # fmt: skip


async def test_cancel_flow(db: Database) -> None:
    await _book_max(db)
    call = make_call(db)
    said = await call.run(["i need to cancel my appointment", "max", "yes", "no thanks"])
    assert said[0] == "Of course. What is your pet's name?"
    assert said[1] == (
        "I found Max's appointment for a vaccination on Wednesday, November 25 at 10:00 AM. "
        "Shall I cancel it?"
    )
    assert said[2] == (
        "Done. Max's appointment on Wednesday, November 25 at 10:00 AM is cancelled. "
        "Is there anything else I can help you with?"
    )
    assert call.ended
    assert await booked_rows(db) == []


async def test_cancel_with_name_in_the_request_and_misheard(db: Database) -> None:
    await _book_max(db)
    call = make_call(db)
    said = await call.run(["cancel the appointment for macs"])
    assert said[0].startswith("I found Max's appointment")
    said_no = await call.say("no")
    assert said_no.startswith("Okay, I'll keep the appointment as it is.")
    assert len(await booked_rows(db)) == 1


async def test_cancel_not_found_and_other_callers_are_private(db: Database) -> None:
    await _book_max(db, owner_phone="+5215559999999")
    call = make_call(db)
    said = await call.run(["cancel my appointment", "max"])
    assert said[1] == (
        "Sorry, I couldn't find an upcoming appointment for Max. "
        "Is there anything else I can help you with?"
    )
    assert len(await booked_rows(db)) == 1


# -- Spanish -------------------------------------------------------------------------------------


async def test_spanish_dialogue(db: Database) -> None:
    call = make_call(db, lang="es")
    greeting = await call.greet()
    assert greeting.startswith(
        "Buenos días, gracias por llamar a la Clínica Veterinaria Happy Paws"
    )
    said = [
        await call.say(line)
        for line in [
            "quiero agendar una cita",
            "se llama luna",
            "una vacuna",
            "mañana a las diez de la mañana",
            "sí por favor",
            "no gracias eso es todo",
        ]
    ]
    assert said[0] == "Claro, con gusto le ayudo a agendar una cita. ¿Cómo se llama su mascota?"
    assert said[3] == (
        "Para confirmar: una vacuna para Luna el martes 24 de noviembre a las 10:00 de la "
        "mañana. ¿Agendo la cita?"
    )
    assert said[4].startswith("Listo. Luna tiene cita para una vacuna")
    assert call.ended
    assert [r.pet_name for r in await booked_rows(db)] == ["Luna"]


# -- tools ---------------------------------------------------------------------------------------


def test_tool_registry_is_complete_and_json_schema_shaped() -> None:
    assert {"check_availability", "book_appointment", "cancel_appointment", "clinic_info",
            "transfer_to_human", "end_call"} <= set(TOOLS)  # fmt: skip
    for name, spec in TOOLS.items():
        assert spec.name == name and spec.description
        assert spec.parameters["type"] == "object"
        assert set(spec.parameters["required"]) <= set(spec.parameters["properties"])


async def test_tools_return_errors_as_results(db: Database) -> None:
    tools = make_call(db).agent.tools
    assert (await tools.execute("fly_to_the_moon", {}))["ok"] is False
    missing = await tools.execute("book_appointment", {"pet_name": "Max"})
    assert missing["ok"] is False and "reason" in missing["error"]
    wrong = await tools.execute("clinic_info", {"topic": 3})
    assert wrong["ok"] is False
    unknown_day = await tools.execute("check_availability", {"day": "someday", "time": "10:00"})
    assert unknown_day["ok"] is False


async def test_tools_through_execute(db: Database) -> None:
    tools = make_call(db).agent.tools
    free = await tools.execute("check_availability", {"day": "tomorrow", "time": "ten thirty"})
    assert free["ok"] and free["available"]
    booked = await tools.execute(
        "book_appointment",
        {"pet_name": "Max", "reason": "vaccination", "day": "2026-11-24", "time": "10:30"},
    )
    assert booked["ok"], booked
    taken = await tools.execute(
        "book_appointment",
        {"pet_name": "Luna", "reason": "grooming", "day": "2026-11-24", "time": "10:30"},
    )
    assert taken["ok"] is False and taken["reason"] == "taken" and taken["alternatives"]
    sunday = await tools.execute("check_availability", {"day": "2026-11-29", "time": "10:00"})
    assert sunday["available"] is False and sunday["reason"] == "closed_day"
    found = await tools.execute("find_appointments", {"pet_name": "max"})
    assert len(found["appointments"]) == 1
    cancelled = await tools.execute("cancel_appointment", {"pet_name": "Max"})
    assert cancelled["ok"]
    info = await tools.execute("clinic_info", {"topic": "prices", "service": "shots"})
    assert info["message"] == "A vaccination is 350 pesos."
    assert (await tools.execute("transfer_to_human", {}))["action"] == "transfer"
    assert (await tools.execute("end_call", {}))["action"] == "end_call"


async def test_booking_retry_by_the_same_call_is_idempotent(db: Database) -> None:
    tools = make_call(db).agent.tools
    args = {"pet_name": "Max", "reason": "vaccination", "day": "2026-11-24", "time": "10:00"}
    first = await tools.execute("book_appointment", args)
    again = await tools.execute("book_appointment", args)
    assert first["ok"] and again["ok"]
    assert first["appointment"]["id"] == again["appointment"]["id"]
    other_call = make_call(db, call_id="call-2").agent.tools
    assert (await other_call.execute("book_appointment", args))["ok"] is False


async def test_an_outbound_call_greets_the_callee_by_name_without_thanking_them() -> None:
    for lang, thanks in (("en", "thank you for calling"), ("es", "gracias por llamar")):
        info = CallInfo("c", direction="outbound", callee="+15551112222", name="Ana", language=lang)
        agent = ScriptedReceptionist(PERSONA, None, info, now=lambda: MONDAY_9AM)  # type: ignore[arg-type]
        greeting = " ".join(
            a.text for a in [x async for x in agent.greeting()] if isinstance(a, Say)
        )
        assert "Ana" in greeting and thanks not in greeting.lower(), greeting
        unnamed = CallInfo("c", direction="outbound", callee="+15551112222", language=lang)
        agent = ScriptedReceptionist(PERSONA, None, unnamed, now=lambda: MONDAY_9AM)  # type: ignore[arg-type]
        greeting = " ".join(
            a.text for a in [x async for x in agent.greeting()] if isinstance(a, Say)
        )
        assert "María" in greeting and thanks not in greeting.lower(), greeting
