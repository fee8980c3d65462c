"""María, the offline receptionist: a slot-filling dialogue driven by keywords, not a model.

It must work behind PocketSphinx, whose transcripts are lowercase, unpunctuated and often
wrong, so every turn is read loosely (see :mod:`understanding`) and every action is confirmed
first: the agent reads a booking back and acts only on a clear "yes". When it does not
understand it says so and asks again, with an example the second time, and offers a person
the third time. All words come from the persona, so the same script speaks English or Spanish.

The dialogue is a small state machine. ``_step`` is the question the caller is answering;
clinic questions (hours, address, prices, emergencies), a request for a person, or goodbye
are honoured at any step, after which the pending question is asked again.

Layout: :class:`ScriptedReceptionist` (here: the dialogue core, its steps, clinic questions,
transfers and what happens when a turn is not understood) is assembled from mixins over the
shared state and words of ``scripted_base``: ``scripted_booking`` (the booking flow) and
``scripted_cancel`` (the cancel flow).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from datetime import date, datetime
from typing import Any

from voxagent.agents.base import AgentAction, Say
from voxagent.agents.persona import LANGUAGES, Persona, PersonaError
from voxagent.agents.prompt import greeting_for_call
from voxagent.agents.scripted_base import (
    CONFIRM_STEPS,
    SCRIPT_LINES,
    ScriptedBase,
    Step,
    _Draft,
    _Heard,
    _Reply,
)
from voxagent.agents.scripted_booking import BookingFlow
from voxagent.agents.scripted_cancel import CancelFlow
from voxagent.agents.scripted_control import CallControl
from voxagent.agents.tools import ClinicTools
from voxagent.agents.understanding import (
    INFO_INTENTS,
    Intent,
    detect_intents,
    extract_pet_name,
    is_filler,
    match_service,
    parse_day,
    parse_time,
    tokenize,
)
from voxagent.calls.info import CallInfo
from voxagent.state.database import utc_now

__all__ = ["ScriptedReceptionist"]


class ScriptedReceptionist(BookingFlow, CancelFlow, ScriptedBase, CallControl[Step]):
    """The Agent for one call: greets, answers clinic questions, books and cancels."""

    _opening_step = Step.START
    _anything_else_step = Step.ANYTHING_ELSE
    _transfer_step = Step.TRANSFER_OFFER

    def __init__(
        self,
        persona: Persona,
        tools: ClinicTools,
        info: CallInfo,
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        missing = persona.missing_lines(SCRIPT_LINES)
        if missing:
            raise PersonaError(
                f"persona {persona.key!r} lacks lines the receptionist needs: {', '.join(missing)}"
            )
        self.persona = persona
        self.tools = tools
        self.info = info
        self.lang = info.language if info.language in LANGUAGES else "en"
        self._now = now
        self._step = Step.START
        self._draft = _Draft()
        self._proposed: datetime | None = None
        self._offers: list[datetime] = []
        self._cancel_target: dict[str, Any] | None = None
        self._fallback_day: date | None = None  # the day kept while only the time changes
        self._asked_price_of: str | None = None  # "how much is grooming?" … "book it"
        self._resume: tuple[Step, str] | None = None
        self._question = self._line("help_prompt")
        self._failures = 0
        self._unheard = False
        self._ended = False
        self._service_words = tuple(
            word for words in persona.service_keywords(self.lang).values() for word in words
        )

    @property
    def step(self) -> Step:
        return self._step

    # -- Agent protocol ---------------------------------------------------------------------------

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
        """Remember whether the pending question itself reached the caller."""
        question = " ".join(tokenize(self._question))
        self._unheard = bool(question) and question not in " ".join(tokenize(heard_text))

    # -- one turn ---------------------------------------------------------------------------------

    async def _respond(self, transcript: str, out: _Reply) -> None:
        unheard, self._unheard = self._unheard, False
        if is_filler(transcript):
            self._not_understood(out)
            return
        heard = self._read(transcript)
        intents = heard.intents

        if Intent.HUMAN in intents and not (
            self._step is Step.TRANSFER_OFFER and Intent.NO in intents
        ):
            await self._transfer(out)
            return
        if Intent.EMERGENCY in intents:
            out.say(self._line("emergency"))
            self._offer_transfer(out, "offer_transfer_now")
            return
        if unheard and self._step in CONFIRM_STEPS and Intent.YES in intents:
            # A "yes" to a question the caller never heard is not consent: ask again.
            out.say(self._line("just_to_be_sure"))
            out.say(self._question)
            return
        if (
            Intent.GOODBYE in intents
            # at a yes/no question only "no, that's all" ends the call; "yes, that's it" books
            and (
                self._step not in CONFIRM_STEPS or intents & {Intent.NO, Intent.YES} == {Intent.NO}
            )
            and not intents & {Intent.BOOK, Intent.CANCEL, *INFO_INTENTS}
        ):
            self._goodbye(out)
            return

        info = intents & INFO_INTENTS
        if info:
            self._answer_info(heard, out)
            if not intents & {Intent.YES, Intent.NO, Intent.BOOK, Intent.CANCEL}:
                self._failures = 0
                self._reask_after_info(out)
                return

        handled = await self._by_step(heard, out)
        if handled:
            self._failures = 0
            if Intent.GOODBYE in intents and self._step is Step.ANYTHING_ELSE:
                self._goodbye(out)  # "yes please, that's all": booked, then done
        elif info:
            self._reask_after_info(out)
        else:
            self._not_understood(out)

    def _read(self, transcript: str) -> _Heard:
        expect_time = self._step in (Step.WHEN, Step.OFFER, Step.CHANGE, Step.CONFIRM)
        spoken = parse_time(transcript, self.lang, expecting=expect_time)
        return _Heard(
            text=transcript,
            intents=detect_intents(transcript, self.lang),
            service=match_service(transcript, self.persona.service_keywords(self.lang)),
            day=parse_day(transcript, self._today(), self.lang),
            time=spoken.resolve() if spoken else None,
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
        if step is Step.CANCEL_PET:
            return await self._cancel_lookup(heard, out, expecting=True)
        if step is Step.CANCEL_CONFIRM:
            return await self._cancel_answer(heard, out)
        if Intent.STOP in intents or (Intent.CANCEL in intents and step in CONFIRM_STEPS):
            self._drop_booking(out)
            return True
        if Intent.CANCEL in intents:
            self._draft = _Draft()
            return await self._cancel_lookup(heard, out, expecting=False)
        if step is Step.CONFIRM:
            return await self._confirm_answer(heard, out)
        if step is Step.OFFER:
            return await self._offer_answer(heard, out)
        if step is Step.CHANGE:
            return await self._change_answer(heard, out)
        # PET, REASON, WHEN: fill what was given, then ask for what is missing.
        if self._absorb(heard, expecting=step) or (
            step is Step.WHEN and await self._earliest(heard, out)
        ):
            if self._step is step:  # _earliest may already have moved on
                await self._advance(out)
            return True
        return False

    # -- open questions ---------------------------------------------------------------------------

    async def _open_question(self, heard: _Heard, out: _Reply) -> bool:
        intents = heard.intents
        if Intent.CANCEL in intents:
            return await self._cancel_lookup(heard, out, expecting=False)
        explicit_pet = extract_pet_name(heard.text, self.lang, exclude=self._service_words)
        if Intent.BOOK in intents or heard.service or explicit_pet:
            self._draft = _Draft()
            self._fallback_day = None
            self._absorb(heard, expecting=None)
            if self._draft.service is None and self._asked_price_of:
                self._draft.service = self._draft.reason = self._asked_price_of
            if self._draft.pet is None:
                out.say(self._line("book_start"))
            if not await self._earliest(heard, out):
                await self._advance(out)
            return True
        if (
            self._step is Step.ANYTHING_ELSE
            and intents & {Intent.NO, Intent.THANKS}
            and not intents & INFO_INTENTS  # "no, but where are you?" is not goodbye
        ):
            self._goodbye(out)
            return True
        if Intent.YES in intents:
            self._ask(out, Step.START, "what_else")
            return True
        return False

    def _answer_info(self, heard: _Heard, out: _Reply) -> None:
        persona, lang = self.persona, self.lang
        if Intent.HOURS in heard.intents:
            if heard.day is not None:
                ranges = persona.hours_on(heard.day, lang)
                day = persona.format_day(heard.day, lang)
                if ranges:
                    out.say(self._line("hours_on_day", day=day, ranges=ranges))
                else:
                    out.say(self._line("closed_day", day=day))
            else:
                out.say(persona.hours_summary(lang))
        if Intent.ADDRESS in heard.intents:
            out.say(self._line("address"))
        if Intent.PRICES in heard.intents:
            out.say(persona.price_text(lang, heard.service))
            self._asked_price_of = heard.service

    def _reask_after_info(self, out: _Reply) -> None:
        if self._step in (Step.START, Step.ANYTHING_ELSE):
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
        else:
            out.say(self._question)

    # -- recovery ---------------------------------------------------------------------------------

    def _hint(self) -> str:
        if self._step is Step.REASON:
            labels = [s.label(self.lang) for s in self.persona.services.values()][:4]
            return self._line(
                "reason_examples", examples=self.persona.join(labels, self.lang, "or")
            )
        if self._step is Step.WHEN:
            return self._line("day_time_example")
        if self._step in CONFIRM_STEPS:
            return self._line("yes_or_no")
        return ""
