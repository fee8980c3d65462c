"""Sandra, the offline concierge: a slot-filling dialogue driven by keywords, not a model.

Like María's receptionist (:mod:`voxagent.agents.scripted`), it must work behind PocketSphinx,
whose transcripts are lowercase, unpunctuated and often wrong: every turn is read loosely
(:mod:`understanding_stays`, :mod:`understanding_concierge`), a booking is read back and made
only on a clear "yes", a turn not understood is asked again (with an example the second time),
and a person is offered the third time. All words come from the persona, so the same script
speaks Spanish or English.

Questions guests ask (check-in, Wi-Fi, parking, getting here, tips, prices) are answered at
any step, after which the pending question is asked again; so are a request for a person and
goodbye. Every lookup and booking goes through the concierge's tools, so a tool observer sees
what the script did exactly as it would see a model's tool calls.

Layout: the dialogue core, the open question, information, cancelling and recovery are here;
the booking flow is :mod:`concierge_booking`; state and words are :mod:`concierge_base`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Any

from voxagent.agents.base import AgentAction, Say
from voxagent.agents.concierge_base import (
    ACTION_STEPS,
    CONCIERGE_SCRIPT_LINES,
    YES_NO_STEPS,
    Step,
    _Heard,
    _Stay,
)
from voxagent.agents.concierge_booking import ConciergeBookingFlow
from voxagent.agents.concierge_persona import ConciergePersona
from voxagent.agents.concierge_tools import ConciergeTools
from voxagent.agents.persona_base import LANGUAGES, PersonaError
from voxagent.agents.prompt import greeting_for_call
from voxagent.agents.scripted_base import _Reply
from voxagent.agents.scripted_control import CallControl
from voxagent.agents.understanding import Intent, is_filler, tokenize
from voxagent.agents.understanding_concierge import (
    Topic,
    concierge_intents,
    detect_topics,
    extract_guest_name,
)
from voxagent.agents.understanding_stays import parse_guests, parse_stay
from voxagent.calls.info import CallInfo
from voxagent.state.database import utc_now

__all__ = ["ScriptedConcierge"]

# The order questions are answered in when a turn asks several.
_INFO_ORDER = (
    Topic.CHECK_IN, Topic.CHECK_OUT, Topic.WIFI, Topic.PARKING, Topic.AIRPORT, Topic.TRAIN,
    Topic.ADDRESS, Topic.TIPS, Topic.APARTMENTS,
)  # fmt: skip


class ScriptedConcierge(ConciergeBookingFlow, CallControl[Step]):
    """The Agent for one call: greets, answers guests' questions, books and cancels."""

    _opening_step = Step.START
    _anything_else_step = Step.ANYTHING_ELSE
    _transfer_step = Step.TRANSFER_OFFER

    def __init__(
        self,
        persona: ConciergePersona,
        tools: ConciergeTools,
        info: CallInfo,
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        missing = persona.missing_lines(CONCIERGE_SCRIPT_LINES)
        if missing:
            raise PersonaError(
                f"persona {persona.key!r} lacks lines the concierge needs: {', '.join(missing)}"
            )
        self.persona = persona
        self.tools = tools
        self.info = info
        self.lang = info.language if info.language in LANGUAGES else "en"
        self._now = now
        self._step = Step.START
        self._draft = _Stay()
        self._offers: list[dict[str, Any]] = []
        self._alternatives: list[dict[str, Any]] = []
        self._cancel_target: dict[str, Any] | None = None
        self._resume: tuple[Step, str] | None = None
        self._question = self._line("help_prompt")
        self._failures = 0
        self._unheard = False
        self._ended = False

    @property
    def step(self) -> Step:
        return self._step

    # -- Agent protocol -------------------------------------------------------------------------

    provider_name = "scripted"
    can_prefetch = False
    last_reply_speculative = False

    def prefetch(self, transcript: str) -> None:
        """Nothing to gain: a scripted reply takes microseconds."""

    async def greeting(self) -> AsyncGenerator[AgentAction, None]:
        self._question = self._line("help_prompt")
        yield Say(greeting_for_call(self.persona, self._now(), self.lang, self.info))

    async def reply(self, transcript: str) -> AsyncGenerator[AgentAction, None]:
        if self._ended:
            return
        out = _Reply()
        await self._respond(transcript, out)
        if out.parts:
            yield Say(" ".join(out.parts))
        if out.action is not None:
            yield out.action

    def interrupted(self, heard_text: str) -> None:
        """Remember whether the pending question itself reached the guest."""
        question = " ".join(tokenize(self._question))
        self._unheard = bool(question) and question not in " ".join(tokenize(heard_text))

    # -- one turn -------------------------------------------------------------------------------

    async def _respond(self, transcript: str, out: _Reply) -> None:
        unheard, self._unheard = self._unheard, False
        if is_filler(transcript):
            self._not_understood(out)
            return
        heard = self._read(transcript)
        intents, topics = heard.intents, heard.topics
        if Intent.HUMAN in intents and not (
            self._step is Step.TRANSFER_OFFER and Intent.NO in intents
        ):
            await self._transfer(out)
            return
        if unheard and self._step in ACTION_STEPS and Intent.YES in intents:
            # A "yes" to a question the guest never heard is not consent: ask again.
            out.say(self._line("just_to_be_sure"))
            out.say(self._question)
            return
        booking = Topic.BOOK in topics
        if (
            Intent.GOODBYE in intents
            and (self._step not in YES_NO_STEPS or intents & {Intent.NO, Intent.YES} == {Intent.NO})
            and not booking
            and Intent.CANCEL not in intents
            and not topics
        ):
            self._goodbye(out)
            return

        questions = topics - {Topic.BOOK}
        if self._step in (Step.CHOOSE, Step.CONFIRM):
            questions -= {Topic.APARTMENTS}  # the prices were just read out
        if questions:
            await self._answer_info(questions, out)
            about_the_stay = booking or not heard.stay.empty or heard.guests is not None
            if not intents & {Intent.YES, Intent.NO, Intent.CANCEL} and not about_the_stay:
                self._failures = 0
                self._reask_after_info(out)
                return

        handled = await self._by_step(heard, out)
        if handled:
            self._failures = 0
            if Intent.GOODBYE in intents and self._step is Step.ANYTHING_ELSE:
                self._goodbye(out)  # "yes please, that's all": booked, then done
        elif questions:
            self._reask_after_info(out)
        else:
            self._not_understood(out)

    def _read(self, transcript: str) -> _Heard:
        stay = parse_stay(
            transcript,
            self._today(),
            self.lang,
            arriving=self._draft.check_in,
            expecting_nights=self._step is Step.NIGHTS,
        )
        guests = parse_guests(transcript, self.lang, expecting=self._step is Step.GUESTS)
        return _Heard(
            text=transcript,
            intents=concierge_intents(transcript, self.lang),
            topics=detect_topics(transcript, self.lang, has_dates=not stay.empty),
            stay=stay,
            guests=guests,
        )

    async def _by_step(self, heard: _Heard, out: _Reply) -> bool:
        step, intents = self._step, heard.intents
        if step in (Step.START, Step.ANYTHING_ELSE):
            return await self._open_question(heard, out)
        if step is Step.TRANSFER_OFFER:
            if Intent.YES in intents:
                await self._transfer(out)
                return True
            if Intent.NO in intents:
                self._decline_transfer(out)
                return True
            return False
        if step is Step.CANCEL_NAME:
            return await self._cancel_lookup(heard, out, expecting=True)
        if step is Step.CANCEL_CONFIRM:
            return await self._cancel_answer(heard, out)
        if Intent.STOP in intents or (Intent.CANCEL in intents and step in YES_NO_STEPS):
            self._drop_booking(out)
            return True
        if Intent.CANCEL in intents:
            self._draft = _Stay()
            return await self._cancel_lookup(heard, out, expecting=False)
        if step is Step.CHOOSE:
            return await self._choose_answer(heard, out)
        if step is Step.ALTERNATIVES:
            return await self._alternatives_answer(heard, out)
        if step is Step.CONFIRM:
            return await self._confirm_answer(heard, out)
        if step is Step.CHANGE:
            return await self._change_answer(heard, out)
        # DATES, NIGHTS, GUESTS, NAME: fill what was given, then ask for what is missing.
        if self._absorb(heard, expecting=step):
            await self._advance(out)
            return True
        return False

    # -- open questions -------------------------------------------------------------------------

    async def _open_question(self, heard: _Heard, out: _Reply) -> bool:
        intents = heard.intents
        if Intent.CANCEL in intents:
            return await self._cancel_lookup(heard, out, expecting=False)
        wants = Topic.BOOK in heard.topics
        if wants or not heard.stay.empty or heard.guests is not None:
            self._draft, self._offers, self._alternatives = _Stay(), [], []
            self._absorb(heard, expecting=None)
            if self._draft.check_in is None:
                out.say(self._line("book_start"))
            await self._advance(out)
            return True
        if (
            self._step is Step.ANYTHING_ELSE
            and intents & {Intent.NO, Intent.THANKS}
            and not heard.topics
        ):
            self._goodbye(out)
            return True
        if Intent.YES in intents:
            self._ask(out, Step.START, "what_else")
            return True
        return False

    async def _answer_info(self, topics: frozenset[Topic], out: _Reply) -> None:
        for topic in _INFO_ORDER:
            if topic in topics:
                result = await self.tools.concierge_info(topic.value)
                out.say(str(result.get("message", "")))

    def _reask_after_info(self, out: _Reply) -> None:
        if self._step in (Step.START, Step.ANYTHING_ELSE):
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
        else:
            out.say(self._question)

    # -- cancelling -----------------------------------------------------------------------------

    async def _cancel_lookup(self, heard: _Heard, out: _Reply, *, expecting: bool) -> bool:
        name = extract_guest_name(heard.text, self.lang, expecting=expecting)
        if not name:
            if expecting:
                return False
            self._ask(out, Step.CANCEL_NAME, "cancel_ask_name")
            return True
        result = await self.tools.find_reservations(name)
        found = list(result.get("reservations") or [])
        if not found:
            out.say(self._line("cancel_not_found", name=name))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        self._cancel_target = found[0]
        self._ask(out, Step.CANCEL_CONFIRM, "cancel_confirm", **self._cancel_values(found[0]))
        return True

    async def _cancel_answer(self, heard: _Heard, out: _Reply) -> bool:
        target = self._cancel_target
        if target is None:
            return False
        if Intent.YES in heard.intents and Intent.NO not in heard.intents:
            result = await self.tools.cancel_reservation(
                str(target["guest_name"]), reservation_id=int(target["id"])
            )
            self._cancel_target = None
            if result.get("ok"):
                out.say(self._line("cancel_done", **self._cancel_values(target)))
            else:
                out.say(self._line("cancel_not_found", name=target["guest_name"]))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        if Intent.NO in heard.intents or Intent.STOP in heard.intents:
            self._cancel_target = None
            out.say(self._line("cancel_kept"))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        return False

    def _cancel_values(self, reservation: dict[str, Any]) -> dict[str, str]:
        return {
            "name": str(reservation["guest_name"]),
            "apartment": str(reservation["apartment"]),
            "stay": self._stay_of(reservation),
        }

    # -- recovery -------------------------------------------------------------------------------

    def _hint(self) -> str:
        hints = {
            Step.DATES: "dates_example",
            Step.NIGHTS: "nights_example",
            Step.GUESTS: "guests_example",
            Step.NAME: "name_example",
            Step.CANCEL_NAME: "name_example",
            Step.CHOOSE: "choice_example",
        }
        if self._step in hints:
            return self._line(hints[self._step])
        if self._step in YES_NO_STEPS:
            return self._line("yes_or_no")
        return ""
