"""A persona is an agent's script as data: who it is, where it works, and every line it says.

The words live in a TOML file (one per persona) so that a clinic can change prices, hours or
wording without touching code. Loading validates everything up front, with the offending key in
the message, so a missing translation fails at start-up instead of in the middle of a call.

The model itself (:class:`Persona`, :class:`Service`, :class:`PersonaError`, the languages)
is in :mod:`voxagent.agents.persona_model` and exported from here too: this module is the one
callers import.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date, time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voxagent.agents.persona_model import CORE_LINES, LANGUAGES, Persona, PersonaError, Service

__all__ = [
    "CORE_LINES",
    "LANGUAGES",
    "WEEKDAYS",
    "Persona",
    "PersonaError",
    "Service",
    "available_personas",
    "load_persona",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_PACKAGE = "voxagent.agents.personas"


# -- loading ------------------------------------------------------------------------------------


def available_personas() -> list[str]:
    """Names of the personas packaged with voxagent."""
    folder = resources.files(_PACKAGE)
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def load_persona(name_or_path: str, *, required_lines: Iterable[str] = CORE_LINES) -> Persona:
    """Load a packaged persona by name ("maria") or any persona file by path.

    Raises :class:`PersonaError` naming the file and the key when something is missing.
    """
    looks_like_path = name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path
    if looks_like_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise PersonaError(f"persona file {name_or_path!r} does not exist")
        key, source, raw = path.stem, str(path), path.read_bytes()
    else:
        entry = resources.files(_PACKAGE).joinpath(f"{name_or_path}.toml")
        if not entry.is_file():
            known = ", ".join(available_personas()) or "none"
            raise PersonaError(f"unknown persona {name_or_path!r}; available: {known}")
        key, source, raw = name_or_path, f"{_PACKAGE}/{name_or_path}.toml", entry.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PersonaError(f"persona {source}: not valid TOML: {exc}") from None
    return _parse(key, source, data, tuple(required_lines))


class _Reader:
    """Typed access to the TOML tree that reports the dotted key of anything wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> PersonaError:
        return PersonaError(f"persona {self.source}: {key!r} {problem}")

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key)
        if value is None:
            raise self.fail(f"{path}{key}", "is missing")
        if not isinstance(value, dict):
            raise self.fail(f"{path}{key}", "must be a table")
        return value

    def text(self, data: Mapping[str, Any], key: str, path: str) -> str:
        value = data.get(key)
        if value is None:
            raise self.fail(f"{path}{key}", "is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{path}{key}", "must be a non-empty string")
        return value

    def integer(self, data: Mapping[str, Any], key: str, path: str, minimum: int) -> int:
        value = data.get(key)
        if value is None:
            raise self.fail(f"{path}{key}", "is missing")
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(f"{path}{key}", f"must be an integer >= {minimum}")
        return value

    def localized(self, data: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        """A string given per language; a plain string is accepted for language-neutral text."""
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return dict.fromkeys(LANGUAGES, value)
        table = self.table(data, key, path)
        return {lang: self.text(table, lang, f"{path}{key}.") for lang in LANGUAGES}

    def clock(self, value: object, key: str) -> time:
        if not isinstance(value, str):
            raise self.fail(key, "must be a time like '09:00'")
        try:
            hour, minute = value.strip().split(":")
            return time(int(hour), int(minute))
        except ValueError:
            raise self.fail(key, f"has a bad time {value!r}; use HH:MM") from None


def _parse(key: str, source: str, data: Mapping[str, Any], required: tuple[str, ...]) -> Persona:
    r = _Reader(source)
    persona = r.table(data, "persona", "")
    clinic = r.table(data, "clinic", "")
    time_zone = r.text(clinic, "time_zone", "clinic.")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("clinic.time_zone", f"names an unknown time zone {time_zone!r}") from None

    hours_table = r.table(clinic, "hours", "clinic.")
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for index, day in enumerate(WEEKDAYS):
        spans = hours_table.get(day)
        if spans is None:
            raise r.fail(f"clinic.hours.{day}", "is missing (use [] when closed)")
        if not isinstance(spans, list):
            raise r.fail(f"clinic.hours.{day}", "must be a list like ['09:00-18:00']")
        ranges = []
        for span in spans:
            if not isinstance(span, str) or span.count("-") != 1:
                raise r.fail(f"clinic.hours.{day}", f"has a bad range {span!r}; use 'HH:MM-HH:MM'")
            opening, closing = (r.clock(p, f"clinic.hours.{day}") for p in span.split("-"))
            if closing <= opening:
                raise r.fail(f"clinic.hours.{day}", f"closes before it opens in {span!r}")
            ranges.append((opening, closing))
        hours[index] = tuple(sorted(ranges))

    closed_dates = set()
    for value in clinic.get("closed_dates", []):
        try:
            closed_dates.add(date.fromisoformat(str(value)))
        except ValueError:
            raise r.fail(
                "clinic.closed_dates", f"has a bad date {value!r}; use YYYY-MM-DD"
            ) from None

    greeting_times = clinic.get("greeting_times", {})
    afternoon = r.clock(greeting_times.get("afternoon_from", "12:00"), "clinic.greeting_times")
    evening = r.clock(greeting_times.get("evening_from", "19:00"), "clinic.greeting_times")

    services: dict[str, Service] = {}
    for skey, sdata in r.table(data, "services", "").items():
        path = f"services.{skey}."
        if not isinstance(sdata, dict):
            raise r.fail(f"services.{skey}", "must be a table")
        words = r.table(sdata, "keywords", path)
        keywords: dict[str, tuple[str, ...]] = {}
        for lang in LANGUAGES:
            listed = words.get(lang)
            if not isinstance(listed, list) or not all(isinstance(w, str) for w in listed):
                raise r.fail(f"{path}keywords.{lang}", "must be a list of words")
            keywords[lang] = tuple(listed)
        services[skey] = Service(
            key=skey,
            price=r.integer(sdata, "price", path, 0),
            names=r.localized(sdata, "name", path),
            labels=r.localized(sdata, "label", path),
            keywords=keywords,
        )
    if not services:
        raise r.fail("services", "must list at least one service")
    default_service = r.text(clinic, "default_service", "clinic.")
    if default_service not in services:
        raise r.fail("clinic.default_service", f"names no service ({', '.join(services)})")

    lines = _parse_lines(r, r.table(data, "lines", ""))
    missing = [k for k in required if k not in lines]
    if missing:
        raise r.fail(f"lines.{missing[0]}", f"is missing (all missing: {', '.join(missing)})")

    return Persona(
        key=key,
        source=source,
        agent_name=r.text(persona, "agent_name", "persona."),
        clinic_names=r.localized(clinic, "name", "clinic."),
        time_zone=time_zone,
        addresses=r.localized(clinic, "address", "clinic."),
        phone=r.text(clinic, "phone", "clinic."),
        phone_spoken=r.text(clinic, "phone_spoken", "clinic."),
        emergency_phone_spoken=r.text(clinic, "emergency_phone_spoken", "clinic."),
        currency=r.localized(clinic, "currency", "clinic."),
        slot_minutes=r.integer(clinic, "slot_minutes", "clinic.", 5),
        hours=hours,
        closed_dates=frozenset(closed_dates),
        services=services,
        default_service=default_service,
        afternoon_from=afternoon,
        evening_from=evening,
        lines=lines,
    )


def _parse_lines(r: _Reader, table: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Every line in every language, with the same placeholders in each."""
    lines: dict[str, dict[str, str]] = {}
    for key, entry in table.items():
        if not isinstance(entry, dict):
            raise r.fail(f"lines.{key}", "must be a table with 'en' and 'es'")
        texts = {lang: r.text(entry, lang, f"lines.{key}.") for lang in LANGUAGES}
        fields = {lang: _placeholders(r, f"lines.{key}.{lang}", t) for lang, t in texts.items()}
        reference = fields[LANGUAGES[0]]
        for lang in LANGUAGES[1:]:
            if fields[lang] != reference:
                raise r.fail(
                    f"lines.{key}.{lang}",
                    f"uses placeholders {sorted(fields[lang])}, "
                    f"but {LANGUAGES[0]} uses {sorted(reference)}",
                )
        lines[key] = texts
    return lines


def _placeholders(r: _Reader, key: str, template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:
        raise r.fail(key, f"is not a valid template: {exc}") from None
