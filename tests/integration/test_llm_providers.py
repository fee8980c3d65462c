"""Both brains through the official SDKs against the loopback fakes, inside the LLM agent.

Every test runs once per vendor. The fakes speak real HTTP and SSE, so these tests cover the
SDK wiring (base URL, auth headers, streaming, tool-call assembly, error mapping) as well as
the agent's retry and fallback behaviour under each fault a real service shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from fakes.llm_servers import (
    Drop,
    Fail,
    FakeAnthropic,
    FakeLLMServer,
    FakeOpenAI,
    Hang,
    Policy,
    Slow,
    StreamError,
    Text,
    Turn,
    booking_policy,
    replies,
)
from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.agents.llm import FALLBACK_LINES, LlmAgent
from voxagent.agents.persona import load_persona
from voxagent.agents.tools import ClinicTools
from voxagent.calls.info import CallInfo
from voxagent.providers.errors import ProviderError
from voxagent.providers.llm import make_brain
from voxagent.providers.llm.anthropic_brain import AnthropicBrain
from voxagent.providers.llm.base import Brain, Message, ToolCall
from voxagent.providers.llm.openai_brain import OpenAIBrain
from voxagent.state.appointments import AppointmentBook
from voxagent.state.database import AppointmentRow, Database

PERSONA = load_persona("maria")
MONDAY_9AM = datetime(2026, 11, 23, 9, tzinfo=PERSONA.zone).astimezone(UTC)
CALLER = "+5215550001111"
KEY = "test-key"
ANSWER = "Claro, con gusto le ayudo a agendar una cita para su mascota."


@pytest.fixture(params=["anthropic", "openai"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/clinic.db")
    await database.connect()
    yield database
    await database.close()


def fake_for(provider: str, policy: Policy, **options: float) -> FakeLLMServer:
    kind = FakeAnthropic if provider == "anthropic" else FakeOpenAI
    return kind(policy, api_key=KEY, **options)


def brain_for(
    provider: str, fake: FakeLLMServer, *, api_key: str = KEY, timeout: float = 2.0
) -> Brain:
    if provider == "anthropic":
        return AnthropicBrain(api_key, model="claude-test", base_url=fake.url, timeout=timeout)
    return OpenAIBrain(api_key, model="gpt-test", base_url=f"{fake.url}/v1", timeout=timeout)


class Setup:
    """A fake vendor, a brain pointed at it, and an agent over a real appointment book."""

    def __init__(self, provider: str, db: Database) -> None:
        self.provider = provider
        self.db = db

    def agent(self, brain: Brain, *, lang: str = "es") -> LlmAgent:
        clock: Callable[[], datetime] = lambda: MONDAY_9AM  # noqa: E731
        context = CallInfo("call-7", caller=CALLER, language=lang)
        tools = ClinicTools(AppointmentBook(self.db, PERSONA, now=clock), context, now=clock)
        return LlmAgent(
            PERSONA,
            tools,
            context,
            brain,
            now=clock,
            retry_delay=0.01,
        )


@pytest.fixture
def setup(provider: str, db: Database) -> Setup:
    return Setup(provider, db)


async def collect(actions: AsyncIterator[AgentAction]) -> list[AgentAction]:
    return [action async for action in actions]


def spoken(actions: list[AgentAction]) -> str:
    return "".join(a.text for a in actions if isinstance(a, Say))


async def one_turn(
    setup: Setup, fake: FakeLLMServer, *, read_timeout: float = 2.0, api_key: str = KEY
) -> tuple[LlmAgent, list[AgentAction], float]:
    brain = brain_for(setup.provider, fake, timeout=read_timeout, api_key=api_key)
    try:
        agent = setup.agent(brain)
        started = time.perf_counter()
        actions = await collect(agent.reply("hola"))
        return agent, actions, time.perf_counter() - started
    finally:
        await brain.close()


# -- streaming and the request on the wire -------------------------------------------------------


async def test_text_streams_incrementally(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER), chunk_delay=0.03) as fake:
        brain = brain_for(setup.provider, fake)
        agent = setup.agent(brain)
        await collect(agent.greeting())
        arrivals: list[tuple[float, str]] = []
        async for action in agent.reply("Quisiera una cita"):
            assert isinstance(action, Say)
            arrivals.append((time.perf_counter(), action.text))
        await brain.close()

    assert "".join(text for _, text in arrivals) == ANSWER
    assert len(arrivals) == len(ANSWER.split())  # one fragment per streamed word
    assert arrivals[-1][0] - arrivals[0][0] > 0.2  # the first words came well before the last
    assert agent.last_first_token_ms is not None

    (request,) = fake.requests
    assert request.body["stream"] is True
    assert "Speak Spanish only" in request.system
    assert [(t.role, t.text) for t in request.turns][-2:] == [
        ("assistant", agent.history[0].text),
        ("user", "Quisiera una cita"),
    ]
    assert set(request.tools) == {
        "check_availability",
        "book_appointment",
        "find_appointments",
        "cancel_appointment",
        "clinic_info",
        "transfer_to_human",
        "end_call",
    }
    if setup.provider == "anthropic":
        assert request.headers["anthropic-version"]
        assert request.body["model"] == "claude-test" and request.body["max_tokens"] == 400
        assert request.turns[0].role == "user"  # the greeting cannot open a Messages API call
    else:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.body["messages"][0]["role"] == "system"


# -- a whole call ----------------------------------------------------------------------------------


async def test_a_spanish_booking_call_books_in_the_database(setup: Setup, db: Database) -> None:
    caller = [
        "Hola, quisiera hacer una cita para mi perro",
        "Se llama Max",
        "Necesita una vacuna",
        "Mañana a las diez de la mañana",
        "Sí, por favor",
        "No, eso es todo, adiós",
    ]
    async with fake_for(setup.provider, booking_policy("es")) as fake:
        brain = brain_for(setup.provider, fake)
        agent = setup.agent(brain)
        await collect(agent.greeting())
        turns = [await collect(agent.reply(line)) for line in caller]
        await brain.close()

    assert fake.errors == []
    assert [r.status for r in fake.requests] == [200] * len(fake.requests)
    said = [spoken(t) for t in turns]
    assert said[0] == "Claro. ¿Cómo se llama su mascota?"
    assert said[3] == (
        "Permítame revisar. Para confirmar: vacuna para Max el mañana a las 10:00. ¿Agendo la cita?"
    )
    assert said[4] == "Perfecto, la agendo. Listo, Max ya tiene su cita. ¿Algo más?"
    assert said[5] == "Gracias por llamar. ¡Hasta luego!"
    assert turns[-1][-1] == EndCall("completed")
    assert agent.ended

    async with db.transaction() as session:
        rows = list(await session.scalars(select(AppointmentRow)))
    assert [(r.pet_name, r.reason, r.call_id, r.owner_phone, r.status) for r in rows] == [
        ("Max", "vacuna", "call-7", CALLER, "booked")
    ]
    assert PERSONA.local(rows[0].starts_at) == datetime(2026, 11, 24, 10, tzinfo=PERSONA.zone)

    # The tool results went back to the model with the ids of the calls they answer.
    results = [o for r in fake.requests for t in r.turns for o in t.results]
    assert {o.name for o in results} == {"check_availability", "book_appointment"}
    assert any(o.content.get("available") is True for o in results)


async def test_a_request_for_a_person_transfers_the_call(setup: Setup) -> None:
    async with fake_for(setup.provider, booking_policy("en")) as fake:
        brain = brain_for(setup.provider, fake)
        agent = setup.agent(brain, lang="en")
        actions = await collect(agent.reply("Can I talk to a person please?"))
        await brain.close()
    assert spoken(actions) == "I'll put you through to a person."
    assert actions[-1] == Transfer("+525555010123")


# -- faults ----------------------------------------------------------------------------------------


async def test_a_rejected_key_gives_the_fallback_at_once(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER)) as fake:
        _, actions, elapsed = await one_turn(setup, fake, api_key="wrong-key")
    assert actions == [Say(FALLBACK_LINES["es"])]
    assert [r.status for r in fake.requests] == [401]  # not retried
    assert elapsed < 1.0


async def test_a_rate_limit_is_retried_once(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER)) as fake:
        fake.inject(Fail(429))
        agent, actions, _ = await one_turn(setup, fake)
    assert spoken(actions) == ANSWER
    assert [r.status for r in fake.requests] == [429, 200]
    assert agent.fallbacks == 0


async def test_an_overloaded_service_twice_gives_the_fallback(setup: Setup) -> None:
    overloaded = 529 if setup.provider == "anthropic" else 503
    async with fake_for(setup.provider, replies(ANSWER)) as fake:
        fake.inject(Fail(overloaded), Fail(overloaded))
        _, actions, elapsed = await one_turn(setup, fake)
    assert actions == [Say(FALLBACK_LINES["es"])]
    assert [r.status for r in fake.requests] == [overloaded, overloaded]
    assert elapsed < 1.0


async def test_a_slow_first_byte_is_waited_for_and_measured(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER)) as fake:
        fake.inject(Slow(0.2))
        agent, actions, _ = await one_turn(setup, fake, read_timeout=1.0)
    assert spoken(actions) == ANSWER
    assert agent.last_first_token_ms is not None and agent.last_first_token_ms >= 200
    assert len(fake.requests) == 1


async def test_a_drop_before_any_words_is_retried(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER, ANSWER)) as fake:
        fake.inject(Drop(after_deltas=0))
        _, actions, _ = await one_turn(setup, fake)
    assert spoken(actions) == ANSWER
    assert len(fake.requests) == 2


async def test_a_drop_mid_sentence_keeps_the_words_and_apologises(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER)) as fake:
        fake.inject(Drop(after_deltas=3))
        agent, actions, elapsed = await one_turn(setup, fake)
    assert spoken(actions) == f"Claro, con gusto {FALLBACK_LINES['es']}"
    assert len(fake.requests) == 1  # words were spoken: a retry would repeat them
    assert agent.history[-1].text == f"Claro, con gusto {FALLBACK_LINES['es']}"
    assert elapsed < 1.0


async def test_an_error_event_inside_the_stream_is_retried(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER, ANSWER)) as fake:
        fake.inject(StreamError(after_deltas=0))
        agent, actions, _ = await one_turn(setup, fake)
    assert spoken(actions) == ANSWER
    assert len(fake.requests) == 2 and agent.fallbacks == 0


async def test_a_hung_service_times_out_and_gives_the_fallback(setup: Setup) -> None:
    async with fake_for(setup.provider, replies(ANSWER)) as fake:
        fake.inject(Hang(), Hang())
        _, actions, elapsed = await one_turn(setup, fake, read_timeout=0.2)
    assert actions == [Say(FALLBACK_LINES["es"])]
    assert len(fake.requests) == 2
    assert elapsed < 1.2


async def test_the_fakes_refuse_a_tool_call_without_its_result(setup: Setup) -> None:
    """Protocol faithfulness: a broken history is a 400, which the brain does not retry."""
    broken = [
        Message.user("hola"),
        Message("assistant", "Un momento.", [ToolCall("t1", "clinic_info", {"topic": "hours"})]),
        Message.user("¿sigue ahí?"),
    ]
    async with fake_for(setup.provider, replies(ANSWER)) as fake:
        brain = brain_for(setup.provider, fake)
        with pytest.raises(ProviderError) as caught:
            async for _ in brain.stream("system", broken, []):
                pass
        await brain.close()
    assert type(caught.value) is ProviderError and "400" in str(caught.value)
    assert [r.status for r in fake.requests] == [400]


async def test_the_fake_model_can_be_any_policy(setup: Setup) -> None:
    seen: list[int] = []

    def counting(turns: list[Turn], tools: list[str]) -> list[Text]:
        seen.append(len(turns))
        return [Text(f"Van {len(turns)} mensajes.")]

    async with fake_for(setup.provider, counting) as fake:
        _, actions, _ = await one_turn(setup, fake)
    assert spoken(actions) == "Van 1 mensajes." and seen == [1]


# -- the factory -----------------------------------------------------------------------------------


async def test_make_brain_maps_provider_names() -> None:
    claude = make_brain("Claude", api_key="k", model="claude-x", base_url="http://127.0.0.1:9")
    local = make_brain("openai", api_key="", base_url="http://127.0.0.1:11434/v1")
    assert isinstance(claude, AnthropicBrain) and claude.model == "claude-x"
    assert isinstance(local, OpenAIBrain) and local.model == "gpt-4o-mini"
    await asyncio.gather(claude.close(), local.close())
    with pytest.raises(ValueError, match="unknown LLM provider"):
        make_brain("scripted", api_key="")
