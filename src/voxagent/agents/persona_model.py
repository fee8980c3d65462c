"""The persona model: the clinic's facts and lines as an immutable :class:`Persona`, with the
helpers that fill lines and speak times, days, hours and prices in each language.

Loading and validating a persona file is :mod:`voxagent.agents.persona`, which also exports
these names; they live apart so that the model and the TOML checks each read in one sitting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["CORE_LINES", "LANGUAGES", "Persona", "PersonaError", "Service"]

LANGUAGES = ("en", "es")

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
