"""Sandra as an LLM agent: the generalised LlmAgent with the concierge's tools and prompt,
against an in-process fake brain (the same fake as ``test_llm_agent``'s, expecting the
concierge's tools). Tools run for real over SQLite, so a booking made by tool call is checked
in the database."""

from __future__ import annotations

import asyncio
import copy
import json
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.agents.concierge_persona import ConciergePersona
from voxagent.agents.concierge_prompt import build_concierge_prompt
from voxagent.agents.concierge_tools import ConciergeTools
from voxagent.agents.kinds import load_any_persona
from voxagent.agents.llm import LlmAgent
from voxagent.calls.info import CallInfo
from voxagent.providers.llm.base import (
    BrainEvent,
    Message,
    Stop,
    TextDelta,
    ToolCall,
    ToolSchema,
)
from voxagent.state.apartments import ApartmentBook
from voxagent.state.database import Database

_LOADED = load_any_persona("sandra")
assert isinstance(_LOADED, ConciergePersona)
PERSONA: ConciergePersona = _LOADED
NOW = datetime(2026, 11, 23, 10, tzinfo=ZoneInfo("Europe/Madrid")).astimezone(UTC)
CALLER = "+34600111222"

Response = Sequence[BrainEvent | Exception | float] | Exception


class FakeBrain:
    """Plays scripted responses; a float pauses, an exception is raised where it stands."""

    name = "fake"
    model = "fake-1"

    def __init__(self, *responses: Response) -> None:
        self.responses: deque[Response] = deque(responses)
        self.requests: list[tuple[str, list[Message]]] = []

    async def stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> AsyncGenerator[BrainEvent, None]:
        assert {t.name for t in tools} >= {"check_availability", "book_apartment", "end_call"}
        self.requests.append((system, copy.deepcopy(list(messages))))
        response = self.responses.popleft()
        if isinstance(response, Exception):
            raise response
        for item in response:
            if isinstance(item, Exception):
                raise item
            if isinstance(item, float):
                await asyncio.sleep(item)
                continue
            yield item

    async def close(self) -> None:
        pass


def said(*pieces: str) -> list[BrainEvent]:
    return [*(TextDelta(p) for p in pieces), Stop("end_turn", "end_turn")]


def calls(*tool_calls: ToolCall, text: str = "") -> list[BrainEvent]:
    events: list[BrainEvent] = [TextDelta(text)] if text else []
    return [*events, *tool_calls, Stop("tool_use", "tool_use")]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/apartments.db")
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
def book(db: Database) -> ApartmentBook:
    return ApartmentBook(db, PERSONA.apartments, today=lambda: PERSONA.local(NOW).date())


def make_agent(
    book: ApartmentBook,
    brain: FakeBrain,
    *,
    lang: str = "es",
    heard: list[tuple[str, dict[str, Any], dict[str, Any]]] | None = None,
) -> LlmAgent:
    info = CallInfo("call-9", caller=CALLER, language=lang, persona="sandra")
    tools = ConciergeTools(
        book,
        PERSONA,
        info,
        now=lambda: NOW,
        on_tool=None if heard is None else lambda n, a, r: heard.append((n, dict(a), r)),
    )
    return LlmAgent(
        PERSONA,
        tools,
        info,
        brain,
        prompt=lambda lang, now, call: build_concierge_prompt(PERSONA, lang, now, call),
        now=lambda: NOW,
        retry_delay=0.01,
    )


async def collect(actions: AsyncIterator[AgentAction]) -> list[AgentAction]:
    return [action async for action in actions]


def spoken(actions: list[AgentAction]) -> str:
    return "".join(a.text for a in actions if isinstance(a, Say))


