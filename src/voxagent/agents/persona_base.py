"""What every persona has, whatever its business: a name, a clock, a phone, and its lines.

A clinic receptionist (:class:`~voxagent.agents.persona_model.Persona`) and an apartment
concierge (:class:`~voxagent.agents.concierge_persona.ConciergePersona`) know different facts,
but the engine, the greeting and the words they speak work the same way. This base holds that
shared part, so the call factory and the engine can treat any persona alike: fill a line,
greet by the time of day, read a day or a time aloud, name the phone a caller is transferred to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import ClassVar
from zoneinfo import ZoneInfo

__all__ = [
    "CORE_LINES",
    "DAY_NAMES",
    "ENGINE_LINES",
    "LANGUAGES",
    "MONTH_NAMES",
    "BasePersona",
    "PersonaError",
    "capitalize",
    "checked_lang",
]

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

# Lines the engine itself says on any call, whichever agent runs it (and the drain's goodbye).
ENGINE_LINES = (
    "technical_trouble",
    "say_again",
    "still_there",
    "no_input_goodbye",
    "shutdown",
    "reconnected",
)

DAY_NAMES = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
MONTH_NAMES = {
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
class BasePersona:
    """The part of a loaded persona that does not depend on its business. Immutable."""

    kind: ClassVar[str] = ""
    """The persona's kind as its file declares it (``clinic``, ``concierge``)."""

    key: str
    source: str
    agent_name: str
    time_zone: str
    addresses: Mapping[str, str]
    phone: str
    """E.164 number calls are transferred to."""
    phone_spoken: str
    currency: Mapping[str, str]
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

    def business_name(self, lang: str) -> str:
        """The business the persona speaks for, in ``lang``."""
        raise NotImplementedError

    def facts(self, lang: str) -> dict[str, object]:
        """The placeholders every line may use without passing them ({agent}, {phone}…)."""
        return {
            "agent": self.agent_name,
            "address": self.addresses[lang],
            "phone": self.phone_spoken,
        }

    def line(self, key: str, lang: str, **values: object) -> str:
        """The line ``key`` in ``lang`` with its placeholders filled.

        The business's own facts (see :meth:`facts`) are filled in automatically; anything
        else must be passed, or the error names it.
        """
        lang = checked_lang(lang)
        try:
            template = self.lines[key][lang]
        except KeyError:
            raise PersonaError(f"persona {self.key!r} has no line {key!r}") from None
        fields = self.facts(lang)
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
        """The opening line, with good morning/afternoon/evening by the business's clock.

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
        if checked_lang(lang) == "es":
            head = last.lower()
            if word == "y" and (head.startswith(("i", "hi")) and not head.startswith("hie")):
                word = "e"
            elif word == "o" and head.startswith(("o", "ho")):
                word = "u"
        return f"{', '.join(items[:-1])} {word} {last}"

    def missing_lines(self, keys: Iterable[str]) -> list[str]:
        return [k for k in keys if k not in self.lines]

    # -- time -----------------------------------------------------------------------------------

    def local(self, moment: datetime) -> datetime:
        """``moment`` on the business's clock (naive datetimes are taken as UTC)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo("UTC"))
        return moment.astimezone(self.zone)

    def format_time(self, value: time, lang: str) -> str:
        """ "10:30 AM" / "10:30 de la mañana": how a receptionist reads a time."""
        h12 = value.hour % 12 or 12
        clock = f"{h12}:{value.minute:02d}"
        if checked_lang(lang) == "en":
            return f"{clock} {'AM' if value.hour < 12 else 'PM'}"
        if value.hour < 12:
            return f"{clock} de la mañana"
        if value.hour == 12:
            return f"{clock} del día"
        return f"{clock} de la tarde" if value.hour < 20 else f"{clock} de la noche"

    def format_day(self, day: date, lang: str) -> str:
        """ "Tuesday, November 24" / "martes 24 de noviembre"."""
        lang = checked_lang(lang)
        weekday = DAY_NAMES[lang][day.weekday()]
        month = MONTH_NAMES[lang][day.month - 1]
        if lang == "en":
            return f"{weekday}, {month} {day.day}"
        return f"{weekday} {day.day} de {month}"

    def format_when(self, moment: datetime, lang: str) -> str:
        """Day and time on the business's clock: "Tuesday, November 24 at 10:00 AM"."""
        local = self.local(moment)
        day = self.format_day(local.date(), lang)
        clock = self.format_time(local.time(), lang)
        if checked_lang(lang) == "en":
            return f"{day} at {clock}"
        article = "la" if local.hour % 12 == 1 else "las"
        return f"{day} a {article} {clock}"

    def format_price(self, amount: int, lang: str) -> str:
        return f"{amount:,} {self.currency[checked_lang(lang)]}"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def checked_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise PersonaError(f"unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}")
    return lang
