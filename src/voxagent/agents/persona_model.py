"""The clinic persona: the clinic's facts and lines as an immutable :class:`Persona`, with the
helpers that speak its hours and prices in each language.

What every persona shares (lines, greeting, days and times read aloud) is
:class:`~voxagent.agents.persona_base.BasePersona`. Loading and validating a persona file is
:mod:`voxagent.agents.persona`, which also exports these names; they live apart so that the
model and the TOML checks each read in one sitting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import ClassVar

from voxagent.agents.persona_base import (
    CORE_LINES,
    DAY_NAMES,
    LANGUAGES,
    BasePersona,
    PersonaError,
    capitalize,
    checked_lang,
)

__all__ = ["CORE_LINES", "LANGUAGES", "Persona", "PersonaError", "Service"]

_DAY_PLURALS_ES = (
    "lunes", "martes", "miércoles", "jueves", "viernes", "sábados", "domingos",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Service:
    """Something the clinic sells, with its names per language and the words callers use."""

    key: str
    price: int
    names: Mapping[str, str]
    labels: Mapping[str, str]
    keywords: Mapping[str, tuple[str, ...]]

    def name(self, lang: str) -> str:
        """The bare noun ("vaccination"), for lists."""
        return self.names[lang]

    def label(self, lang: str) -> str:
        """The noun with its article ("a vaccination"), for sentences."""
        return self.labels[lang]


@dataclass(frozen=True, slots=True)
class Persona(BasePersona):
    """A loaded, validated clinic persona. Immutable: one instance is shared by every call."""

    kind: ClassVar[str] = "clinic"

    clinic_names: Mapping[str, str]
    emergency_phone_spoken: str
    slot_minutes: int
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    closed_dates: frozenset[date]
    services: Mapping[str, Service]
    default_service: str

    # -- words --------------------------------------------------------------------------------

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    def clinic_name(self, lang: str) -> str:
        return self.clinic_names[checked_lang(lang)]

    def business_name(self, lang: str) -> str:
        return self.clinic_name(lang)

    def facts(self, lang: str) -> dict[str, object]:
        """{clinic} and {emergency_phone}, besides {agent}, {address} and {phone}."""
        fields = BasePersona.facts(self, lang)
        fields["clinic"] = self.clinic_names[lang]
        fields["emergency_phone"] = self.emergency_phone_spoken
        return fields

    # -- time -----------------------------------------------------------------------------------

    def intervals_on(self, day: date) -> tuple[tuple[time, time], ...]:
        """Opening ranges on a calendar day (clinic time); empty when closed."""
        if day in self.closed_dates:
            return ()
        return self.hours.get(day.weekday(), ())

    def fits_hours(self, start: datetime) -> bool:
        """Whether a whole slot starting at ``start`` lies inside one opening range."""
        local = self.local(start)
        end = local + self.slot
        if end.date() != local.date():
            return False
        return any(
            opening <= local.time() and end.time() <= closing
            for opening, closing in self.intervals_on(local.date())
        )

    def format_ranges(self, ranges: Iterable[tuple[time, time]], lang: str) -> str:
        parts = [
            self.line(
                "hours_range",
                lang,
                open=self.format_time(o, lang),
                close=self.format_time(c, lang),
            )
            for o, c in ranges
        ]
        return self.join(parts, lang)

    def hours_on(self, day: date, lang: str) -> str:
        """The ranges of one day ("from 9:00 AM to 1:00 PM"), or "" when closed."""
        return self.format_ranges(self.intervals_on(day), lang)

    def hours_summary(self, lang: str) -> str:
        """The week's hours in one or two sentences, grouping days with equal hours."""
        lang = checked_lang(lang)
        groups: list[tuple[int, int, tuple[tuple[time, time], ...]]] = []
        for index in range(7):
            ranges = self.hours.get(index, ())
            if ranges and groups and groups[-1][2] == ranges and groups[-1][1] == index - 1:
                groups[-1] = (groups[-1][0], index, ranges)
            elif ranges:
                groups.append((index, index, ranges))
        parts = []
        for first, last, ranges in groups:
            spoken = self.format_ranges(ranges, lang)
            if first == last:
                name = _DAY_PLURALS_ES[first] if lang == "es" else DAY_NAMES[lang][first]
                parts.append(self.line("hours_single", lang, day=name, ranges=spoken))
            else:
                parts.append(
                    self.line(
                        "hours_span",
                        lang,
                        first=DAY_NAMES[lang][first],
                        last=DAY_NAMES[lang][last],
                        ranges=spoken,
                    )
                )
        sentences = (
            [self.line("hours_open", lang, schedule=self.join(parts, lang))] if parts else []
        )
        closed = [i for i in range(7) if not self.hours.get(i)]
        if closed:
            names = [
                _DAY_PLURALS_ES[i] if lang == "es" else DAY_NAMES[lang][i] + "s" for i in closed
            ]
            sentences.append(self.line("hours_closed", lang, days=self.join(names, lang)))
        return " ".join(sentences)

    # -- prices -----------------------------------------------------------------------------------

    def price_text(self, lang: str, service: str | None = None) -> str:
        """One service's price, or the whole list when ``service`` is None."""
        chosen = [self.services[service]] if service else list(self.services.values())
        items = [
            self.line(
                "price_item",
                lang,
                service=s.label(lang),
                price=self.format_price(s.price, lang),
            )
            for s in chosen
        ]
        if service:
            return capitalize(items[0]) + "."
        return self.line("prices_all", lang, items=self.join(items, lang))

    def service_keywords(self, lang: str) -> dict[str, tuple[str, ...]]:
        """Service key → words callers use for it, for :func:`understanding.match_service`."""
        lang = checked_lang(lang)
        return {key: s.keywords[lang] for key, s in self.services.items()}

    def service_label(self, key: str, lang: str) -> str:
        service = self.services.get(key) or self.services[self.default_service]
        return service.label(lang)