async def test_the_llm_concierge_books_by_tool_call(book: ApartmentBook) -> None:
    loft = next(a.id for a in await book.apartments() if a.key == "ruzafa-loft")
    stay = {"check_in": "2026-12-12", "check_out": "2026-12-15", "guests": 2}
    brain = FakeBrain(
        calls(ToolCall("t1", "check_availability", stay), text="Un momento."),
        said("Tengo el Ruzafa Loft a 95 euros la noche. ¿Le interesa?"),
        said(
            "Le confirmo: Ruzafa Loft, del 12 al 15 de diciembre, a nombre de Ana García, ",
            "285 euros. ¿Hago la reserva?",
        ),
        calls(
            ToolCall(
                "t2", "book_apartment", {**stay, "apartment_id": loft, "guest_name": "Ana García"}
            )
        ),
        said("¡Listo! Su número de reserva es el 1."),
    )
    heard: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    agent = make_agent(book, brain, heard=heard)
    greeting = spoken(await collect(agent.greeting()))
    assert greeting.startswith("Buenos días, bienvenido a Apartamentos Valencia Sol")
    first = spoken(await collect(agent.reply("Quiero un apartamento del 12 al 15 de diciembre")))
    assert first == "Un momento. Tengo el Ruzafa Loft a 95 euros la noche. ¿Le interesa?"
    # the model saw what the tool found, from the database
    results = brain.requests[1][1][-1].results
    found = json.loads(results[0].content)
    assert found["available"] is True
    assert [a["name"] for a in found["apartments"]][:2] == ["Central Market Studio", "Ruzafa Loft"]
    await collect(agent.reply("Sí, a nombre de Ana García"))
    done = spoken(await collect(agent.reply("Sí, resérvelo")))
    assert done == "¡Listo! Su número de reserva es el 1."

    (reservation,) = await book.reservations()
    assert (reservation.apartment_name, reservation.guest_name) == ("Ruzafa Loft", "Ana García")
    assert (reservation.check_in, reservation.check_out) == (date(2026, 12, 12), date(2026, 12, 15))
    assert (reservation.guest_phone, reservation.call_id) == (CALLER, "call-9")
    assert [name for name, _, _ in heard] == ["check_availability", "book_apartment"]
    assert heard[1][2]["ok"] is True


async def test_the_prompt_holds_the_file_s_facts_and_the_dates(book: ApartmentBook) -> None:
    brain = FakeBrain(said("Claro."))
    agent = make_agent(book, brain)
    await collect(agent.reply("hola"))
    system = brain.requests[0][0]
    assert "You are Sandra, the concierge of Apartamentos Valencia Sol" in system
    assert "Speak Spanish only" in system
    assert "- 2026-11-23 lunes 23 de noviembre (today)" in system
    assert "- 2026-12-07 lunes 7 de diciembre" in system, "two weeks of dates"
    assert PERSONA.info("wifi", "es") in system and "naranjas 2026" in system
    assert "a partir de las 3:00 de la tarde" in system
    assert PERSONA.info("airport", "es") in system
    assert "95 euros" not in system, "prices come from the database, through the tools"
    assert "Only after a clear yes, call book_apartment" in system
    assert "The caller's number: +34600111222." in system


def test_the_english_prompt_speaks_english() -> None:
    system = build_concierge_prompt(PERSONA, "en", NOW)
    assert "Speak English only" in system
    assert "- 2026-11-24 Tuesday, November 24 (tomorrow)" in system
    assert "Check-out is by 11:00 AM" in system


async def test_ending_and_transferring_by_tool(book: ApartmentBook) -> None:
    bye = make_agent(book, FakeBrain(calls(ToolCall("t1", "end_call", {}))), lang="en")
    actions = await collect(bye.reply("that's all, thanks"))
    assert spoken(actions) == PERSONA.line("goodbye", "en")
    assert actions[-1] == EndCall("completed")
    person = make_agent(book, FakeBrain(calls(ToolCall("t1", "transfer_to_human", {}))))
    actions = await collect(person.reply("quiero hablar con alguien"))
    assert actions[-1] == Transfer("+34960500123")


async def test_a_bad_tool_call_is_a_result_the_model_reads(book: ApartmentBook) -> None:
    brain = FakeBrain(
        calls(ToolCall("t1", "book_apartment", {"apartment_id": "two"})),
        said("Perdone, ¿qué fechas le interesan?"),
    )
    agent = make_agent(book, brain)
    assert spoken(await collect(agent.reply("resérveme algo"))).startswith("Perdone")
    result = brain.requests[1][1][-1].results[0]
    assert result.is_error and "missing" in result.content
    assert await book.reservations() == []


def test_a_concierge_needs_its_own_prompt(book: ApartmentBook) -> None:
    info = CallInfo("c", persona="sandra")
    tools = ConciergeTools(book, PERSONA, info)
    with pytest.raises(TypeError, match="pass its system prompt"):
        LlmAgent(PERSONA, tools, info, FakeBrain())
