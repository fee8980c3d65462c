"""Reading clock times from a transcript: "ten thirty", "a quarter to eleven", "tree p m",
"a las diez de la mañana", with AM/PM guessed when the caller leaves it out.

Part of :mod:`voxagent.agents.understanding` (which exports the public names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from voxagent.agents.understanding_days import _month
from voxagent.agents.understanding_words import _ORDINAL_SUFFIXES, read_number, tokenize

# -- times ----------------------------------------------------------------------------------------

Meridiem = str  # "am" | "pm"

_EN_TIME_LEADS = frozenset(
    {"at", "around", "about", "by", "after", "before", "from", "until", "till", "til", "say"}
)
_ES_TIME_LEADS = frozenset({"las", "la", "como", "tipo", "desde", "antes", "despues"})
# Hour words as PocketSphinx mishears them over the phone ("a tree in the afternoon"). Only
# trusted right before "p m", "in the afternoon", "o'clock": "for" and "to" are words too.
_EN_HOUR_SOUNDALIKES = {
    "won": 1, "too": 2, "to": 2, "tree": 3, "free": 3, "read": 3, "for": 4, "fore": 4,
    "fife": 5,
    "sicks": 6, "ate": 8, "nein": 9, "tin": 10, "then": 10,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SpokenTime:
    """A clock time as the caller said it; the hour may still lack its AM/PM."""

    hour: int
    minute: int = 0
    meridiem: Meridiem | None = None

    def resolve(self, earliest_hour: int = 7) -> time:
        """The 24-hour time. Without AM/PM, hours before ``earliest_hour`` are taken as PM.

        Nobody books a vet for 3 in the morning: "three" means 15:00 and "ten" 10:00.
        """
        hour = self.hour
        if self.meridiem == "am" and 1 <= hour <= 12:
            hour %= 12
        elif self.meridiem == "pm" and 1 <= hour <= 12:
            hour = hour % 12 + 12
        elif self.meridiem is None and 1 <= hour < 12 and hour < earliest_hour:
            hour += 12
        return time(hour % 24, self.minute)


def meridiem_hint(text: str, lang: str = "en") -> Meridiem | None:
    """Part of day mentioned anywhere ("tomorrow morning", "por la tarde")."""
    tokens = tokenize(text)
    if lang == "es":
        for i, word in enumerate(tokens):
            if word == "manana" and i > 0 and tokens[i - 1] == "la":
                return "am"
            if word in ("madrugada",):
                return "am"
            if word in ("tarde", "noche"):
                return "pm"
        return None
    if "morning" in tokens:
        return "am"
    if any(w in tokens for w in ("afternoon", "evening", "tonight", "night")):
        return "pm"
    return None


def _read_meridiem(tokens: Sequence[str], k: int, lang: str) -> tuple[Meridiem | None, bool, int]:
    """AM/PM words after a number: (meridiem, said o'clock, index after them)."""
    n = len(tokens)
    rest = tokens[k : k + 3]
    if lang == "es":
        if rest[:2] == ["en", "punto"]:
            return None, True, k + 2
        if len(rest) >= 3 and rest[0] in ("de", "en", "por") and rest[1] == "la":
            if rest[2] in ("manana", "madrugada"):
                return "am", False, k + 3
            if rest[2] in ("tarde", "noche"):
                return "pm", False, k + 3
        if rest[:2] == ["del", "dia"]:
            return "pm", False, k + 2
    if k < n and tokens[k] in ("am", "pm"):
        return tokens[k], False, k + 1
    if rest[:2] in (["a", "m"], ["p", "m"]):
        return f"{rest[0]}m", False, k + 2
    if lang == "en":
        if k < n and tokens[k] == "o'clock":
            return None, True, k + 1
        if rest[:2] == ["o", "clock"]:
            return None, True, k + 2
        if rest[:2] in (["in", "the"], ["and", "the"]) and len(rest) == 3:
            if rest[2] == "morning":
                return "am", False, k + 3
            if rest[2] in ("afternoon", "evening"):
                return "pm", False, k + 3
        if rest[:2] == ["at", "night"]:
            return "pm", False, k + 2
        if rest[:1] == ["tonight"]:
            return "pm", False, k + 1
    return None, False, k


def _date_context(tokens: Sequence[str], i: int, j: int, lang: str) -> bool:
    """Whether the number at tokens[i:j] is a day of the month rather than a time."""
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[j] if j < len(tokens) else ""
    if after in _ORDINAL_SUFFIXES or _month(before, lang) or _month(after, lang):
        return True
    if lang == "es":
        return before == "el" or (
            after == "de" and j + 1 < len(tokens) and bool(_month(tokens[j + 1], lang))
        )
    return before == "the" or (
        after == "of" and j + 1 < len(tokens) and bool(_month(tokens[j + 1], lang))
    )


def parse_time(text: str, lang: str = "en", *, expecting: bool = False) -> SpokenTime | None:
    """The clock time in an utterance, or None.

    A bare number counts as a time only when something marks it as one ("at ten", "ten a m",
    "ten thirty", "ten o'clock", "a las diez") or when the caller is answering "what time?"
    (``expecting``), so "two dogs" is not 2 PM.
    """
    tokens = tokenize(text)
    found = _scan_time(tokens, lang, strict=True)
    if found is None and expecting:
        found = _scan_time(tokens, lang, strict=False)
    if found is not None and found.meridiem is None:
        hint = meridiem_hint(text, lang)
        if hint is not None and 1 <= found.hour <= 12:
            found = SpokenTime(found.hour, found.minute, hint)
    return found


def _scan_time(tokens: Sequence[str], lang: str, *, strict: bool) -> SpokenTime | None:
    n = len(tokens)
    leads = _ES_TIME_LEADS if lang == "es" else _EN_TIME_LEADS
    i = 0
    while i < n:
        word = tokens[i]
        special = _special_time(tokens, i, lang)
        if special is not None:
            return special
        number = read_number(tokens, i, lang)
        if number is None:
            misheard = _misheard_hour(tokens, i, lang)
            if misheard is not None:
                return misheard
            i += 1
            continue
        hour, j = number
        if hour > 23 or _date_context(tokens, i, j, lang):
            i = j
            continue
        minute, has_minutes, k = _read_minutes(tokens, j, lang)
        if minute < 0:  # "once menos cuarto": a quarter before the hour
            hour, minute = (hour - 1) % 24 or 12, 60 + minute
        meridiem, oclock, _ = _read_meridiem(tokens, k, lang)
        before = tokens[i - 1] if i > 0 else ""
        marked = before in leads or meridiem is not None or oclock or has_minutes
        bare_one = lang == "en" and word == "one" and not (meridiem or oclock or has_minutes)
        if bare_one and before not in ("at", "around", "about", "by"):
            i = j  # "the first one", "that one": only "at one" and the like are times
            continue
        if marked or not strict:
            if meridiem is not None and hour > 12:
                meridiem = None
            return SpokenTime(hour, minute, meridiem)
        i = j
    return None


def _misheard_hour(tokens: Sequence[str], i: int, lang: str) -> SpokenTime | None:
    """ "tree p m" → 3 pm: a sound-alike of an hour word, vouched for by what follows it."""
    if lang != "en" or tokens[i] not in _EN_HOUR_SOUNDALIKES:
        return None
    meridiem, oclock, _ = _read_meridiem(tokens, i + 1, lang)
    if meridiem is None and not oclock:
        return None
    return SpokenTime(_EN_HOUR_SOUNDALIKES[tokens[i]], 0, meridiem)


def _special_time(tokens: Sequence[str], i: int, lang: str) -> SpokenTime | None:
    """Noon, "half past two", "quarter to eleven", "cuarto para las once"."""
    word = tokens[i]
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if lang == "es":
        if word == "mediodia" or (word == "medio" and nxt == "dia"):
            return SpokenTime(12, 0, "pm")
        if word == "cuarto" and nxt == "para":
            k = i + 2 + (1 if i + 2 < len(tokens) and tokens[i + 2] in ("las", "la") else 0)
            hour = read_number(tokens, k, lang)
            if hour is not None and 1 <= hour[0] <= 24:
                return SpokenTime((hour[0] - 1) or 12, 45, _read_meridiem(tokens, hour[1], lang)[0])
        return None
    if word in ("noon", "midday", "noontime"):
        return SpokenTime(12, 0, "pm")
    offsets = {"half": 30, "quarter": 15}
    if word in offsets and nxt in ("past", "after"):
        hour = read_number(tokens, i + 2, lang)
        if hour is not None and 1 <= hour[0] <= 23:
            return SpokenTime(hour[0], offsets[word], _read_meridiem(tokens, hour[1], lang)[0])
    if word == "quarter" and nxt in ("to", "till", "til", "of", "before"):
        hour = read_number(tokens, i + 2, lang)
        if hour is not None and 1 <= hour[0] <= 24:
            meridiem = _read_meridiem(tokens, hour[1], lang)[0]
            return SpokenTime((hour[0] - 1) or 12, 45, meridiem)
    return None


def _read_minutes(tokens: Sequence[str], j: int, lang: str) -> tuple[int, bool, int]:
    """Minutes after an hour: (minutes, whether any were said, index after them).

    Negative minutes mean "before the hour" (Spanish "menos cuarto").
    """
    n = len(tokens)
    nxt = tokens[j] if j < n else ""
    if lang == "es":
        if nxt == "y" and j + 1 < n:
            if tokens[j + 1] == "media":
                return 30, True, j + 2
            if tokens[j + 1] == "cuarto":
                return 15, True, j + 2
            minutes = read_number(tokens, j + 1, lang)
            if minutes is not None and 1 <= minutes[0] <= 59:
                return minutes[0], True, minutes[1]
        if nxt == "menos" and j + 1 < n and tokens[j + 1] == "cuarto":
            return -15, True, j + 2
    if lang == "en" and nxt in ("oh", "o") and j + 1 < n:
        digit = read_number(tokens, j + 1, lang)
        if digit is not None and 0 <= digit[0] <= 9:
            return digit[0], True, digit[1]
    minutes = read_number(tokens, j, lang)
    if (
        minutes is not None
        and 10 <= minutes[0] <= 59
        and not _date_context(tokens, j, minutes[1], lang)
    ):
        return minutes[0], True, minutes[1]
    if minutes is not None and minutes[0] == 0 and tokens[j] in ("00", "zero"):
        return 0, True, minutes[1]
    return 0, False, j
