"""A persona is an agent's script as data: who it is, where it works, and every line it says.

The words live in a TOML file (one per persona) so that a clinic can change prices, hours or
wording without touching code. Loading validates everything up front, with the offending key in
the message, so a missing translation fails at start-up instead of in the middle of a call.

A file declares its kind (``[persona] kind = "clinic"``, the default, or ``"concierge"``).
:func:`load_persona` loads clinic personas; the other kinds reuse the reading and the checks
here (:func:`read_persona_file`, :class:`PersonaReader`, :func:`read_base`) and are dispatched
by :mod:`voxagent.agents.kinds`.

The model itself (:class:`Persona`, :class:`Service`, :class:`PersonaError`, the languages)
is in :mod:`voxagent.agents.persona_model` and exported from here too: this module is the one
callers import.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voxagent.agents.persona_base import ENGINE_LINES
from voxagent.agents.persona_model import CORE_LINES, LANGUAGES, Persona, PersonaError, Service

__all__ = [
    "CLINIC",
    "CORE_LINES",
    "ENGINE_LINES",
    "LANGUAGES",
    "WEEKDAYS",
    "Persona",
    "PersonaError",
    "PersonaFile",
    "PersonaReader",
    "Service",
    "available_personas",
    "load_persona",
    "parse_clinic",
    "read_base",
    "read_lines",
    "read_persona_file",
]

CLINIC = "clinic"
"""The kind of a persona file that declares none."""

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


@dataclass(frozen=True, slots=True)
class PersonaFile:
    """A persona file read and parsed as TOML, not yet validated."""

    key: str
    source: str
    data: Mapping[str, Any]

    @property
    def kind(self) -> str:
        """What the file declares in ``[persona] kind``; clinic when it says nothing."""
        table = self.data.get("persona")
        value = table.get("kind", CLINIC) if isinstance(table, dict) else CLINIC
        if not isinstance(value, str) or not value.strip():
            raise PersonaError(f"persona {self.source}: 'persona.kind' must be a non-empty string")
        return value.strip()


def read_persona_file(name_or_path: str) -> PersonaFile:
    """A packaged persona by name ("maria") or any persona file by path, as TOML."""
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
    return PersonaFile(key, source, data)


def load_persona(name_or_path: str, *, required_lines: Iterable[str] = CORE_LINES) -> Persona:
    """Load a packaged clinic persona by name ("maria") or any clinic persona file by path.

    Raises :class:`PersonaError` naming the file and the key when something is missing, or
    when the file is of another kind (:func:`voxagent.agents.kinds.load_any_persona` loads
    those).
    """
    file = read_persona_file(name_or_path)
    if file.kind != CLINIC:
        raise PersonaError(
            f"persona {file.source} is a {file.kind!r} persona, not a {CLINIC!r} one"
        )
    return parse_clinic(file, tuple(required_lines))


class PersonaReader:
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


def read_base(r: PersonaReader, data: Mapping[str, Any], table: str) -> dict[str, Any]:
    """The fields every persona has (:class:`~voxagent.agents.persona_base.BasePersona`),
    from ``[persona]`` and the business's table (``[clinic]``, ``[company]``)."""
    persona = r.table(data, "persona", "")
    business = r.table(data, table, "")
    path = f"{table}."
    time_zone = r.text(business, "time_zone", path)
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail(f"{path}time_zone", f"names an unknown time zone {time_zone!r}") from None
    greeting_times = business.get("greeting_times", {})
    return {
        "agent_name": r.text(persona, "agent_name", "persona."),
        "time_zone": time_zone,
        "addresses": r.localized(business, "address", path),
        "phone": r.text(business, "phone", path),
        "phone_spoken": r.text(business, "phone_spoken", path),
        "currency": r.localized(business, "currency", path),
        "afternoon_from": r.clock(
            greeting_times.get("afternoon_from", "12:00"), f"{path}greeting_times"
        ),
        "evening_from": r.clock(
            greeting_times.get("evening_from", "19:00"), f"{path}greeting_times"
        ),
    }


def read_lines(
    r: PersonaReader, data: Mapping[str, Any], required: Iterable[str]
) -> dict[str, dict[str, str]]:
    """``[lines]``, every one in every language, refusing a file that lacks a required one."""
    lines = _parse_lines(r, r.table(data, "lines", ""))
    missing = [k for k in required if k not in lines]
    if missing:
        raise r.fail(f"lines.{missing[0]}", f"is missing (all missing: {', '.join(missing)})")
    return lines


def parse_clinic(file: PersonaFile, required: tuple[str, ...]) -> Persona:
    """A clinic persona (María's kind) from its file, validated."""
    r = PersonaReader(file.source)
    data = file.data
    base = read_base(r, data, "clinic")
    clinic = r.table(data, "clinic", "")

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

    lines = read_lines(r, data, required)

    return Persona(
        key=file.key,
        source=file.source,
        clinic_names=r.localized(clinic, "name", "clinic."),
        emergency_phone_spoken=r.text(clinic, "emergency_phone_spoken", "clinic."),
        slot_minutes=r.integer(clinic, "slot_minutes", "clinic.", 5),
        hours=hours,
        closed_dates=frozenset(closed_dates),
        services=services,
        default_service=default_service,
        lines=lines,
        **base,
    )


def _parse_lines(r: PersonaReader, table: Mapping[str, Any]) -> dict[str, dict[str, str]]:
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


def _placeholders(r: PersonaReader, key: str, template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:
        raise r.fail(key, f"is not a valid template: {exc}") from None
