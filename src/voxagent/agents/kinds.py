"""Persona kinds: which agent a persona file is for, and how one call's agent is built.

A persona file declares its kind (``[persona] kind``): ``clinic`` for María (the default) or
``concierge`` for Sandra. Each kind knows how to read and validate its file (with every line
its scripted agent and the engine will say, so a missing one fails at start-up, naming it),
and opens a :class:`Desk`: the persona with what its calls share (the appointment book, the
apartments). A desk builds each call's agent: the scripted one, or an LLM agent with its own
tools and prompt, backed by the scripted one when ``LLM_PROVIDER`` ends with ``scripted``.

The call factory only asks this module; adding a kind is adding one entry to :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from voxagent.agents.base import Agent
from voxagent.agents.concierge_base import CONCIERGE_SCRIPT_LINES
from voxagent.agents.concierge_persona import (
    CONCIERGE,
    CONCIERGE_CORE_LINES,
    ConciergePersona,
    parse_concierge,
)
from voxagent.agents.concierge_scripted import ScriptedConcierge
from voxagent.agents.concierge_tools import ConciergeTools
from voxagent.agents.persona import (
    CLINIC,
    CORE_LINES,
    ENGINE_LINES,
    Persona,
    PersonaError,
    PersonaFile,
    parse_clinic,
    read_persona_file,
)
from voxagent.agents.persona_base import BasePersona
from voxagent.agents.scripted import ScriptedReceptionist
from voxagent.agents.scripted_base import SCRIPT_LINES
from voxagent.agents.toolkit import ToolObserver
from voxagent.agents.tools import ClinicTools
from voxagent.calls.info import CallInfo
from voxagent.providers.fallback import SwitchCallback
from voxagent.providers.llm.base import Brain
from voxagent.state.apartments import ApartmentBook
from voxagent.state.appointments import AppointmentBook
from voxagent.state.database import Database, utc_now

if TYPE_CHECKING:
    from voxagent.agents.llm import LlmAgent

__all__ = [
    "KINDS",
    "AgentOptions",
    "ClinicDesk",
    "ConciergeDesk",
    "Desk",
    "PersonaKind",
    "load_any_persona",
    "open_desk",
]


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """How one call's agent is built, whatever the persona's kind."""

    brain: Brain | None = None
    """The call's walk through the model chain; None for the scripted agent alone."""
    backup: bool = False
    """The scripted agent answers the rest of the call once every model failed a turn."""
    max_history: int = 50
    on_tool: ToolObserver | None = None
    """Told about every tool the agent runs (see :mod:`voxagent.agents.toolkit`)."""
    on_switch: SwitchCallback | None = None


class Desk(Protocol):
    """One persona, loaded, with what its calls share; builds each call's agent."""

    @property
    def persona(self) -> BasePersona: ...

    def agent(self, info: CallInfo, options: AgentOptions) -> Agent: ...


class ClinicDesk:
    """María's: the clinic persona and its appointment book."""

    def __init__(self, persona: Persona, db: Database) -> None:
        self.persona = persona
        self.book = AppointmentBook(db, persona)

    def agent(self, info: CallInfo, options: AgentOptions) -> Agent:
        scripted = ScriptedReceptionist(
            self.persona, ClinicTools(self.book, info, on_tool=options.on_tool), info
        )
        if options.brain is None:
            return scripted
        from voxagent.agents.llm import LlmAgent

        llm = LlmAgent(
            self.persona,
            ClinicTools(self.book, info, on_tool=options.on_tool),
            info,
            options.brain,
            max_history=options.max_history,
        )
        return _with_backup(llm, scripted, options)


class ConciergeDesk:
    """Sandra's: the concierge persona and the apartments (seeded from her file)."""

    def __init__(
        self,
        persona: ConciergePersona,
        db: Database,
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.persona = persona
        self.book = ApartmentBook(
            db,
            persona.apartments,
            today=lambda: persona.local(now()).date(),
            max_nights=persona.max_nights,
        )

    def agent(self, info: CallInfo, options: AgentOptions) -> Agent:
        persona = self.persona
        scripted = ScriptedConcierge(
            persona, ConciergeTools(self.book, persona, info, on_tool=options.on_tool), info
        )
        if options.brain is None:
            return scripted
        from voxagent.agents.concierge_prompt import build_concierge_prompt
        from voxagent.agents.llm import LlmAgent

        llm = LlmAgent(
            persona,
            ConciergeTools(self.book, persona, info, on_tool=options.on_tool),
            info,
            options.brain,
            prompt=lambda lang, now, call: build_concierge_prompt(persona, lang, now, call),
            max_history=options.max_history,
        )
        return _with_backup(llm, scripted, options)


def _with_backup(llm: LlmAgent, scripted: Agent, options: AgentOptions) -> Agent:
    if not options.backup:
        return llm
    from voxagent.agents.backup import AgentWithBackup

    return AgentWithBackup(llm, scripted, on_switch=options.on_switch)


@dataclass(frozen=True, slots=True)
class PersonaKind:
    """How personas of one kind are read, validated and put to work."""

    name: str
    parse: Callable[[PersonaFile], BasePersona]
    desk: Callable[[PersonaFile, Database], Desk]


def _parse_clinic(file: PersonaFile) -> Persona:
    return parse_clinic(file, (*CORE_LINES, *ENGINE_LINES, *SCRIPT_LINES))


def _parse_concierge(file: PersonaFile) -> ConciergePersona:
    return parse_concierge(
        file, (*CONCIERGE_CORE_LINES, *ENGINE_LINES, *CONCIERGE_SCRIPT_LINES, "transfer")
    )


KINDS: dict[str, PersonaKind] = {
    CLINIC: PersonaKind(
        CLINIC, _parse_clinic, lambda file, db: ClinicDesk(_parse_clinic(file), db)
    ),
    CONCIERGE: PersonaKind(
        CONCIERGE, _parse_concierge, lambda file, db: ConciergeDesk(_parse_concierge(file), db)
    ),
}


def _kind_of(file: PersonaFile) -> PersonaKind:
    kind = KINDS.get(file.kind)
    if kind is None:
        raise PersonaError(
            f"persona {file.source}: 'persona.kind' is {file.kind!r}; use one of {', '.join(KINDS)}"
        )
    return kind


def load_any_persona(name_or_path: str) -> BasePersona:
    """A persona of any kind, by packaged name or path, validated for its kind's agents."""
    file = read_persona_file(name_or_path)
    return _kind_of(file).parse(file)


def open_desk(name_or_path: str, db: Database) -> Desk:
    """The desk of a persona of any kind, by packaged name or path (validated)."""
    file = read_persona_file(name_or_path)
    return _kind_of(file).desk(file, db)
