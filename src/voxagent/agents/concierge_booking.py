"""The concierge's booking flow: dates, guests, the free apartments, a name, the read-back, and
the booking on a clear yes.

A mixin of :class:`~voxagent.agents.concierge_scripted.ScriptedConcierge`, apart from the
dialogue core because it is the largest flow (state and words are in
:mod:`~voxagent.agents.concierge_base`). Every answer may also correct what was said before
("make it four people", "no, from saturday"): a change of dates or guests drops the chosen
apartment, and the free ones are looked up again before anything is read back.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from voxagent.agents.concierge_base import ConciergeBase, Step, _Heard, _Stay
from voxagent.agents.scripted_base import _Reply
from voxagent.agents.understanding import Intent, parse_choice
from voxagent.agents.understanding_concierge import change_part, extract_guest_name, pick_apartment

__all__ = ["ConciergeBookingFlow"]

# How many free apartments are read out at once.
OFFERED = 3


class ConciergeBookingFlow(ConciergeBase):
    """Fills the reservation turn by turn, finds what is free, and books it."""

    def _absorb(self, heard: _Heard, *, expecting: Step | None) -> bool:
        """Copy what the turn says about the stay into the draft; True if anything changed."""
        draft = self._draft
        before = (draft.check_in, draft.check_out, draft.nights, draft.guests, draft.name)
        stay = heard.stay
        if stay.check_in is not None and stay.check_in != draft.check_in:
            draft.check_in, draft.check_out = stay.check_in, None
        if stay.check_out is not None:
            draft.check_out = stay.check_out
        if stay.nights is not None:
            draft.nights = stay.nights
            if draft.check_in is not None and stay.check_out is None:
                draft.check_out = draft.check_in + timedelta(days=stay.nights)
        if heard.guests is not None:
            draft.guests = heard.guests
        name = extract_guest_name(heard.text, self.lang, expecting=expecting is Step.NAME)
        if name:
            draft.name = name
        after = (draft.check_in, draft.check_out, draft.nights, draft.guests, draft.name)
        if after[:4] != before[:4]:
            draft.apartment = None  # what is free depends on the dates and the guests
        return after != before

    async def _advance(self, out: _Reply) -> None:
        """Ask for the next missing detail, or find what is free, or read the booking back."""
        draft = self._draft
        if draft.check_in is not None and draft.check_out is None and draft.nights:
            draft.check_out = draft.check_in + timedelta(days=draft.nights)
        if draft.check_in is None:
            self._ask(out, Step.DATES, "ask_dates")
        elif draft.check_out is None:
            day = self.persona.format_day(draft.check_in, self.lang)
            self._ask(out, Step.NIGHTS, "ask_nights", day=day)
        elif draft.guests is None:
            self._ask(out, Step.GUESTS, "ask_guests")
        elif draft.apartment is None:
            await self._check(out)
        elif not draft.name:
            self._ask(out, Step.NAME, "ask_name")
        else:
            self._ask(out, Step.CONFIRM, "confirm_booking", **self._booking_values())

    async def _check(self, out: _Reply) -> None:
        """Look up the free apartments for the draft's stay and offer them, or say why not."""
        draft = self._draft
        assert draft.check_in and draft.check_out and draft.guests
        result = await self.tools.check_availability(
            draft.check_in.isoformat(), draft.check_out.isoformat(), draft.guests
        )
        if result.get("available"):
            self._offer(out, list(result["apartments"])[:OFFERED])
            return
        reason = result.get("reason")
        if reason == "too_many_guests":
            out.say(self._line("too_many_guests", count=result["max_guests"]))
            draft.guests = None
        elif reason in ("past", "too_far"):
            out.say(self._line("past_dates" if reason == "past" else "too_far"))
            draft.check_in = draft.check_out = draft.nights = None
        elif reason in ("order", "too_long"):
            if reason == "order":
                out.say(self._line("bad_dates"))
            else:
                out.say(self._line("stay_too_long", count=result["max_nights"]))
            draft.check_out = draft.nights = None
        elif reason == "full":
            stay = self._stay_text(draft.check_in, draft.check_out)
            out.say(self._line("none_free", stay=stay, guests=self._guests_text(draft.guests)))
            self._offer_dates(out, list(result.get("alternatives", [])))
            return
        else:  # the tool could not read the dates: ask for them again
            draft.check_in = draft.check_out = draft.nights = None
        await self._advance(out)

    def _offer(self, out: _Reply, offers: list[dict[str, Any]]) -> None:
        draft = self._draft
        assert draft.check_in and draft.check_out and draft.guests
        self._offers = offers
        stay = self._stay_text(draft.check_in, draft.check_out)
        guests = self._guests_text(draft.guests)
        if len(offers) == 1:
            option = self._option(offers[0])
            self._ask(out, Step.CHOOSE, "offer_one", stay=stay, guests=guests, option=option)
            return
        options = self.persona.join([self._option(o) for o in offers], self.lang, "or")
        self._ask(out, Step.CHOOSE, "offer_many", stay=stay, guests=guests, options=options)

    def _offer_dates(self, out: _Reply, alternatives: list[dict[str, Any]]) -> None:
        self._alternatives = alternatives
        if not alternatives:
            self._ask(out, Step.ALTERNATIVES, "no_dates")
            return
        spans = [self._stay_of(a) for a in alternatives]
        options = self.persona.join(spans, self.lang, "or")
        self._ask(out, Step.ALTERNATIVES, "offer_dates", options=options)

    # -- answers ----------------------------------------------------------------------------

    async def _choose_answer(self, heard: _Heard, out: _Reply) -> bool:
        words = [
            (
                (*self.persona.keywords_of(str(o["key"]), self.lang), o["name"]),
                int(o["price_per_night"]),
                int(o["max_guests"]),
            )
            for o in self._offers
        ]
        picked = pick_apartment(heard.text, words, self.lang)
        if picked is None and self._absorb(heard, expecting=None):
            await self._advance(out)
            return True
        if picked is None and Intent.YES in heard.intents and Intent.NO not in heard.intents:
            picked = 0
        if picked is not None and self._offers:
            self._draft.apartment = self._offers[picked]
            await self._advance(out)
            return True
        if Intent.NO in heard.intents:
            self._ask(out, Step.CHANGE, "what_to_change")
            return True
        return False

    async def _alternatives_answer(self, heard: _Heard, out: _Reply) -> bool:
        alternatives = self._alternatives
        choice = parse_choice(heard.text, len(alternatives), self.lang)
        if choice is None and self._absorb(heard, expecting=None):
            await self._advance(out)
            return True
        yes = Intent.YES in heard.intents and Intent.NO not in heard.intents
        if choice is None and yes and alternatives:
            choice = 0
        if choice is not None and alternatives:
            chosen = alternatives[choice]
            draft = self._draft
            draft.check_in = date.fromisoformat(str(chosen["check_in"]))
            draft.check_out = date.fromisoformat(str(chosen["check_out"]))
            draft.apartment = None
            await self._advance(out)
            return True
        if yes:  # "do you want to try other dates?" "yes"
            self._forget_dates()
            self._ask(out, Step.DATES, "ask_dates")
            return True
        if Intent.NO in heard.intents:
            if alternatives:
                self._forget_dates()
                self._ask(out, Step.DATES, "ask_dates")
            else:
                self._drop_booking(out)
            return True
        return False

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

    async def _change_answer(self, heard: _Heard, out: _Reply) -> bool:
        if self._absorb(heard, expecting=None):
            await self._advance(out)
            return True
        draft = self._draft
        part = change_part(heard.text, self.lang)
        if part == "dates":
            self._forget_dates()
            self._ask(out, Step.DATES, "ask_dates")
        elif part == "guests":
            draft.guests = draft.apartment = None
            self._ask(out, Step.GUESTS, "ask_guests")
        elif part == "apartment":
            draft.apartment = None
            await self._advance(out)
        elif part == "name":
            draft.name = None
            self._ask(out, Step.NAME, "ask_name")
        elif heard.intents & {Intent.YES, Intent.NO} and draft.apartment and draft.name:
            # "nothing, it's fine": read it back again
            self._ask(out, Step.CONFIRM, "confirm_booking", **self._booking_values())
        else:
            return False
        return True

    # -- booking ----------------------------------------------------------------------------

    async def _book(self, out: _Reply) -> None:
        draft = self._draft
        if not (draft.apartment and draft.check_in and draft.check_out and draft.guests):
            await self._advance(out)
            return
        if not draft.name:
            await self._advance(out)
            return
        result = await self.tools.book_apartment(
            int(draft.apartment["id"]),
            draft.check_in.isoformat(),
            draft.check_out.isoformat(),
            draft.guests,
            draft.name,
        )
        if result.get("ok"):
            reservation = result["reservation"]
            out.say(
                self._line(
                    "booked",
                    apartment=reservation["apartment"],
                    stay=self._stay_of(reservation),
                    number=reservation["id"],
                )
            )
            self._draft, self._offers, self._alternatives = _Stay(), [], []
            self._ask(out, Step.ANYTHING_ELSE, "anything_else")
            return
        if result.get("reason") == "taken":
            out.say(self._line("taken_meanwhile", apartment=draft.apartment["name"]))
            draft.apartment = None
            await self._check(out)
            return
        out.say(self._line("booking_failed"))
        self._offer_transfer(out, "offer_transfer_now")

    def _drop_booking(self, out: _Reply) -> None:
        self._draft, self._offers, self._alternatives = _Stay(), [], []
        out.say(self._line("booking_dropped"))
        self._ask(out, Step.ANYTHING_ELSE, "anything_else")

    def _forget_dates(self) -> None:
        draft = self._draft
        draft.check_in = draft.check_out = draft.nights = None
        draft.apartment = None

    def _booking_values(self) -> dict[str, object]:
        draft = self._draft
        assert draft.apartment and draft.check_in and draft.check_out and draft.guests
        nights = (draft.check_out - draft.check_in).days
        total = nights * int(draft.apartment["price_per_night"])
        return {
            "apartment": draft.apartment["name"],
            "stay": self._stay_text(draft.check_in, draft.check_out),
            "nights": self.persona.nights_text(nights, self.lang),
            "guests": self._guests_text(draft.guests),
            "name": draft.name or "",
            "total": self._price(total),
        }
