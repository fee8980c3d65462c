"""María, the offline receptionist: a slot-filling dialogue driven by keywords, not a model.

It must work behind PocketSphinx, whose transcripts are lowercase, unpunctuated and often
wrong, so every turn is read loosely (see :mod:`understanding`) and every action is confirmed
first: the agent reads a booking back and acts only on a clear "yes". When it does not
understand it says so and asks again, with an example the second time, and offers a person
the third time. All words come from the persona, so the same script speaks English or Spanish.

The dialogue is a small state machine. ``_step`` is the question the caller is answering;
clinic questions (hours, address, prices, emergencies), a request for a person, or goodbye
are honoured at any step, after which the pending question is asked again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from voxagent.agents.base import AgentAction, EndCall, Say, Transfer
from voxagent.agents.persona import LANGUAGES, Persona, PersonaError
from voxagent.agents.prompt import greeting_for_call
from voxagent.agents.tools import ClinicTools
from voxagent.agents.understanding import (
    INFO_INTENTS,
    Intent,
    change_target,
    detect_intents,
    extract_pet_name,
    is_filler,
    match_service,
    parse_choice,
    parse_day,
    parse_time,
    tokenize,
    wants_earliest,
)
from voxagent.calls.info import CallInfo
from voxagent.state.database import utc_now

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

# After this many misunderstood turns in a row, offer a person instead of asking again.
MAX_FAILURES = 3


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


class ScriptedReceptionist:
    """The Agent for one call: greets, answers clinic questions, books and cancels."""

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

    # -- booking ----------------------------------------------------------------------------------

    def _absorb(self, heard: _Heard, *, expecting: Step | None) -> bool:
        """Copy whatever booking details the turn holds into the draft; True if any changed."""
        draft = self._draft
        before = (draft.pet, draft.service, draft.reason, draft.day, draft.time)
        pet = extract_pet_name(
            heard.text, self.lang, expecting=expecting is Step.PET, exclude=self._service_words
        )
        if pet:
            draft.pet = pet
        if heard.service:
            draft.service, draft.reason = heard.service, heard.service
        elif expecting is Step.REASON and not pet and self._free_text_reason(heard):
            draft.service, draft.reason = self.persona.default_service, heard.text.strip()[:200]
        if heard.day is not None:
            draft.day = heard.day
        if heard.time is not None:
            draft.time = heard.time
        return before != (draft.pet, draft.service, draft.reason, draft.day, draft.time)

    def _free_text_reason(self, heard: _Heard) -> bool:
        """A reason we have no service for ("he keeps sneezing") still counts as one."""
        if heard.intents & {Intent.YES, Intent.NO, Intent.THANKS, Intent.GOODBYE}:
            return False
        if heard.day is not None or heard.time is not None:
            return False
        return len(tokenize(heard.text)) >= 2

    async def _earliest(self, heard: _Heard, out: _Reply) -> bool:
        """ "As soon as possible": offer the first free slot."""
        if not wants_earliest(heard.text, self.lang) or not self._draft.pet:
            return False
        if not self._draft.service:
            return False
        slots = await self.tools.book.next_free_slots(self._now(), 3)
        self._offer(out, slots, lead=None)
        return True

    async def _advance(self, out: _Reply) -> None:
        """Ask for the next missing detail, or check the slot and read it back."""
        draft = self._draft
        if draft.time is not None and draft.day is None and self._fallback_day is not None:
            draft.day = self._fallback_day  # "make it eleven": same day as before
        if not draft.pet:
            self._ask(out, Step.PET, "ask_pet_name")
        elif not draft.service:
            self._ask(out, Step.REASON, "ask_reason", pet=draft.pet)
        elif draft.day is None and draft.time is None:
            self._ask(out, Step.WHEN, "ask_day_time", pet=draft.pet)
        elif draft.time is None:
            assert draft.day is not None
            self._ask(out, Step.WHEN, "ask_time", day=self.persona.format_day(draft.day, self.lang))
        elif draft.day is None:
            self._ask(out, Step.WHEN, "ask_day")
        else:
            await self._check(out, draft.day, draft.time)

    async def _check(self, out: _Reply, day: date, at: time) -> None:
        result = await self.tools.check_availability(day.isoformat(), at.strftime("%H:%M"))
        if not result.get("ok"):
            self._ask(out, Step.WHEN, "ask_day_time", pet=self._draft.pet)
            return
        start = datetime.fromisoformat(result["start"])
        if result.get("available"):
            self._proposed = start
            self._ask(out, Step.CONFIRM, "confirm_booking", **self._booking_values(start))
            return
        reason = result.get("reason")
        local_day = self.persona.local(start).date()
        lead: str | None
        if reason == "closed_day":
            lead = self._line("closed_day", day=self.persona.format_day(local_day, self.lang))
        elif reason == "closed_time":
            lead = self._line(
                "closed_time",
                day=self.persona.format_day(local_day, self.lang),
                ranges=self.persona.hours_on(local_day, self.lang),
            )
        elif reason == "past":
            lead = self._line("past_time")
        else:
            lead = self._line("slot_taken", when=self.persona.format_when(start, self.lang))
        alternatives = [datetime.fromisoformat(a) for a in result.get("alternatives", [])]
        self._offer(out, alternatives, lead=lead, several=reason == "taken", near=start)

    def _offer(
        self,
        out: _Reply,
        slots: list[datetime],
        *,
        lead: str | None,
        several: bool = False,
        near: datetime | None = None,
    ) -> None:
        """Propose alternatives: one as a yes/no question, or up to three to choose from."""
        if lead:
            out.say(lead)
        if not slots:
            out.say(self._line("no_slots"))
            self._offer_transfer(out, "offer_transfer_now")
            return
        self._offers = slots
        self._proposed = slots[0]
        if not several or len(slots) == 1:
            self._ask(out, Step.OFFER, "offer_slot", **self._booking_values(slots[0]))
            return
        same_day = near is not None and all(
            self.persona.local(s).date() == self.persona.local(near).date() for s in slots
        )
        spoken = [self._at(s) if same_day else self._on(s) for s in slots]
        self._ask(
            out,
            Step.OFFER,
            "offer_slots",
            options=self.persona.join([self._plain(s, same_day) for s in slots], self.lang, "or"),
            first=spoken[0],
        )

    async def _confirm_answer(self, heard: _Heard, out: _Reply) -> bool:
        if self._absorb(heard, expecting=None):
            await self._advance(out)
            return True
        if Intent.YES in heard.intents and Intent.NO not in heard.intents:
            await self._book(out)
            return True
        if Intent.NO in heard.intents:
            self._ask(out, Step.CHANGE, "what_to_change")
            return True
        return False

    async def _offer_answer(self, heard: _Heard, out: _Reply) -> bool:
        choice = parse_choice(heard.text, len(self._offers), self.lang)
        if choice is None and heard.time is not None and heard.day is None:
            for index, slot in enumerate(self._offers):
                if self.persona.local(slot).time() == heard.time:
                    choice = index
                    break
        if choice is not None:
            self._proposed = self._offers[choice]
            self._take_slot(self._proposed)
            self._ask(out, Step.CONFIRM, "confirm_booking", **self._booking_values(self._proposed))
            return True
        if self._absorb(heard, expecting=None):
            await self._advance(out)
            return True
        if Intent.YES in heard.intents and Intent.NO not in heard.intents and self._proposed:
            self._take_slot(self._proposed)
            await self._book(out)
            return True
        if Intent.NO in heard.intents:
            self._forget_when()
            self._ask(out, Step.WHEN, "ask_day_time", pet=self._draft.pet)
            return True
        return False

    def _forget_when(self) -> None:
        """Ask for a new day and time, but keep the old day in case only a time comes."""
        self._fallback_day = self._draft.day
        self._draft.day = self._draft.time = None

    async def _change_answer(self, heard: _Heard, out: _Reply) -> bool:
        if self._absorb(heard, expecting=None):
            await self._advance(out)
            return True
        target = change_target(heard.text, self.lang)
        if target == "when":
            self._forget_when()
            self._ask(out, Step.WHEN, "ask_day_time", pet=self._draft.pet)
        elif target == "pet":
            self._draft.pet = None
            self._ask(out, Step.PET, "ask_pet_name")
        elif target == "reason":
            self._draft.service = self._draft.reason = None
            self._ask(out, Step.REASON, "ask_reason", pet=self._draft.pet)
        elif heard.intents & {Intent.YES, Intent.NO} and self._proposed is not None:
            # "nothing, it's fine": read the booking back again
            self._ask(out, Step.CONFIRM, "confirm_booking", **self._booking_values(self._proposed))
        else:
            return False
        return True

    async def _book(self, out: _Reply) -> None:
        draft, start = self._draft, self._proposed
        if start is None or not draft.pet:
            await self._advance(out)
            return
        local = self.persona.local(start)
        result = await self.tools.book_appointment(
            draft.pet,
            draft.reason or draft.service or self.persona.default_service,
            local.date().isoformat(),
            local.strftime("%H:%M"),
        )
        if result.get("ok"):
            out.say(self._line("booked", **self._booking_values(start)))
            self._draft, self._proposed, self._offers = _Draft(), None, []
            self._fallback_day = self._asked_price_of = None
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return
        alternatives = [datetime.fromisoformat(a) for a in result.get("alternatives", [])]
        if "reason" in result:
            lead = self._line("slot_taken", when=self.persona.format_when(start, self.lang))
            self._offer(out, alternatives, lead=lead, several=True, near=start)
        else:
            out.say(self._line("booking_failed"))
            self._offer_transfer(out, "offer_transfer_now")

    def _drop_booking(self, out: _Reply) -> None:
        self._draft, self._proposed, self._offers = _Draft(), None, []
        out.say(self._line("booking_dropped"))
        self._ask(out, Step.ANYTHING_ELSE, "anything_else")

    def _take_slot(self, slot: datetime) -> None:
        local = self.persona.local(slot)
        self._draft.day, self._draft.time = local.date(), local.time()

    def _booking_values(self, start: datetime) -> dict[str, str]:
        draft = self._draft
        return {
            "pet": draft.pet or "",
            "service": self.persona.service_label(draft.service or "", self.lang),
            "when": self.persona.format_when(start, self.lang),
        }

    # -- cancelling -------------------------------------------------------------------------------

    async def _cancel_lookup(self, heard: _Heard, out: _Reply, *, expecting: bool) -> bool:
        pet = extract_pet_name(
            heard.text, self.lang, expecting=expecting, exclude=self._service_words
        )
        if not pet:
            if expecting:
                return False
            self._ask(out, Step.CANCEL_PET, "cancel_ask_pet")
            return True
        day = heard.day.isoformat() if heard.day else None
        result = await self.tools.find_appointments(pet, day)
        found = result.get("appointments") or []
        if not found:
            out.say(self._line("cancel_not_found", pet=pet))
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
            result = await self.tools.cancel_appointment(
                target["pet_name"], appointment_id=int(target["id"])
            )
            self._cancel_target = None
            if result.get("ok"):
                out.say(self._line("cancel_done", **self._cancel_values(target)))
            else:
                out.say(self._line("cancel_not_found", pet=target["pet_name"]))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        if Intent.NO in heard.intents or Intent.STOP in heard.intents:
            self._cancel_target = None
            out.say(self._line("cancel_kept"))
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return True
        return False

    def _cancel_values(self, appointment: dict[str, Any]) -> dict[str, str]:
        reason = str(appointment.get("reason", ""))
        return {
            "pet": str(appointment["pet_name"]),
            "service": self.persona.service_label(reason, self.lang),
            "when": self.persona.format_when(
                datetime.fromisoformat(str(appointment["start"])), self.lang
            ),
        }

    # -- call control and recovery ----------------------------------------------------------------

    async def _transfer(self, out: _Reply) -> None:
        result = await self.tools.transfer_to_human()
        out.say(self._line("transfer"))
        out.action = Transfer(result.get("to") or None)
        self._ended = True

    def _offer_transfer(self, out: _Reply, key: str) -> None:
        if self._step is not Step.TRANSFER_OFFER:
            self._resume = (self._step, self._question)
        self._ask(out, Step.TRANSFER_OFFER, key)

    def _decline_transfer(self, out: _Reply) -> None:
        out.say(self._line("transfer_declined"))
        step, question = self._resume or (Step.ANYTHING_ELSE, self._line("anything_else"))
        if step in (Step.START, Step.TRANSFER_OFFER):
            step, question = Step.ANYTHING_ELSE, self._line("anything_else")
        self._resume = None
        self._step, self._question = step, question
        out.say(question)

    def _goodbye(self, out: _Reply) -> None:
        out.say(self._line("goodbye"))
        out.action = EndCall("completed")
        self._ended = True

    def _not_understood(self, out: _Reply) -> None:
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            self._failures = 0
            if self._step is Step.TRANSFER_OFFER:
                out.action = Transfer(self.persona.phone)  # cannot even agree on yes/no
                out.say(self._line("transfer"))
                self._ended = True
                return
            self._offer_transfer(out, "offer_transfer")
            return
        out.say(self._line("not_understood"))
        if self._step is Step.START:
            self._question = self._line("help_options")
            out.say(self._question)
            return
        if self._failures >= 2:
            out.say(self._hint())
        out.say(self._question)

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
