"""The LLM agent against an in-process fake brain: streaming, tools, history, failures.

Tools run for real (ClinicTools over SQLite with a fixed clock), so a booking made through
the tool loop is checked in the database, not just in the transcript.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.agents.llm import FALLBACK_LINES, LlmAgent
from voxagent.agents.persona import load_persona
from voxagent.agents.prompt import build_system_prompt
from voxagent.agents.tools import ClinicTools
from voxagent.calls.info import CallInfo
from voxagent.providers.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderQuotaError,
)
from voxagent.providers.llm.anthropic_brain import CALL_CONNECTED, to_anthropic_messages
from voxagent.providers.llm.base import (
    BrainEvent,
    Message,
    Stop,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolSchema,
    decode_arguments,
)
from voxagent.providers.llm.openai_brain import to_openai_messages
from voxagent.state.appointments import AppointmentBook
from voxagent.state.database import Database

PERSONA = load_persona("maria")
MONDAY_9AM = datetime(2026, 11, 23, 9, tzinfo=PERSONA.zone).astimezone(UTC)
GREETING_ES = (
    "Buenos días, gracias por llamar a la Clínica Veterinaria Happy Paws. "
    "Le atiende María. ¿En qué le puedo ayudar?"
)

Response = Sequence[BrainEvent | Exception | float] | Exception


class FakeBrain:
    """Plays scripted responses; a float pauses, an exception is raised where it stands."""

    name = "fake"
    model = "fake-1"

    def __init__(self, *responses: Response) -> None:
        self.responses: deque[Response] = deque(responses)
        self.requests: list[tuple[str, list[Message]]] = []
        self.closed_streams = 0
        self.gate: asyncio.Event | None = None  # when set up, each text delta waits for it

    async def stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> AsyncGenerator[BrainEvent, None]:
        assert {t.name for t in tools} >= {"book_appointment", "end_call"}
        self.requests.append((system, copy.deepcopy(list(messages))))
        response = self.responses.popleft()
        try:
            if isinstance(response, Exception):
                raise response
            for item in response:
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, float):
                    await asyncio.sleep(item)
                    continue
                yield item
        finally:
            self.closed_streams += 1

    async def close(self) -> None:
        pass


def said(*pieces: str, stop: str = "end_turn") -> list[BrainEvent]:
    return [*(TextDelta(p) for p in pieces), Stop("end_turn", stop)]


def calls(*tool_calls: ToolCall, text: str = "") -> list[BrainEvent]:
    events: list[BrainEvent] = [TextDelta(text)] if text else []
    return [*events, *tool_calls, Stop("tool_use", "tool_use")]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/clinic.db")
    await database.connect()
    yield database
    await database.close()


MakeAgent = Callable[..., LlmAgent]


@pytest.fixture
def make_agent(db: Database) -> MakeAgent:
    def make(brain: FakeBrain, *, lang: str = "es", **options: object) -> LlmAgent:
        clock = lambda: MONDAY_9AM  # noqa: E731
        context = CallInfo("call-1", caller="+5215550001111", language=lang)
        tools = ClinicTools(AppointmentBook(db, PERSONA, now=clock), context, now=clock)
        options.setdefault("retry_delay", 0.01)
        return LlmAgent(PERSONA, tools, context, brain, now=clock, **options)  # type: ignore[arg-type]

    return make


async def collect(actions: AsyncIterator[AgentAction]) -> list[AgentAction]:
    return [action async for action in actions]


def spoken(actions: list[AgentAction]) -> str:
    return "".join(a.text for a in actions if isinstance(a, Say))


def assert_valid(history: Sequence[Message]) -> None:
    """Every tool call is answered by the very next message, and nothing else is."""
    for index, message in enumerate(history):
        if message.role == "tool":
            assert index > 0, "history starts with a tool result"
            previous = history[index - 1]
            assert [c.id for c in previous.tool_calls] == [r.call_id for r in message.results]
        elif message.tool_calls:
            assert index + 1 < len(history) and history[index + 1].role == "tool"


# -- greeting and streaming ---------------------------------------------------------------------


async def test_greeting_is_instant_and_becomes_the_first_assistant_message(
    make_agent: MakeAgent,
) -> None:
    brain = FakeBrain()
    agent = make_agent(brain)
    assert await collect(agent.greeting()) == [Say(GREETING_ES)]
    assert brain.requests == []
    assert [(m.role, m.text) for m in agent.history] == [("assistant", GREETING_ES)]


async def test_reply_streams_each_fragment_as_it_arrives(make_agent: MakeAgent) -> None:
    gate = asyncio.Event()

    class GatedBrain(FakeBrain):
        async def stream(
            self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
        ) -> AsyncGenerator[BrainEvent, None]:
            self.requests.append((system, list(messages)))
            yield TextDelta("Claro, ")
            await gate.wait()  # the rest of the answer is not there yet
            yield TextDelta("con gusto.")
            yield Stop("end_turn")

    brain = GatedBrain()
    agent = make_agent(brain)
    await collect(agent.greeting())
    stream = agent.reply("quiero una cita")
    first = await asyncio.wait_for(anext(stream), 1)
    assert first == Say("Claro, ")  # spoken before the model finished
    gate.set()
    assert await collect(stream) == [Say("con gusto.")]
    system, messages = brain.requests[0]
    assert "Speak Spanish only" in system
    assert [(m.role, m.text) for m in messages] == [
        ("assistant", GREETING_ES),
        ("user", "quiero una cita"),
    ]
    assert [(m.role, m.text) for m in agent.history][-1] == ("assistant", "Claro, con gusto.")


async def test_first_token_time_is_measured(make_agent: MakeAgent) -> None:
    brain = FakeBrain([0.05, TextDelta("Hola."), Stop("end_turn")])
    agent = make_agent(brain)
    await collect(agent.reply("hola"))
    assert agent.last_first_token_ms is not None and agent.last_first_token_ms >= 45


# -- tools -----------------------------------------------------------------------------------------


async def test_tool_loop_books_and_feeds_results_back(make_agent: MakeAgent, db: Database) -> None:
    booking = ToolCall(
        "toolu_1",
        "book_appointment",
        {"pet_name": "Max", "reason": "vacuna", "day": "2026-11-24", "time": "10:00"},
    )
    brain = FakeBrain(
        calls(booking, text="Perfecto, la agendo."),
        said("Listo, Max tiene cita el martes a las diez."),
    )
    agent = make_agent(brain)
    await collect(agent.greeting())
    actions = await collect(agent.reply("sí, agéndela"))
    assert spoken(actions) == "Perfecto, la agendo. Listo, Max tiene cita el martes a las diez."

    appointments = await AppointmentBook(db, PERSONA).find_for(pet_name="Max", include_past=True)
    assert [PERSONA.local(a.starts_at).hour for a in appointments] == [10]

    _, second = brain.requests[1]
    assert [m.role for m in second] == ["assistant", "user", "assistant", "tool"]
    assert second[2].tool_calls == [booking]
    result = second[3].results[0]
    assert (result.call_id, result.name, result.is_error) == ("toolu_1", "book_appointment", False)
    assert '"ok": true' in result.content
    assert_valid(agent.history)


async def test_a_failing_tool_comes_back_as_an_error_result(make_agent: MakeAgent) -> None:
    bad = ToolCall("toolu_1", "check_availability", {"day": "someday", "time": "10:00"})
    brain = FakeBrain(calls(bad), said("¿Qué día le acomoda?"))
    agent = make_agent(brain)
    await collect(agent.reply("una cita"))
    result = brain.requests[1][1][-1].results[0]
    assert result.is_error and "could not understand" in result.content


async def test_transfer_speaks_the_persona_line_when_the_model_said_nothing(
    make_agent: MakeAgent,
) -> None:
    brain = FakeBrain(calls(ToolCall("toolu_1", "transfer_to_human", {})))
    agent = make_agent(brain)
    actions = await collect(agent.reply("quiero hablar con una persona"))
    assert actions == [Say(PERSONA.line("transfer", "es")), Transfer("+525555010123")]
    assert agent.ended
    assert await collect(agent.reply("¿hola?")) == []
    assert len(brain.requests) == 1


async def test_end_call_comes_after_the_models_goodbye(make_agent: MakeAgent) -> None:
    brain = FakeBrain(calls(ToolCall("toolu_1", "end_call", {}), text="¡Hasta luego!"))
    agent = make_agent(brain)
    actions = await collect(agent.reply("eso es todo, adiós"))
    assert actions == [Say("¡Hasta luego!"), EndCall("completed")]
    assert_valid(agent.history)


async def test_the_tool_loop_is_bounded(make_agent: MakeAgent) -> None:
    looping = [calls(ToolCall(f"t{i}", "clinic_info", {"topic": "hours"})) for i in range(9)]
    brain = FakeBrain(*looping)
    agent = make_agent(brain, max_tool_rounds=3)
    actions = await collect(agent.reply("¿a qué hora abren?"))
    assert len(brain.requests) == 3
    assert spoken(actions) == FALLBACK_LINES["es"]
    assert agent.history[-1].text == FALLBACK_LINES["es"]
    assert_valid(agent.history)


async def test_broken_tool_arguments_become_an_empty_call() -> None:
    assert decode_arguments('{"day": "2026-11-24"') == {}
    assert decode_arguments("[1, 2]") == {}
    assert decode_arguments("") == {}
    assert decode_arguments('{"topic": "hours"}') == {"topic": "hours"}


# -- history --------------------------------------------------------------------------------------


async def test_history_is_capped_without_orphaning_tool_results(make_agent: MakeAgent) -> None:
    responses: list[Response] = []
    for turn in range(6):
        responses.append(calls(ToolCall(f"t{turn}", "clinic_info", {"topic": "address"})))
        responses.append(said(f"Respuesta {turn}."))
    brain = FakeBrain(*responses)
    agent = make_agent(brain, max_history=5)
    await collect(agent.greeting())
    for turn in range(6):
        await collect(agent.reply(f"pregunta {turn}"))
        assert len(agent.history) <= 5
        assert_valid(agent.history)
    for _, messages in brain.requests:
        assert len(messages) <= 5
        assert messages[0].role != "tool"
        assert_valid(messages)
    assert agent.history[-1].text == "Respuesta 5."


def test_history_cap_must_hold_a_call_and_its_result() -> None:
    with pytest.raises(ValueError, match="max_history"):
        LlmAgent(PERSONA, None, CallInfo("c"), FakeBrain(), max_history=1)  # type: ignore[arg-type]


async def test_interruption_rewrites_the_reply_to_what_was_heard(make_agent: MakeAgent) -> None:
    brain = FakeBrain(said("Abrimos a las nueve. ", "Cerramos a las seis."), said("Claro."))
    agent = make_agent(brain)
    await collect(agent.greeting())
    await collect(agent.reply("¿a qué hora abren?"))
    agent.interrupted("Abrimos a las nueve.")
    assert agent.history[-1].text == "Abrimos a las nueve."
    await collect(agent.reply("¿y los sábados?"))
    _, messages = brain.requests[1]
    assert [m.text for m in messages][-2:] == ["Abrimos a las nueve.", "¿y los sábados?"]


async def test_interruption_spreads_over_a_reply_with_tool_rounds(make_agent: MakeAgent) -> None:
    brain = FakeBrain(
        calls(ToolCall("t1", "clinic_info", {"topic": "hours"}), text="Un momento."),
        said("Abrimos a las nueve y cerramos a las seis."),
    )
    agent = make_agent(brain)
    await collect(agent.reply("¿horario?"))
    agent.interrupted("Un momento. Abrimos a las")
    texts = [(m.role, m.text) for m in agent.history]
    assert texts == [
        ("user", "¿horario?"),
        ("assistant", "Un momento."),
        ("tool", ""),
        ("assistant", "Abrimos a las"),
    ]
    agent.interrupted("")  # heard nothing at all: words go, the tool call stays
    assert [(m.role, m.text) for m in agent.history] == [
        ("user", "¿horario?"),
        ("assistant", ""),
        ("tool", ""),
    ]
    assert_valid(agent.history)


async def test_an_unheard_greeting_leaves_the_history(make_agent: MakeAgent) -> None:
    agent = make_agent(FakeBrain())
    await collect(agent.greeting())
    agent.interrupted("")
    assert agent.history == []


async def test_barge_in_mid_stream_keeps_the_spoken_part_and_closes_the_stream(
    make_agent: MakeAgent,
) -> None:
    brain = FakeBrain([TextDelta("Claro, "), 5.0, TextDelta("nunca llega."), Stop("end_turn")])
    agent = make_agent(brain)
    stream = agent.reply("una cita")
    assert await anext(stream) == Say("Claro, ")
    task = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    task.cancel()  # what the engine does on barge-in
    with pytest.raises(asyncio.CancelledError):
        await task
    await stream.aclose()  # type: ignore[attr-defined]
    assert brain.closed_streams == 1
    agent.interrupted("Claro,")
    assert [(m.role, m.text) for m in agent.history] == [
        ("user", "una cita"),
        ("assistant", "Claro,"),
    ]


# -- failures --------------------------------------------------------------------------------------


async def test_a_busy_model_is_retried_once(make_agent: MakeAgent) -> None:
    brain = FakeBrain(ProviderQuotaError("fake", "429"), said("Hola."))
    agent = make_agent(brain)
    assert spoken(await collect(agent.reply("hola"))) == "Hola."
    assert len(brain.requests) == 2 and agent.fallbacks == 0


async def test_two_failures_give_the_spoken_fallback(make_agent: MakeAgent) -> None:
    brain = FakeBrain(ProviderConnectionError("fake", "timeout"), [ProviderQuotaError("x", "529")])
    agent = make_agent(brain)
    actions = await collect(agent.reply("hola"))
    assert actions == [Say(FALLBACK_LINES["es"])]
    assert len(brain.requests) == 2 and agent.fallbacks == 1
    assert agent.history[-1].text == FALLBACK_LINES["es"]


async def test_a_rejected_key_is_not_retried_and_is_logged(
    make_agent: MakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    brain = FakeBrain(ProviderAuthError("fake", "401 invalid x-api-key"))
    agent = make_agent(brain, lang="en")
    with caplog.at_level(logging.ERROR, logger="voxagent.agents.llm"):
        actions = await collect(agent.reply("hello"))
    assert actions == [Say(FALLBACK_LINES["en"])]
    assert len(brain.requests) == 1
    assert "rejected the API key" in caplog.text


async def test_other_refusals_are_not_retried(make_agent: MakeAgent) -> None:
    brain = FakeBrain(ProviderError("fake", "400 invalid_request_error"))
    agent = make_agent(brain)
    assert spoken(await collect(agent.reply("hola"))) == FALLBACK_LINES["es"]
    assert len(brain.requests) == 1


async def test_a_stream_that_breaks_after_speaking_is_not_repeated(make_agent: MakeAgent) -> None:
    brain = FakeBrain([TextDelta("Con gusto"), ProviderConnectionError("fake", "dropped")])
    agent = make_agent(brain)
    actions = await collect(agent.reply("una cita"))
    assert actions == [Say("Con gusto"), Say(" " + FALLBACK_LINES["es"])]
    assert len(brain.requests) == 1
    assert agent.history[-1].text == f"Con gusto {FALLBACK_LINES['es']}"


async def test_tool_calls_of_a_broken_stream_are_not_run(
    make_agent: MakeAgent, db: Database
) -> None:
    booking = ToolCall(
        "t1", "book_appointment", {"pet_name": "Max", "reason": "x", "day": "mañana", "time": "10"}
    )
    brain = FakeBrain([booking, ProviderConnectionError("fake", "dropped")], said("¿Perdón?"))
    agent = make_agent(brain)
    assert spoken(await collect(agent.reply("sí"))) == "¿Perdón?"
    assert await AppointmentBook(db, PERSONA).find_for(pet_name="Max", include_past=True) == []
    assert_valid(agent.history)


async def test_a_bug_in_the_brain_still_gets_an_answer(make_agent: MakeAgent) -> None:
    agent = make_agent(FakeBrain(RuntimeError("boom")))
    assert spoken(await collect(agent.reply("hola"))) == FALLBACK_LINES["es"]


async def test_an_empty_answer_is_never_silence(make_agent: MakeAgent) -> None:
    agent = make_agent(FakeBrain(said()), lang="en")
    assert spoken(await collect(agent.reply("hello"))) == FALLBACK_LINES["en"]


# -- prompt and wire conversion ------------------------------------------------------------------


def test_system_prompt_carries_language_date_and_clinic_facts() -> None:
    prompt = build_system_prompt(PERSONA, "es", MONDAY_9AM)
    assert "Speak Spanish only" in prompt
    assert "María" in prompt and "Clínica Veterinaria Happy Paws" in prompt
    assert "2026-11-24 martes 24 de noviembre (tomorrow)" in prompt
    assert "2026-11-29 domingo 29 de noviembre: closed" in prompt
    assert "450 pesos" in prompt and "no markdown" in prompt
    english = build_system_prompt(PERSONA, "en", MONDAY_9AM)
    assert "Speak English only" in english and "Monday, November 23" in english


def test_system_prompt_knows_who_we_called_and_the_call_lists_values() -> None:
    info = CallInfo(
        "c",
        direction="outbound",
        callee="+15551112222",
        name="Ana",
        variables={"mascota": "Max", "motivo": "vacuna anual"},
    )
    prompt = build_system_prompt(PERSONA, "es", MONDAY_9AM, info)
    assert "You placed this call to Ana (+15551112222)" in prompt
    assert "- mascota: Max" in prompt and "- motivo: vacuna anual" in prompt
    inbound = build_system_prompt(PERSONA, "es", MONDAY_9AM, CallInfo("c", caller="+1555"))
    assert "You placed this call" not in inbound and "- mascota:" not in inbound


async def test_an_outbound_greeting_names_the_callee_and_does_not_thank_them() -> None:
    info = CallInfo("c", direction="outbound", callee="+15551112222", name="Ana", language="es")
    agent = LlmAgent(PERSONA, None, info, FakeBrain(), now=lambda: MONDAY_9AM)  # type: ignore[arg-type]
    greeting = spoken(await collect(agent.greeting()))
    assert "Ana" in greeting and "gracias por llamar" not in greeting


def sample_history() -> list[Message]:
    call = ToolCall("t1", "clinic_info", {"topic": "hours"})
    return [
        Message.assistant("Hola."),
        Message.user("¿horario?"),
        Message("assistant", "Un momento.", [call]),
        Message("tool", results=[ToolResult("t1", "clinic_info", '{"ok": true}')]),
        Message.assistant(""),  # a reply the caller never heard
        Message.user("¿me oye?"),
    ]


def test_anthropic_conversion_starts_with_the_user_and_merges_turns() -> None:
    converted = to_anthropic_messages(sample_history())
    assert [m["role"] for m in converted] == ["user", "assistant", "user", "assistant", "user"]
    assert converted[0]["content"] == [{"type": "text", "text": CALL_CONNECTED}]
    assert converted[3]["content"] == [
        {"type": "text", "text": "Un momento."},
        {"type": "tool_use", "id": "t1", "name": "clinic_info", "input": {"topic": "hours"}},
    ]
    assert converted[4]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": '{"ok": true}', "is_error": False},
        {"type": "text", "text": "¿me oye?"},
    ]


def test_openai_conversion_uses_tool_messages() -> None:
    converted = to_openai_messages(sample_history())
    assert converted == [
        {"role": "assistant", "content": "Hola."},
        {"role": "user", "content": "¿horario?"},
        {
            "role": "assistant",
            "content": "Un momento.",
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "clinic_info", "arguments": '{"topic": "hours"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": '{"ok": true}'},
        {"role": "user", "content": "¿me oye?"},
    ]


# -- speculation -------------------------------------------------------------------------------


async def test_a_prefetch_with_the_same_words_is_used_and_saves_the_wait(
    make_agent: MakeAgent,
) -> None:
    brain = FakeBrain(
        [0.2, TextDelta("Claro, "), TextDelta("¿para qué mascota?"), Stop("end_turn")]
    )
    agent = make_agent(brain)
    await collect(agent.greeting())
    agent.prefetch("quiero una cita")
    await asyncio.sleep(0.25)  # the caller's end-of-turn silence: the model answers meanwhile
    started = time.perf_counter()
    actions = await collect(agent.reply("Quiero una cita."))  # the final adds punctuation
    assert (time.perf_counter() - started) < 0.1
    assert spoken(actions) == "Claro, ¿para qué mascota?"
    assert len(brain.requests) == 1 and agent.speculation_hits == 1
    assert agent.last_reply_speculative
    assert [m.text for m in agent.history][-2:] == ["Quiero una cita.", "Claro, ¿para qué mascota?"]


async def test_a_prefetch_on_other_words_is_thrown_away(make_agent: MakeAgent) -> None:
    brain = FakeBrain(said("Claro, una cita."), said("Buenos días, cancelo su cita."))
    agent = make_agent(brain)
    await collect(agent.greeting())
    agent.prefetch("quiero una cita")
    await asyncio.sleep(0.05)
    actions = await collect(agent.reply("quiero cancelar una cita"))
    assert spoken(actions) == "Buenos días, cancelo su cita."
    assert agent.speculation_misses == 1 and not agent.last_reply_speculative
    # The real request was made on the final words.
    assert brain.requests[-1][1][-1].text == "quiero cancelar una cita"


async def test_a_failed_prefetch_falls_back_to_a_fresh_request(make_agent: MakeAgent) -> None:
    brain = FakeBrain(ProviderConnectionError("fake", "dropped"), said("Aquí estoy."))
    agent = make_agent(brain)
    await collect(agent.greeting())
    agent.prefetch("hola")
    await asyncio.sleep(0.05)
    assert spoken(await collect(agent.reply("hola"))) == "Aquí estoy."
    assert agent.fallbacks == 0


# -- fallback between models ---------------------------------------------------------------------


async def test_the_next_model_answers_when_the_first_is_down(make_agent: MakeAgent) -> None:
    from voxagent.providers.fallback import ProviderChain
    from voxagent.providers.llm.fallback import FallbackBrain

    claude = FakeBrain(ProviderQuotaError("anthropic", "529 overloaded"))
    claude.name = "anthropic"
    local = FakeBrain(said("Hola, ¿en qué le ayudo?"), said("Con gusto."))
    local.name = "openai"
    switches: list[tuple[str, ...]] = []
    chain = ProviderChain("llm", [claude, local], on_switch=lambda *a: switches.append(a))
    agent = make_agent(FallbackBrain(chain))  # type: ignore[arg-type]
    assert agent.provider_name == "anthropic"
    assert spoken(await collect(agent.reply("hola"))) == "Hola, ¿en qué le ayudo?"
    assert agent.provider_name == "openai" and [s[:3] for s in switches] == [
        ("llm", "anthropic", "openai")
    ]
    assert spoken(await collect(agent.reply("gracias"))) == "Con gusto."
    assert len(claude.requests) == 1 and agent.fallbacks == 0


async def test_the_last_model_is_kept_after_a_failure(make_agent: MakeAgent) -> None:
    from voxagent.providers.fallback import ProviderChain
    from voxagent.providers.llm.fallback import FallbackBrain

    only = FakeBrain(
        ProviderQuotaError("anthropic", "429"),
        ProviderQuotaError("anthropic", "429"),
        said("Ya estoy de vuelta."),
    )
    agent = make_agent(FallbackBrain(ProviderChain("llm", [only])))  # type: ignore[list-item]
    assert spoken(await collect(agent.reply("hola"))) == FALLBACK_LINES["es"]
    assert spoken(await collect(agent.reply("hola"))) == "Ya estoy de vuelta."
