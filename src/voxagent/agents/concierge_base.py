"""What the scripted concierge's parts share: her lines and steps, the turn record, and the
state and words every part uses.

:class:`~voxagent.agents.concierge_scripted.ScriptedConcierge` is assembled like María's
receptionist: the dialogue core (``concierge_scripted``) and the booking flow
(``concierge_booking``) are mixins over :class:`ConciergeBase`, which declares the state the
core sets up and the seam a flow calls back on, so each part reads and type-checks alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from voxagent.agents.concierge_persona import ConciergePersona
from voxagent.agents.concierge_tools import ConciergeTools
from voxagent.agents.persona_base import capitalize
from voxagent.agents.scripted_base import _Reply
from voxagent.agents.understanding import Intent
from voxagent.agents.understanding_concierge import Topic
from voxagent.agents.understanding_stays import HeardStay
from voxagent.calls.info import CallInfo

__all__ = [
    "ACTION_STEPS",
    "CONCIERGE_SCRIPT_LINES",
    "YES_NO_STEPS",
    "ConciergeBase",
    "Step",
]

# Every line this script speaks; checked when the persona is loaded for a concierge.
CONCIERGE_SCRIPT_LINES = (
    "greeting", "help_prompt", "help_options", "what_else", "anything_else", "not_understood",
    "just_to_be_sure", "yes_or_no", "offer_transfer", "offer_transfer_now", "transfer",
    "transfer_declined", "goodbye", "book_start", "ask_dates", "dates_example", "ask_nights",
    "nights_example", "ask_guests", "guests_example", "apartment_option", "offer_one",
    "offer_many", "choice_example", "none_free", "offer_dates", "no_dates", "too_many_guests",
    "stay_too_long", "too_far", "past_dates", "bad_dates", "ask_name", "name_example",
    "confirm_booking", "booked", "taken_meanwhile", "what_to_change", "booking_dropped",
    "booking_failed", "cancel_ask_name", "cancel_confirm", "cancel_done", "cancel_kept",
    "cancel_not_found", "info_check_in", "info_check_out", "info_wifi", "info_parking",
    "info_airport", "info_train", "info_address", "info_tips", "info_apartments",
    "apartment_item",
)  # fmt: skip


class Step(StrEnum):
    """The question the guest is currently answering."""

    START = "start"  # "How can I help you?"
    DATES = "dates"
    NIGHTS = "nights"
    GUESTS = "guests"
    CHOOSE = "choose"  # the free apartments were offered: "Which one would you like?"
    ALTERNATIVES = "alternatives"  # nothing free: "The nearest free dates are …"
    NAME = "name"
    CONFIRM = "confirm"  # the read-back: "Shall I book it?"
    CHANGE = "change"  # "What would you like to change?"
    CANCEL_NAME = "cancel_name"
    CANCEL_CONFIRM = "cancel_confirm"
    ANYTHING_ELSE = "anything_else"
    TRANSFER_OFFER = "transfer_offer"


# Yes/no questions whose "yes" does something, so it must have been heard.
ACTION_STEPS = frozenset({Step.CONFIRM, Step.CANCEL_CONFIRM, Step.TRANSFER_OFFER})
# Questions a "yes" or a "no" answers (only "no, that's all" ends the call there).
YES_NO_STEPS = ACTION_STEPS | {Step.CHOOSE, Step.ALTERNATIVES}


@dataclass(slots=True)
class _Stay:
    """The reservation being put together."""

    check_in: date | None = None
    check_out: date | None = None
    nights: int | None = None  # said before the day of arrival was
    guests: int | None = None
    apartment: dict[str, Any] | None = None  # the chosen offer, as check_availability gave it
    name: str | None = None


@dataclass(slots=True)
class _Heard:
    """One guest turn, read once."""

    text: str
    intents: frozenset[Intent]
    topics: frozenset[Topic]
    stay: HeardStay
    guests: int | None


class ConciergeBase:
    """The state every part uses (set by ``ScriptedConcierge.__init__``) and shared words."""

    persona: ConciergePersona
    tools: ConciergeTools
    info: CallInfo
    lang: str
    _now: Callable[[], datetime]
    _step: Step
    _draft: _Stay
    _offers: list[dict[str, Any]]
    _alternatives: list[dict[str, Any]]
    _cancel_target: dict[str, Any] | None
    _resume: tuple[Step, str] | None
    _question: str
    _failures: int
    _unheard: bool
    _ended: bool

    if TYPE_CHECKING:
        # The seam: what a flow calls back on the dialogue core.
        def _offer_transfer(self, out: _Reply, key: str) -> None: ...

    def _ask(self, out: _Reply, step: Step, key: str, **values: object) -> None:
        """Say a question and remember it as the one the guest is now answering."""
        self._step = step
        self._question = capitalize(self._line(key, **values))
        out.say(self._question)

    def _line(self, key: str, **values: object) -> str:
        return self.persona.line(key, self.lang, **values)

    def _today(self) -> date:
        return self.persona.local(self._now()).date()

    def _stay_text(self, check_in: date, check_out: date) -> str:
        return self.persona.stay_text(check_in, check_out, self.lang)

    def _stay_of(self, item: dict[str, Any]) -> str:
        """The stay of an offer or a reservation (ISO dates) in words."""
        return self._stay_text(
            date.fromisoformat(str(item["check_in"])), date.fromisoformat(str(item["check_out"]))
        )

    def _guests_text(self, count: int) -> str:
        return self.persona.guests_text(count, self.lang)

    def _price(self, amount: int) -> str:
        return self.persona.format_price(amount, self.lang)

    def _option(self, offer: dict[str, Any]) -> str:
        return self._line(
            "apartment_option",
            name=offer["name"],
            neighbourhood=offer["neighbourhood"],
            price=self._price(int(offer["price_per_night"])),
        )
