"""The concierge persona (Sandra): a company of tourist apartments, its facts and its lines.

Besides what every persona has (:class:`~voxagent.agents.persona_base.BasePersona`), a
concierge knows check-in and check-out times, the Wi-Fi, and the apartments to seed the
database with, each with the words callers use for it. What guests ask about (parking, how to
get here, tips) are lines (``info_*``), so they are spoken and validated like every other line
and the LLM agent's prompt quotes the very same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any, ClassVar

from voxagent.agents.persona import PersonaFile, PersonaReader, read_base, read_lines
from voxagent.agents.persona_base import LANGUAGES, BasePersona, checked_lang
from voxagent.state.apartments import ApartmentSeed

__all__ = ["CONCIERGE", "CONCIERGE_CORE_LINES", "INFO_LINES", "ConciergePersona", "parse_concierge"]

CONCIERGE = "concierge"

# Lines the persona's own helpers need (greeting, lists, stays, counts).
CONCIERGE_CORE_LINES = (
    "greeting",
    "greeting_outbound",
    "greeting_outbound_unnamed",
    "salutation_morning",
    "salutation_afternoon",
    "salutation_evening",
    "stay_span",
    "nights_one",
    "nights_many",
    "guests_one",
    "guests_many",
    "and",
    "or",
)

# What a guest may ask, by topic: the line that answers it.
INFO_LINES = {
    "check_in": "info_check_in",
    "check_out": "info_check_out",
    "wifi": "info_wifi",
    "parking": "info_parking",
    "airport": "info_airport",
    "train": "info_train",
    "address": "info_address",
    "tips": "info_tips",
}


@dataclass(frozen=True, slots=True)
class ConciergePersona(BasePersona):
    """A loaded, validated concierge persona. Immutable: shared by every call."""

    kind: ClassVar[str] = CONCIERGE

    company_names: Mapping[str, str]
    check_in: time
    check_out: time
    max_nights: int
    wifi_network: str
    wifi_password: str
    wifi_password_spoken: Mapping[str, str]
    apartments: tuple[ApartmentSeed, ...]
    apartment_keywords: Mapping[str, Mapping[str, tuple[str, ...]]]
    """Apartment key → language → words callers use for it."""

    def company_name(self, lang: str) -> str:
        return self.company_names[checked_lang(lang)]

    def business_name(self, lang: str) -> str:
        return self.company_name(lang)

    def facts(self, lang: str) -> dict[str, object]:
        """{company}, {check_in}, {check_out}, {wifi_network} and {wifi_password}, besides
        {agent}, {address} and {phone}."""
        fields = BasePersona.facts(self, lang)
        fields.update(
            company=self.company_names[lang],
            check_in=self.format_time(self.check_in, lang),
            check_out=self.format_time(self.check_out, lang),
            wifi_network=self.wifi_network,
            wifi_password=self.wifi_password_spoken[lang],
        )
        return fields

    def info(self, topic: str, lang: str) -> str:
        """The answer to a guest's question about ``topic`` (a key of :data:`INFO_LINES`)."""
        return self.line(INFO_LINES[topic], lang)

    def stay_text(self, check_in: date, check_out: date, lang: str) -> str:
        """ "from Friday, December 12 to Monday, December 15"."""
        return self.line(
            "stay_span",
            lang,
            check_in=self.format_day(check_in, lang),
            check_out=self.format_day(check_out, lang),
        )

    def nights_text(self, count: int, lang: str) -> str:
        return self.line("nights_one" if count == 1 else "nights_many", lang, count=count)

    def guests_text(self, count: int, lang: str) -> str:
        return self.line("guests_one" if count == 1 else "guests_many", lang, count=count)

    def keywords_of(self, apartment_key: str, lang: str) -> tuple[str, ...]:
        return self.apartment_keywords.get(apartment_key, {}).get(checked_lang(lang), ())


def parse_concierge(file: PersonaFile, required: tuple[str, ...]) -> ConciergePersona:
    """A concierge persona from its file, validated (the message names any bad key)."""
    r = PersonaReader(file.source)
    data = file.data
    base = read_base(r, data, "company")
    company = r.table(data, "company", "")
    wifi = r.table(company, "wifi", "company.")
    seeds, keywords = _apartments(r, r.table(data, "apartments", ""))
    lines = read_lines(r, data, required)
    return ConciergePersona(
        key=file.key,
        source=file.source,
        company_names=r.localized(company, "name", "company."),
        check_in=r.clock(company.get("check_in"), "company.check_in"),
        check_out=r.clock(company.get("check_out"), "company.check_out"),
        max_nights=r.integer(company, "max_nights", "company.", 1),
        wifi_network=r.text(wifi, "network", "company.wifi."),
        wifi_password=r.text(wifi, "password", "company.wifi."),
        wifi_password_spoken=r.localized(wifi, "password_spoken", "company.wifi."),
        apartments=seeds,
        apartment_keywords=keywords,
        lines=lines,
        **base,
    )


def _apartments(
    r: PersonaReader, table: Mapping[str, Any]
) -> tuple[tuple[ApartmentSeed, ...], dict[str, dict[str, tuple[str, ...]]]]:
    seeds: list[ApartmentSeed] = []
    keywords: dict[str, dict[str, tuple[str, ...]]] = {}
    for key, entry in table.items():
        path = f"apartments.{key}."
        if not isinstance(entry, dict):
            raise r.fail(f"apartments.{key}", "must be a table")
        words = r.table(entry, "keywords", path)
        keywords[key] = {}
        for lang in LANGUAGES:
            listed = words.get(lang)
            if not isinstance(listed, list) or not all(isinstance(w, str) for w in listed):
                raise r.fail(f"{path}keywords.{lang}", "must be a list of words")
            keywords[key][lang] = tuple(listed)
        seeds.append(
            ApartmentSeed(
                key=key,
                name=r.text(entry, "name", path),
                neighbourhood=r.text(entry, "neighbourhood", path),
                bedrooms=r.integer(entry, "bedrooms", path, 0),
                max_guests=r.integer(entry, "max_guests", path, 1),
                price_per_night=r.integer(entry, "price_per_night", path, 0),
                descriptions=r.localized(entry, "description", path),
            )
        )
    if not seeds:
        raise r.fail("apartments", "must list at least one apartment")
    return tuple(seeds), keywords
