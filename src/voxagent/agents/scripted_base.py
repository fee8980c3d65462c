"""What the receptionist's parts share: the script's lines and steps, the turn records, and
the state and words every part uses.

:class:`~voxagent.agents.scripted.ScriptedReceptionist` is assembled from one mixin per
concern (the dialogue core in ``scripted``, booking in ``scripted_booking``, cancelling in
``scripted_cancel``). Each mixin derives from :class:`ScriptedBase`, which declares the state
``ScriptedReceptionist.__init__`` sets up and the one method a flow calls back on the core, so
that every part reads, and type-checks, on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from voxagent.agents.base import EndCall, Transfer
from voxagent.agents.persona import Persona
from voxagent.agents.tools import ClinicTools
from voxagent.agents.understanding import Intent
from voxagent.calls.info import CallInfo

__all__ = [
    "CONFIRM_STEPS",
    "SCRIPT_LINES",
    "ScriptedBase",
    "Step",
]

# Every line this script speaks; checked against the persona when the agent is built.
SCRIPT_LINES = (
    "greeting", "help_prompt", "help_options", "what_else", "anything_else", "not_understood",
    "just_to_be_sure", "yes_or_no", "offer_transfer", "offer_transfer_now", "transfer",
    "transfer_declined", "goodbye", "book_start", "ask_pet_name", "ask_reason",
    "reason_examples", "ask_day_time", "day_time_example", "ask_time", "ask_day",
    "confirm_booking", "booked", "closed_day", "closed_time", "past_time", "slot_taken",
    "offer_slot", "offer_slots", "no_slots", "what_to_change", "booking_dropped",
    "booking_failed", "cancel_ask_pet", "cancel_confirm", "cancel_done", "cancel_kept",
    "cancel_not_found", "hours_on_day", "address", "emergency",
)  # fmt: skip


class Step(StrEnum):
    """The question the caller is currently answering."""

    START = "start"  # "How can I help you?"
    PET = "pet"
    REASON = "reason"
    WHEN = "when"
    CONFIRM = "confirm"  # read-back of a free slot: "Shall I book it?"
    OFFER = "offer"  # alternative slot(s) after a closed/taken one
    CHANGE = "change"  # "What would you like to change?"
    CANCEL_PET = "cancel_pet"
    CANCEL_CONFIRM = "cancel_confirm"
    ANYTHING_ELSE = "anything_else"
    TRANSFER_OFFER = "transfer_offer"


# Yes/no questions whose "yes" triggers an action, so it must have been heard.
CONFIRM_STEPS = frozenset({Step.CONFIRM, Step.OFFER, Step.CANCEL_CONFIRM, Step.TRANSFER_OFFER})


@dataclass(slots=True)
class _Draft:
    """The booking being put together."""

    pet: str | None = None
    service: str | None = None
    reason: str | None = None
    day: date | None = None
    time: time | None = None


@dataclass(slots=True)
class _Heard:
    """One caller turn, read once."""

    text: str
    intents: frozenset[Intent]
    service: str | None
    day: date | None
    time: time | None


@dataclass(slots=True)
class _Reply:
    parts: list[str] = field(default_factory=list)
    action: EndCall | Transfer | None = None

    def say(self, text: str) -> None:
        if text:
            self.parts.append(text)


class ScriptedBase:
    """The state every part uses (set by ``ScriptedReceptionist.__init__``) and the words
    helpers they share."""

    persona: Persona
    tools: ClinicTools
    info: CallInfo
    lang: str
    _now: Callable[[], datetime]
    _step: Step
    _draft: _Draft
    _proposed: datetime | None
    _offers: list[datetime]
    _cancel_target: dict[str, Any] | None
    _fallback_day: date | None
    _asked_price_of: str | None
    _resume: tuple[Step, str] | None
    _question: str
    _failures: int
    _unheard: bool
    _ended: bool
    _service_words: tuple[str, ...]

    if TYPE_CHECKING:
        # The seam: what a flow calls back on the dialogue core (scripted.ScriptedReceptionist).
        def _offer_transfer(self, out: _Reply, key: str) -> None: ...

    # -- words ------------------------------------------------------------------------------------

    def _ask(self, out: _Reply, step: Step, key: str, **values: object) -> None:
        """Say a question and remember it as the one the caller is now answering."""
        self._step = step
        self._question = self._line(key, **values)
        out.say(self._question)

    def _line(self, key: str, **values: object) -> str:
        return self.persona.line(key, self.lang, **values)

    def _today(self) -> date:
        return self.persona.local(self._now()).date()

    def _plain(self, moment: datetime, time_only: bool) -> str:
        local = self.persona.local(moment)
        if time_only:
            return self.persona.format_time(local.time(), self.lang)
        return self.persona.format_when(moment, self.lang)

    def _at(self, moment: datetime) -> str:
        """The time as the object of "shall I book …": "10:30 AM" / "a las 10:30 …"."""
        local = self.persona.local(moment)
        clock = self.persona.format_time(local.time(), self.lang)
        if self.lang == "es":
            return f"{'a la' if local.hour % 12 == 1 else 'a las'} {clock}"
        return clock

    def _on(self, moment: datetime) -> str:
        when = self.persona.format_when(moment, self.lang)
        return f"el {when}" if self.lang == "es" else when
