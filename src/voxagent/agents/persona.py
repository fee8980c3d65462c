"""A persona is an agent's script as data: who it is, where it works, and every line it says.

The words live in a TOML file (one per persona) so that a clinic can change prices, hours or
wording without touching code. Loading validates everything up front, with the offending key in
the message, so a missing translation fails at start-up instead of in the middle of a call.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("en", "es")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Lines the persona's own helpers (greeting, hours, prices, lists) need; agents check their own.
CORE_LINES = (
    "greeting",
    "greeting_outbound",
    "greeting_outbound_unnamed",
    "salutation_morning",
    "salutation_afternoon",
    "salutation_evening",
    "hours_open",
    "hours_closed",
    "hours_span",
    "hours_single",
    "hours_range",
    "price_item",
    "prices_all",
    "and",
    "or",
)

_DAY_NAMES = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_DAY_NAMES_PLURAL_ES = (
    "lunes", "martes", "miércoles", "jueves", "viernes", "sábados", "domingos",
)  # fmt: skip
_MONTH_NAMES = {
    "en": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
        "septiembre", "octubre", "noviembre", "diciembre",
    ),
}  # fmt: skip

_PACKAGE = "voxagent.agents.personas"


class PersonaError(ValueError):
    """A persona file is missing, malformed or incomplete; the message names the key."""


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
class Persona:
    """A loaded, validated persona. Immutable: one instance is shared by every call."""

    key: str
    source: str
    agent_name: str
    clinic_names: Mapping[str, str]
    time_zone: str
    addresses: Mapping[str, str]
    phone: str
    phone_spoken: str
    emergency_phone_spoken: str
    currency: Mapping[str, str]
    slot_minutes: int
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    closed_dates: frozenset[date]
    services: Mapping[str, Service]
    default_service: str
    afternoon_from: time
    evening_from: time
    lines: Mapping[str, Mapping[str, str]]

    # -- words --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The persona's name as configured (``maria``), e.g. for call records."""
        return self.key

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    def clinic_name(self, lang: str) -> str:
        return self.clinic_names[_lang(lang)]

    def line(self, key: str, lang: str, **values: object) -> str:
        """The line ``key`` in ``lang`` with its placeholders filled.

        The clinic's own facts ({clinic}, {agent}, {address}, {phone}, {emergency_phone}) are
        filled in automatically; anything else must be passed, or the error names it.
        """
        lang = _lang(lang)
        try:
            template = self.lines[key][lang]
        except KeyError:
            raise PersonaError(f"persona {self.key!r} has no line {key!r}") from None
        fields: dict[str, object] = {
            "clinic": self.clinic_names[lang],
            "agent": self.agent_name,
            "address": self.addresses[lang],
            "phone": self.phone_spoken,
            "emergency_phone": self.emergency_phone_spoken,
        }
        fields.update(values)
        try:
            return template.format_map(fields)
        except KeyError as exc:
            raise PersonaError(
                f"line {key!r} ({lang}) needs a value for {{{exc.args[0]}}}"
            ) from None

    def greeting_for(
        self, now: datetime, lang: str, *, outbound: bool = False, name: str = ""
    ) -> str:
        """The opening line, with good morning/afternoon/evening by the clinic's clock.

        On a call we placed, the agent greets the person by name (when known) and says who is
        calling, instead of thanking them for calling.
        """
        local = self.local(now).time()
        if local < self.afternoon_from:
            part = "salutation_morning"
        elif local < self.evening_from:
            part = "salutation_afternoon"
        else:
            part = "salutation_evening"
        salutation = self.line(part, lang)
        if not outbound:
            return self.line("greeting", lang, salutation=salutation)
        if name.strip():
            return self.line("greeting_outbound", lang, salutation=salutation, name=name.strip())
        return self.line("greeting_outbound_unnamed", lang, salutation=salutation)

    def join(self, items: Sequence[str], lang: str, conjunction: str = "and") -> str:
        """ "a, b and c" in the language, Spanish "y"→"e" / "o"→"u" included."""
        items = [i for i in items if i]
        if not items:
            return ""
        if len(items) == 1:
            return items[0]
        word = self.line(conjunction, lang)
        last = items[-1]
        if _lang(lang) == "es":
            head = last.lower()
            if word == "y" and (head.startswith(("i", "hi")) and not head.startswith("hie")):
                word = "e"
            elif word == "o" and head.startswith(("o", "ho")):
                word = "u"
        return f"{', '.join(items[:-1])} {word} {last}"

    # -- time -----------------------------------------------------------------------------------

    def local(self, moment: datetime) -> datetime:
        """``moment`` on the clinic's clock (naive datetimes are taken as UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
        return moment.astimezone(self.zone)

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

    def format_time(self, value: time, lang: str) -> str:
        """ "10:30 AM" / "10:30 de la mañana": how a receptionist reads a time."""
        h12 = value.hour % 12 or 12
        clock = f"{h12}:{value.minute:02d}"
        if _lang(lang) == "en":
            return f"{clock} {'AM' if value.hour < 12 else 'PM'}"
        if value.hour < 12:
            return f"{clock} de la mañana"
        if value.hour == 12:
            return f"{clock} del día"
        return f"{clock} de la tarde" if value.hour < 20 else f"{clock} de la noche"

    def format_day(self, day: date, lang: str) -> str:
        """ "Tuesday, November 24" / "martes 24 de noviembre"."""
        lang = _lang(lang)
        weekday = _DAY_NAMES[lang][day.weekday()]
        month = _MONTH_NAMES[lang][day.month - 1]
        if lang == "en":
            return f"{weekday}, {month} {day.day}"
        return f"{weekday} {day.day} de {month}"

    def format_when(self, moment: datetime, lang: str) -> str:
        """Day and time on the clinic's clock: "Tuesday, November 24 at 10:00 AM"."""
        local = self.local(moment)
        day = self.format_day(local.date(), lang)
        clock = self.format_time(local.time(), lang)
        if _lang(lang) == "en":
            return f"{day} at {clock}"
        article = "la" if local.hour % 12 == 1 else "las"
        return f"{day} a {article} {clock}"

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
        lang = _lang(lang)
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
                name = _DAY_NAMES_PLURAL_ES[first] if lang == "es" else _DAY_NAMES[lang][first]
                parts.append(self.line("hours_single", lang, day=name, ranges=spoken))
            else:
                parts.append(
                    self.line(
                        "hours_span",
                        lang,
                        first=_DAY_NAMES[lang][first],
                        last=_DAY_NAMES[lang][last],
                        ranges=spoken,
                    )
                )
        sentences = (
            [self.line("hours_open", lang, schedule=self.join(parts, lang))] if parts else []
        )
        closed = [i for i in range(7) if not self.hours.get(i)]
        if closed:
            names = [
                _DAY_NAMES_PLURAL_ES[i] if lang == "es" else _DAY_NAMES[lang][i] + "s"
                for i in closed
            ]
            sentences.append(self.line("hours_closed", lang, days=self.join(names, lang)))
        return " ".join(sentences)

    # -- prices -----------------------------------------------------------------------------------

    def format_price(self, amount: int, lang: str) -> str:
        return f"{amount:,} {self.currency[_lang(lang)]}"

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
            return _capitalize(items[0]) + "."
        return self.line("prices_all", lang, items=self.join(items, lang))

    def service_keywords(self, lang: str) -> dict[str, tuple[str, ...]]:
        """Service key → words callers use for it, for :func:`understanding.match_service`."""
        lang = _lang(lang)
        return {key: s.keywords[lang] for key, s in self.services.items()}

    def service_label(self, key: str, lang: str) -> str:
        service = self.services.get(key) or self.services[self.default_service]
        return service.label(lang)

    def missing_lines(self, keys: Iterable[str]) -> list[str]:
        return [k for k in keys if k not in self.lines]


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise PersonaError(f"unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang


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
