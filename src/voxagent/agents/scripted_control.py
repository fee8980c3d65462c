"""Handing over to a person, saying goodbye, and recovering when the caller is not understood:
the same in both scripted agents (the clinic receptionist and the hotel concierge), so written
once. Each agent has its own ``Step`` enum and names three of its steps here: the opening
question, "anything else?", and "shall I put you through?".
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from voxagent.agents.base import EndCall, Transfer
from voxagent.agents.scripted_base import _Reply

__all__ = ["MAX_FAILURES", "CallControl"]

# After this many misunderstood turns in a row, offer a person instead of asking again.
MAX_FAILURES = 3

StepT = TypeVar("StepT", bound=StrEnum)


class CallControl(Generic[StepT]):
    """Mixed into a scripted agent after its base class, which holds the state."""

    _opening_step: StepT
    _anything_else_step: StepT
    _transfer_step: StepT
    """The agent's own steps for these three questions (class attributes)."""

    # Typed by each agent's base (a clinic or concierge persona and toolbox): mypy wants the
    # same type for an attribute in every base class, so here they are Any.
    persona: Any
    tools: Any
    _step: StepT
    _resume: tuple[StepT, str] | None
    _question: str
    _failures: int
    _ended: bool

    if TYPE_CHECKING:

        def _ask(self, out: _Reply, step: StepT, key: str, **values: object) -> None: ...
        def _line(self, key: str, **values: object) -> str: ...
        def _hint(self) -> str: ...

    async def _transfer(self, out: _Reply) -> None:
        result: dict[str, Any] = await self.tools.transfer_to_human()
        out.say(self._line("transfer"))
        out.action = Transfer(result.get("to") or None)
        self._ended = True

    def _offer_transfer(self, out: _Reply, key: str) -> None:
        if self._step is not self._transfer_step:
            self._resume = (self._step, self._question)
        self._ask(out, self._transfer_step, key)

    def _decline_transfer(self, out: _Reply) -> None:
        """The caller said no to a person: back to the question they were answering."""
        out.say(self._line("transfer_declined"))
        anything_else = (self._anything_else_step, self._line("anything_else"))
        step, question = self._resume or anything_else
        if step in (self._opening_step, self._transfer_step):
            step, question = anything_else
        self._resume = None
        self._step, self._question = step, question
        out.say(question)

    def _goodbye(self, out: _Reply) -> None:
        out.say(self._line("goodbye"))
        out.action = EndCall("completed")
        self._ended = True

    def _not_understood(self, out: _Reply) -> None:
        """Ask again, with a hint from the second miss; after ``MAX_FAILURES`` offer a person
        (or, when even yes/no to that failed, put them through)."""
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            self._failures = 0
            if self._step is self._transfer_step:
                out.action = Transfer(self.persona.phone)
                out.say(self._line("transfer"))
                self._ended = True
                return
            self._offer_transfer(out, "offer_transfer")
            return
        out.say(self._line("not_understood"))
        if self._step is self._opening_step:
            self._question = self._line("help_options")
            out.say(self._question)
            return
        if self._failures >= 2:
            out.say(self._hint())
        out.say(self._question)
