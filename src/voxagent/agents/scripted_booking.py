"""The receptionist's booking flow: pet, reason and when, checking the slot, offering
alternatives, reading the booking back and booking it.

A mixin of :class:`~voxagent.agents.scripted.ScriptedReceptionist`, kept apart from the
dialogue core because it is the largest flow and reads on its own (state and words are in
:mod:`~voxagent.agents.scripted_base`).
"""

from __future__ import annotations

from datetime import date, datetime, time

from voxagent.agents.scripted_base import ScriptedBase, Step, _Draft, _Heard, _Reply
from voxagent.agents.understanding import (
    Intent,
    change_target,
    extract_pet_name,
    parse_choice,
    tokenize,
    wants_earliest,
)

__all__ = ["BookingFlow"]


class BookingFlow(ScriptedBase):
    """Fills the draft booking turn by turn, checks the slot and books it."""

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
