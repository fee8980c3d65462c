"""The call factory builds each call's agent for its persona's kind: María's receptionist by
default, Sandra's concierge for ``persona="sandra"``, scripted or LLM (with the scripted one
behind it), and the tool observer hears what either agent does."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from voxagent.agents.backup import AgentWithBackup
from voxagent.agents.base import Agent, AgentAction, Say
from voxagent.agents.concierge_persona import ConciergePersona
from voxagent.agents.concierge_scripted import ScriptedConcierge
from voxagent.agents.concierge_tools import ConciergeTools
from voxagent.agents.kinds import KINDS, open_desk
from voxagent.agents.llm import LlmAgent
from voxagent.agents.persona import Persona, PersonaError
from voxagent.agents.scripted import ScriptedReceptionist
from voxagent.agents.tools import ClinicTools
from voxagent.calls.factory import CallFactory
from voxagent.calls.info import CallInfo
from voxagent.providers.llm.base import BrainEvent, Message, Stop, TextDelta, ToolSchema
from voxagent.settings import load_settings
from voxagent.state.database import Database


class EchoBrain:
    """A model that says one thing and remembers which tools it was offered."""

    name = "fake"
    model = "fake-1"

    def __init__(self) -> None:
        self.tools: list[str] = []
        self.systems: list[str] = []

    async def stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> AsyncGenerator[BrainEvent, None]:
        self.tools = [t.name for t in tools]
        self.systems.append(system)
        yield TextDelta("Hola.")
        yield Stop("end_turn", "end_turn")

    async def close(self) -> None:
        pass


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/calls.db")
    await database.connect()
    yield database
    await database.close()


def make_factory(db: Database, **settings: object) -> CallFactory:
    return CallFactory(load_settings(_env_file=None, **settings), db, lambda *args: None)


async def say(agent: Agent, text: str) -> str:
    actions: list[AgentAction] = [a async for a in agent.reply(text)]
    return " ".join(a.text for a in actions if isinstance(a, Say))


def test_the_kinds() -> None:
    assert set(KINDS) == {"clinic", "concierge"}


async def test_maria_by_default_and_sandra_by_name(db: Database) -> None:
    factory = make_factory(db)
    maria = factory.agent(CallInfo("c1"))
    sandra = factory.agent(CallInfo("c2", persona="sandra"))
    assert isinstance(maria, ScriptedReceptionist) and isinstance(maria.persona, Persona)
    assert isinstance(sandra, ScriptedConcierge) and isinstance(sandra.persona, ConciergePersona)
    assert sandra.provider_name == "scripted" and not sandra.can_prefetch
    assert factory.persona("sandra") is sandra.persona, "loaded once, shared by every call"
    greeting = " ".join([a.text async for a in sandra.greeting() if isinstance(a, Say)])
    assert "Sandra" in greeting and "Valencia Sol" in greeting


@pytest.mark.parametrize(
    ("persona", "lang", "still_there", "transfer_to"),
    [
        ("maria", "en", "Are you still there?", "+525555010123"),
        ("sandra", "es", "¿Sigue ahí?", "+34960500123"),
        ("sandra", "en", "Are you still there?", "+34960500123"),
    ],
)
async def test_the_engine_s_lines_come_from_the_call_s_persona(
    db: Database, persona: str, lang: str, still_there: str, transfer_to: str
) -> None:
    factory = make_factory(db)
    lines = factory.lines(CallInfo("c", persona=persona, language=lang))
    assert lines.still_there == still_there
    assert lines.transfer_to == transfer_to
    shown = factory.persona(persona)
    assert lines.no_input_goodbye == shown.line("no_input_goodbye", lang)
    assert lines.technical_trouble == shown.line("technical_trouble", lang)
    assert shown.line("shutdown", lang)  # what a drain says (services._shutdown_line)


async def test_an_unknown_persona_is_refused(db: Database) -> None:
    with pytest.raises(PersonaError, match="unknown persona 'zorro'"):
        make_factory(db).agent(CallInfo("c", persona="zorro"))


async def test_the_llm_agent_of_each_kind_with_the_scripted_one_behind(db: Database) -> None:
    factory = make_factory(db, llm_provider="anthropic,scripted", claude_api_key="test-key")
    brain = EchoBrain()
    factory.brains.append(brain)  # what start() would build from the settings
    sandra = factory.agent(CallInfo("c1", persona="sandra", language="es"))
    assert isinstance(sandra, AgentWithBackup)
    assert isinstance(sandra.primary.tools, ConciergeTools)
    assert isinstance(sandra.backup, ScriptedConcierge)
    assert await say(sandra, "hola") == "Hola."
    assert "book_apartment" in brain.tools and "book_appointment" not in brain.tools
    assert "You are Sandra, the concierge of Apartamentos Valencia Sol" in brain.systems[-1]

    maria = factory.agent(CallInfo("c2"))
    assert isinstance(maria, AgentWithBackup)
    assert isinstance(maria.primary.tools, ClinicTools)
    assert isinstance(maria.backup, ScriptedReceptionist)
    await say(maria, "hello")
    assert "book_appointment" in brain.tools
    assert "You are María, the receptionist of Happy Paws" in brain.systems[-1]


async def test_the_llm_agent_alone_without_scripted_in_the_chain(db: Database) -> None:
    factory = make_factory(db, llm_provider="anthropic", claude_api_key="test-key")
    factory.brains.append(EchoBrain())
    agent = factory.agent(CallInfo("c1", persona="sandra"))
    assert isinstance(agent, LlmAgent) and agent.can_prefetch


async def test_the_tool_observer_hears_a_scripted_booking(db: Database) -> None:
    heard: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def observe(name: str, arguments: Mapping[str, Any], result: dict[str, Any]) -> None:
        heard.append((name, dict(arguments), result))

    factory = make_factory(db)
    agent = factory.agent(CallInfo("c1", persona="sandra", caller="user-42"), on_tool=observe)
    for line in ("what's the wifi password", "book an apartment a week from tomorrow for two",
                 "the first one", "my name is anna smith", "yes"):  # fmt: skip
        await say(agent, line)
    assert [name for name, _, _ in heard] == [
        "concierge_info",
        "check_availability",
        "book_apartment",
    ]
    assert heard[0][1] == {"topic": "wifi"} and "ValenciaSol-Guest" in heard[0][2]["message"]
    assert heard[2][2]["reservation"]["guest_name"] == "Anna Smith"
    desk = open_desk("sandra", db)
    (reservation,) = await desk.book.reservations()  # type: ignore[attr-defined]
    assert reservation.guest_phone == "user-42"


async def test_the_tool_observer_hears_the_clinic_too(db: Database) -> None:
    heard: list[str] = []
    factory = make_factory(db)
    agent = factory.agent(CallInfo("c1"), on_tool=lambda name, args, result: heard.append(name))
    await say(agent, "can i talk to a person")
    assert heard == ["transfer_to_human"]


async def test_a_failing_observer_never_breaks_the_call(db: Database) -> None:
    def broken(name: str, arguments: Mapping[str, Any], result: dict[str, Any]) -> None:
        raise RuntimeError("the browser went away")

    agent = make_factory(db).agent(CallInfo("c1", persona="sandra"), on_tool=broken)
    assert "ValenciaSol-Guest" in await say(agent, "what is the wifi password")
