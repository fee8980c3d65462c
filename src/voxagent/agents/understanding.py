"""Reading messy speech-recognizer transcripts: numbers, times, days, intents and pet names.

PocketSphinx hands us lowercase words without punctuation, numbers as words, and frequent
mistakes ("book and appointment", "a pointment", "macs" for "max"). So everything here matches
loosely: keyword phrases compared word by word with difflib ratios (and with two neighbouring
words glued together, for splits like "a pointment"), number words, and a few rewrites of known
mis-hearings. It is pure and I/O-free, so tests are plain text in, values out.

Spanish (``lang="es"``) has its own word lists, for when a Spanish recognizer is configured;
accents are folded away before matching, so "mañana" and "manana" are the same word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from difflib import SequenceMatcher
from enum import StrEnum
from functools import lru_cache

# -- words ----------------------------------------------------------------------------------------

# Known mis-hearings and spellings, rewritten before anything else looks at the words.
_REWRITES: dict[str, tuple[str, ...]] = {
    "attend": ("at", "ten"),
    "oclock": ("o'clock",),
    "tomorrows": ("tomorrow",),
    "tomorrow's": ("tomorrow",),
    "today's": ("today",),
    "i'd": ("i", "would"),
    "noon's": ("noon",),
    "okey": ("okay",),
    "mourning": ("morning",),
}
_FILLERS = frozenset({"uh", "um", "umm", "uhm", "hmm", "er", "erm", "ah", "oh", "mm", "eh", "este"})


def fold(text: str) -> str:
    """Lowercase without accents, so "Mañana" == "manana" and "Sí" == "si"."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokenize(text: str) -> list[str]:
    """Words of a transcript, folded, with digits split from letters ("10am" → "10", "am")."""
    t = fold(text)
    t = re.sub(r"\b([ap])\.\s*m\b\.?", r"\1m", t)
    t = re.sub(r"(\d)([a-z])", r"\1 \2", t)
    t = re.sub(r"([a-z])(\d)", r"\1 \2", t)
    out: list[str] = []
    for word in re.findall(r"[a-z0-9]+(?:'[a-z]+)*", t):
        out.extend(_REWRITES.get(word, (word,)))
    return out


def is_filler(text: str) -> bool:
    """Nothing but hesitation noises (or nothing at all)."""
    return all(w in _FILLERS for w in tokenize(text))


@lru_cache(maxsize=65536)
def similar(word: str, keyword: str) -> bool:
    """Whether a heard word is close enough to a keyword to be taken for it.

    Short words must match exactly ("no" is not "so"); longer ones may differ a little
    ("vacation" passes for "vaccination"), more strictly for 5-6 letters ("cancer" is not
    "cancel").
    """
    if word == keyword:
        return True
    if len(keyword) < 5 or len(word) < 4 or abs(len(word) - len(keyword)) > 3:
        return False
    threshold = 0.8 if len(keyword) >= 7 else 0.85
    if 2 * min(len(word), len(keyword)) < threshold * (len(word) + len(keyword)):
        return False  # the lengths alone rule it out
    matcher = SequenceMatcher(None, word, keyword)
    # The cheap upper bounds reject most pairs before the full comparison runs.
    return matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold


@lru_cache(maxsize=4096)
def _phrase(text: str) -> tuple[str, ...]:
    """A keyword phrase as tokens; "*" stands for any one word ("bring * in")."""
    words: list[str] = []
    for part in text.split():
        words.extend(("*",) if part == "*" else tokenize(part))
    return tuple(words)


def _match_at(tokens: Sequence[str], i: int, phrase: Sequence[str]) -> int:
    """How many tokens ``phrase`` covers at position ``i`` (0 when it does not match there)."""
    if len(phrase) == 1 and len(phrase[0]) >= 6 and i + 1 < len(tokens):
        glued = tokens[i] + tokens[i + 1]
        if not similar(tokens[i], phrase[0]) and similar(glued, phrase[0]):
            return 2
    if i + len(phrase) > len(tokens):
        return 0
    for offset, word in enumerate(phrase):
        if word != "*" and not similar(tokens[i + offset], word):
            return 0
    return len(phrase)


def find_phrase(tokens: Sequence[str], phrases: Iterable[str]) -> tuple[int, int] | None:
    """The earliest (start, length) where any of ``phrases`` occurs, fuzzily."""
    best: tuple[int, int] | None = None
    for text in phrases:
        words = _phrase(text)
        if not words:
            continue
        for i in range(len(tokens)):
            if best is not None and i > best[0]:
                break
            covered = _match_at(tokens, i, words)
            if covered and (best is None or i < best[0] or covered > best[1]):
                best = (i, covered)
                break
    return best


def contains(text: str | Sequence[str], phrases: Iterable[str]) -> bool:
    tokens = tokenize(text) if isinstance(text, str) else text
    return find_phrase(tokens, phrases) is not None


# -- numbers --------------------------------------------------------------------------------------

_EN_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
_EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_EN_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_ES_SMALL = {
    "cero": 0, "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
    "trece": 13, "catorce": 14, "quince": 15, "dieciseis": 16, "diecisiete": 17,
    "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiuno": 21, "veintiun": 21,
    "veintiuna": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24,
    "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28,
    "veintinueve": 29,
}  # fmt: skip
_ES_TENS = {"treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60}
_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
# Hour words as PocketSphinx mishears them over the phone ("a tree in the afternoon"). Only
# trusted right before "p m", "in the afternoon", "o'clock": "for" and "to" are words too.
_EN_HOUR_SOUNDALIKES = {
    "won": 1, "too": 2, "to": 2, "tree": 3, "free": 3, "for": 4, "fore": 4, "fife": 5,
    "sicks": 6, "ate": 8, "nein": 9, "tin": 10, "then": 10,
}  # fmt: skip


def read_number(tokens: Sequence[str], i: int, lang: str = "en") -> tuple[int, int] | None:
    """A cardinal 0–99 starting at ``tokens[i]``: (value, index after it), or None.

    "twenty four" and "treinta y cinco" are one number; "ten thirty" is two (read them one
    after the other).
    """
    if i >= len(tokens):
        return None
    word = tokens[i]
    if word.isdigit():
        return (int(word), i + 1) if len(word) <= 4 else None
    small, tens = (_ES_SMALL, _ES_TENS) if lang == "es" else (_EN_SMALL, _EN_TENS)
    if word in tens:
        value = tens[word]
        if lang == "es":
            if (
                i + 2 < len(tokens)
                and tokens[i + 1] == "y"
                and 1 <= small.get(tokens[i + 2], 0) <= 9
            ):
                return value + small[tokens[i + 2]], i + 3
        elif i + 1 < len(tokens) and 1 <= small.get(tokens[i + 1], 0) <= 9:
            return value + small[tokens[i + 1]], i + 2
        return value, i + 1
    if word in small:
        return small[word], i + 1
    return None


def read_ordinal(tokens: Sequence[str], i: int, lang: str = "en") -> tuple[int, int] | None:
    """A day of the month as said: "24th", "twenty fourth", "first", "primero" → (day, next)."""
    if i >= len(tokens):
        return None
    word = tokens[i]
    if word.isdigit() and i + 1 < len(tokens) and tokens[i + 1] in _ORDINAL_SUFFIXES:
        return int(word), i + 2
    if lang == "es":
        return (1, i + 1) if word in ("primero", "primer") else None
    if word in _EN_ORDINALS:
        return _EN_ORDINALS[word], i + 1
    if word in _EN_TENS and i + 1 < len(tokens) and tokens[i + 1] in _EN_ORDINALS:
        unit = _EN_ORDINALS[tokens[i + 1]]
        if unit <= 9:
            return _EN_TENS[word] + unit, i + 2
    return None


# -- times ----------------------------------------------------------------------------------------

Meridiem = str  # "am" | "pm"

_EN_TIME_LEADS = frozenset(
    {"at", "around", "about", "by", "after", "before", "from", "until", "till", "til", "say"}
)
_ES_TIME_LEADS = frozenset({"las", "la", "como", "tipo", "desde", "antes", "despues"})


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


# -- days -----------------------------------------------------------------------------------------

_WEEKDAYS = {
    "en": ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    "es": ("lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo"),
}
_MONTHS = {
    "en": (
        "january", "february", "march", "april", "may", "june", "july", "august",
        "september", "october", "november", "december",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
        "septiembre", "octubre", "noviembre", "diciembre",
    ),
}  # fmt: skip


def _closest(word: str, names: Sequence[str]) -> int | None:
    """Index of the name ``word`` is (closest to), so "thursday" is never taken for "tuesday"."""
    if word in names:
        return names.index(word)
    scored = [
        (SequenceMatcher(None, word, name).ratio(), index)
        for index, name in enumerate(names)
        if similar(word, name)
    ]
    return max(scored)[1] if scored else None


def _month(word: str, lang: str) -> int | None:
    if lang == "es" and word == "setiembre":
        return 9
    index = _closest(word, _MONTHS["es" if lang == "es" else "en"])
    return None if index is None else index + 1


def _weekday_at(tokens: Sequence[str], i: int, lang: str) -> int | None:
    word = tokens[i].removesuffix("'s")
    names = _WEEKDAYS["es" if lang == "es" else "en"]
    found = _closest(word, names)
    if found is None and word.endswith("s"):
        found = _closest(word[:-1], names)
    return found


def parse_day(text: str, today: date, lang: str = "en") -> date | None:
    """The calendar day an utterance names, relative to ``today`` (the clinic's date).

    A bare weekday means its next occurrence after today ("monday" said on a Monday is next
    week's); "this monday" may be today. Dates without a year are the next such date.
    """
    tokens = tokenize(text)
    if not tokens:
        return None
    explicit = _explicit_date(tokens, today, lang)
    if explicit is not None:
        return explicit
    if lang == "es":
        for i, word in enumerate(tokens):
            if word == "manana" and i > 0 and tokens[i - 1] == "pasado":
                return today + timedelta(days=2)
        for i, word in enumerate(tokens):
            if word == "manana" and not (i > 0 and tokens[i - 1] in ("la", "las")):
                return today + timedelta(days=1)
        if "hoy" in tokens or contains(tokens, ("esta tarde", "esta noche")):
            return today
        this_words: tuple[str, ...] = ("este", "esta", "hoy")
        next_words: tuple[str, ...] = ("proximo", "proxima", "siguiente")
    else:
        if find_phrase(tokens, ("day after tomorrow",)) is not None:
            return today + timedelta(days=2)
        if find_phrase(tokens, ("tomorrow",)) is not None:
            return today + timedelta(days=1)
        if find_phrase(
            tokens, ("today", "tonight", "this morning", "this afternoon", "this evening")
        ):
            return today
        this_words, next_words = ("this",), ("next",)
    for i in range(len(tokens)):
        weekday = _weekday_at(tokens, i, lang)
        if weekday is None:
            continue
        ahead = (weekday - today.weekday()) % 7
        before = tokens[i - 1] if i > 0 else ""
        if ahead == 0 and before not in this_words:
            ahead = 7
        if before in next_words and ahead == 0:
            ahead = 7
        return today + timedelta(days=ahead)
    return None


def _explicit_date(tokens: Sequence[str], today: date, lang: str) -> date | None:
    """ "november twenty fourth", "the 24th", "24 de noviembre", "el veinticuatro"."""
    n = len(tokens)
    for i in range(n):
        month = _month(tokens[i], lang)
        if month is None:
            continue
        # month then day: "november twenty fourth", "november the 24th"
        k = i + 1 + (1 if i + 1 < n and tokens[i + 1] == "the" else 0)
        day = read_ordinal(tokens, k, lang) or read_number(tokens, k, lang)
        if day is None:
            # day then month: "24th of november", "24 de noviembre"
            k = i - 1 - (1 if i >= 2 and tokens[i - 1] in ("of", "de") else 0)
            for start in (k - 1, k - 2, k):
                if start < 0:
                    continue
                found = read_ordinal(tokens, start, lang) or read_number(tokens, start, lang)
                if found is not None and found[1] == k + 1:
                    day = found
                    break
        if day is not None:
            return _next_date(today, month, day[0])
    for i in range(n):
        lead = tokens[i - 1] if i > 0 else ""
        ordinal = read_ordinal(tokens, i, lang)
        if ordinal is None and lang == "es" and lead == "el":
            number = read_number(tokens, i, lang)
            if number is not None:
                ordinal = number
        if ordinal is None or not 1 <= ordinal[0] <= 31:
            continue
        if lang == "en" and lead not in ("the", "on") and not tokens[i].isdigit():
            continue  # "first" alone is a choice, not a date
        if ordinal[1] < n and tokens[ordinal[1]] in ("one", "option"):
            continue  # "the first one"
        month = today.month if ordinal[0] >= today.day else today.month % 12 + 1
        return _next_date(today, month, ordinal[0])
    return None


def _next_date(today: date, month: int, day: int) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None


# -- intents --------------------------------------------------------------------------------------


class Intent(StrEnum):
    """What a caller wants from one utterance; several may be present at once."""

    BOOK = "book"
    CANCEL = "cancel"
    STOP = "stop"
    HOURS = "hours"
    ADDRESS = "address"
    PRICES = "prices"
    EMERGENCY = "emergency"
    HUMAN = "human"
    YES = "yes"
    NO = "no"
    GOODBYE = "goodbye"
    THANKS = "thanks"


INFO_INTENTS = frozenset({Intent.HOURS, Intent.ADDRESS, Intent.PRICES})

_EN_KEYWORDS: dict[Intent, tuple[str, ...]] = {
    Intent.BOOK: (
        "book", "booking", "schedule", "appointment", "reserve", "reservation", "set up",
        "come in", "bring * in", "bring * * in", "see the vet", "see a vet", "see a doctor",
    ),
    Intent.CANCEL: (
        "cancel", "cancellation", "call off", "can't make it", "cannot make it",
        "won't make it", "not going to make it",
    ),
    Intent.STOP: ("never mind", "nevermind", "forget it", "forget about it", "scratch that"),
    Intent.HOURS: (
        "hours", "open", "opening", "close", "closing", "what time do you", "when do you",
    ),
    Intent.ADDRESS: (
        "address", "located", "location", "where are you", "where is", "where's",
        "directions", "how do i get", "get there", "find you",
    ),
    Intent.PRICES: (
        "price", "prices", "pricing", "prize", "prizes", "cost", "costs", "how much", "fee",
        "fees", "charge", "rates", "expensive",
    ),
    Intent.EMERGENCY: (
        "emergency", "urgent", "urgently", "bleeding", "poison", "poisoned", "ate chocolate",
        "hit by a car", "not breathing", "can't breathe", "cannot breathe", "seizure",
        "seizures", "collapsed", "choking", "unconscious", "dying",
    ),
    Intent.HUMAN: (
        "human", "real person", "a person", "operator", "representative", "transfer",
        "speak to", "speak with", "talk to", "talk with", "someone", "somebody",
        "receptionist", "staff", "manager",
    ),
    Intent.YES: (
        "yes", "yeah", "yea", "yep", "yup", "ya", "yah", "sure", "correct", "right", "ok",
        "okay", "alright", "all right", "please do", "go ahead", "sounds good", "perfect",
        "great", "absolutely", "of course", "definitely", "confirm", "book it", "do it",
        "exactly", "fine", "that works", "affirmative", "no problem",
    ),
    Intent.NO: (
        "no", "nope", "nah", "not really", "not right", "not correct", "wrong", "incorrect",
        "negative", "don't", "do not", "nothing", "i'm good", "i am good",
    ),
    Intent.GOODBYE: (
        "goodbye", "good bye", "bye", "bye bye", "that's all", "that is all",
        "that'll be all", "that's it", "that is it", "nothing else", "have a good day",
        "have a nice day", "have a great day", "see you", "hang up", "i'm done", "all set",
    ),
    Intent.THANKS: ("thank", "thanks", "thank you", "appreciate"),
}  # fmt: skip

_ES_KEYWORDS: dict[Intent, tuple[str, ...]] = {
    Intent.BOOK: (
        "cita", "agendar", "agenda", "reservar", "reservacion", "programar", "sacar cita",
        "hacer una cita", "apartar", "llevar a", "traer a",
    ),
    Intent.CANCEL: ("cancelar", "cancela", "cancelacion", "anular", "no voy a poder ir"),
    Intent.STOP: ("olvidelo", "olvidalo", "mejor no", "dejelo", "dejalo"),
    Intent.HOURS: (
        "horario", "horarios", "abren", "cierran", "abierto", "abiertos", "que hora abren",
    ),
    Intent.ADDRESS: (
        "direccion", "donde estan", "donde se encuentran", "ubicados", "ubicacion",
        "como llego", "donde queda", "donde quedan",
    ),
    Intent.PRICES: (
        "precio", "precios", "cuanto cuesta", "cuanto cobran", "cuanto sale", "cuanto es",
        "costo", "costos", "cobran", "tarifa",
    ),
    Intent.EMERGENCY: (
        "emergencia", "urgencia", "urgente", "sangrando", "sangra", "envenenado",
        "envenenada", "atropellado", "atropellada", "convulsiones", "convulsionando",
        "no respira", "se esta muriendo",
    ),
    Intent.HUMAN: (
        "persona", "humano", "operador", "operadora", "transferir", "transfiera",
        "comunicar", "comuniqueme", "hablar con alguien", "alguien", "recepcion",
        "encargado", "encargada",
    ),
    Intent.YES: (
        "si", "claro", "correcto", "esta bien", "de acuerdo", "perfecto", "andale", "orale",
        "sale", "va", "exacto", "adelante", "por supuesto", "asi es", "okay", "ok", "vale",
        "bueno", "agendela", "agendala",
    ),
    Intent.NO: ("no", "para nada", "incorrecto", "nada"),
    Intent.GOODBYE: (
        "adios", "hasta luego", "bye", "es todo", "eso es todo", "seria todo", "nada mas",
        "hasta pronto", "que le vaya bien", "bonito dia", "buen dia",
    ),
    Intent.THANKS: ("gracias", "muchas gracias"),
}  # fmt: skip


@lru_cache(maxsize=4)
def _keyword_table(lang: str) -> tuple[tuple[tuple[str, ...], Intent], ...]:
    """All phrases, longest first, so "not right" claims its words before "right" does."""
    source = _ES_KEYWORDS if lang == "es" else _EN_KEYWORDS
    rows = [(_phrase(p), intent) for intent, phrases in source.items() for p in phrases]
    rows.sort(key=lambda row: -len(row[0]))
    return tuple(rows)


_NEGATORS = frozenset({"not", "don't", "isn't", "wasn't", "no", "never", "nunca"})


def detect_intents(text: str, lang: str = "en") -> frozenset[Intent]:
    """Every intent whose keywords occur in ``text``.

    Longer phrases claim their words first, and a "yes" word right after a negation
    ("that's not right") does not count as yes.
    """
    tokens = tokenize(text)
    used: set[int] = set()
    found: set[Intent] = set()
    yes_positions: list[int] = []
    for phrase, intent in _keyword_table(lang):
        for i in range(len(tokens)):
            covered = _match_at(tokens, i, phrase)
            if not covered or any(p in used for p in range(i, i + covered)):
                continue
            used.update(range(i, i + covered))
            found.add(intent)
            if intent is Intent.YES:
                yes_positions.append(i)
    if Intent.YES in found and yes_positions:
        negated = all(any(t in _NEGATORS for t in tokens[max(0, p - 3) : p]) for p in yes_positions)
        if negated:
            found.discard(Intent.YES)
            found.add(Intent.NO)
    return frozenset(found)


# -- services, choices, changes -------------------------------------------------------------------


def match_service(text: str, services: Mapping[str, Sequence[str]]) -> str | None:
    """Which service (key of ``services``, valued by keyword phrases) is mentioned first."""
    tokens = tokenize(text)
    best: tuple[int, int, str] | None = None
    for key, phrases in services.items():
        hit = find_phrase(tokens, phrases)
        if hit is not None and (best is None or (hit[0], -hit[1]) < (best[0], -best[1])):
            best = (hit[0], hit[1], key)
    return best[2] if best else None


_EN_CHOICES = {"first": 0, "second": 1, "third": 2, "earliest": 0, "earlier": 0}
_ES_CHOICES = {"primero": 0, "primera": 0, "segundo": 1, "segunda": 1, "tercero": 2, "tercera": 2}


def parse_choice(text: str, count: int, lang: str = "en") -> int | None:
    """Which of ``count`` offered options the caller picked ("the second one", "la última")."""
    tokens = tokenize(text)
    table = _ES_CHOICES if lang == "es" else _EN_CHOICES
    for word in tokens:
        if word in table and table[word] < count:
            return table[word]
        if word in ("last", "latest", "later", "ultimo", "ultima"):
            return count - 1 if count else None
    return None


def wants_earliest(text: str, lang: str = "en") -> bool:
    """ "As soon as possible", "the first available", "lo antes posible"."""
    phrases: tuple[str, ...]
    if lang == "es":
        phrases = ("lo antes posible", "lo mas pronto", "cuanto antes", "lo que haya")
    else:
        phrases = ("as soon as possible", "asap", "earliest", "soonest", "first available",
                   "next available", "whenever", "any time", "anytime")  # fmt: skip
    return contains(text, phrases)


def change_target(text: str, lang: str = "en") -> str | None:
    """Which part of a booking the caller wants to change: "when", "pet" or "reason"."""
    tokens = tokenize(text)
    targets = (
        {"when": ("dia", "hora", "fecha", "horario"), "pet": ("nombre", "mascota"),
         "reason": ("motivo", "servicio", "razon")}
        if lang == "es"
        else {"when": ("time", "day", "date", "hour", "when"), "pet": ("name", "pet"),
              "reason": ("reason", "service", "why", "visit")}
    )  # fmt: skip
    best: tuple[int, str] | None = None
    for target, words in targets.items():
        hit = find_phrase(tokens, words)
        if hit is not None and (best is None or hit[0] < best[0]):
            best = (hit[0], target)
    return best[1] if best else None


# -- pet names ------------------------------------------------------------------------------------

COMMON_PET_NAMES = (
    "Max", "Luna", "Bella", "Charlie", "Lucy", "Cooper", "Daisy", "Milo", "Rocky", "Buddy",
    "Coco", "Lola", "Bailey", "Molly", "Toby", "Oliver", "Simba", "Nala", "Chloe", "Sadie",
    "Zeus", "Duke", "Teddy", "Lily", "Loki", "Kira", "Canela", "Chispa", "Firulais",
    "Pelusa", "Princesa", "Nieve", "Bruno", "Thor", "Mia", "Oreo", "Pancho", "Negrito",
)  # fmt: skip

_SPECIES = frozenset({
    "dog", "dog's", "dogs", "cat", "cat's", "cats", "puppy", "puppy's", "kitten", "kitten's",
    "pet", "pet's", "bird", "rabbit", "bunny", "hamster", "parrot", "boy", "girl", "baby",
    "perro", "perrito", "perrita", "perra", "gato", "gata", "gatito", "gatita", "mascota",
    "cachorro", "cachorrita", "conejo", "perico", "little", "old", "new", "chihuahua",
    "labrador", "poodle", "beagle", "husky",
})  # fmt: skip

_NOT_NAMES = frozenset({
    # English function words and common verbs
    "a", "an", "the", "my", "our", "his", "her", "their", "your", "its", "it", "it's", "is",
    "he", "she", "he's", "she's", "they", "we", "i", "i'm", "me", "you", "him", "them",
    "this", "that", "that's", "these", "those", "there", "here", "what", "who", "which",
    "and", "or", "but", "so", "for", "to", "of", "in", "on", "at", "by", "with", "from",
    "name", "name's", "names", "named", "called", "call", "are", "was", "be", "been",
    "have", "has", "had", "do", "does", "did", "would", "like", "want", "need", "needs",
    "get", "book", "make", "please", "yes", "yeah", "no", "not", "okay", "ok", "sure",
    "well", "just", "actually", "really", "very", "also", "again", "thanks", "thank",
    "hello", "hi", "hey", "sorry", "appointment", "appointments", "visit", "today",
    "tomorrow", "morning", "afternoon", "evening", "night", "noon", "next", "week",
    "day", "time", "am", "pm", "o'clock", "sick", "fine", "good", "great", "ill", "hurt",
    "going", "gonna", "can", "could", "should", "will", "let", "said", "say",
    "um", "uh", "oh", "er", "hmm", "because", "about", "some", "any", "one", "none",
    "goes", "nickname", "male", "female", "years", "year", "months",
    # Spanish
    "se", "llama", "llaman", "su", "mi", "nombre", "es", "el", "la", "los", "las", "un",
    "una", "de", "del", "para", "por", "con", "que", "y", "o", "si", "bueno", "pues",
    "ella", "ello", "le", "lo", "cita", "quiero", "quisiera", "hoy", "manana", "tarde",
    "noche", "gracias", "hola", "este", "esta", "mire", "oiga", "tiene", "anos",
})  # fmt: skip

_EN_NAME_LEADS = (("name", "is"), ("name's",), ("names",), ("name",), ("called",), ("named",),
                  ("call", "him"), ("call", "her"), ("goes", "by"))  # fmt: skip
_ES_NAME_LEADS = (("se", "llama"), ("llama",), ("nombre", "es"), ("nombre",), ("le", "decimos"),
                  ("le", "dicen"))  # fmt: skip
_WEAK_LEADS = {"en": ("it's", "it is", "this is", "he's", "she's", "he is", "she is", "that's"),
               "es": ("es", "se llama")}  # fmt: skip


def _sound(word: str) -> str:
    """A rough phonetic key so "macs", "max" and "mac" land close together."""
    w = fold(word).removesuffix("'s")
    w = re.sub(r"ph", "f", w)
    w = re.sub(r"ck|q", "k", w)
    w = re.sub(r"c(?=[eiy])", "s", w)
    w = w.replace("c", "k").replace("x", "ks").replace("z", "s")
    w = re.sub(r"y$", "i", w)
    return re.sub(r"(.)\1+", r"\1", w)


def same_name(heard: str, name: str) -> bool:
    """Whether two pet names probably sound alike ("Macs" vs "Max")."""
    a, b = _sound(heard), _sound(name)
    if a == b:
        return True
    if min(len(a), len(b)) < 3 or abs(len(a) - len(b)) > 1:
        return False
    return SequenceMatcher(None, a, b).ratio() >= 0.85


def canonical_pet_name(word: str) -> str:
    """Capitalize, and snap near-misses of very common pet names to the name ("macs" → "Max")."""
    clean = fold(word).removesuffix("'s")
    for name in COMMON_PET_NAMES:
        if fold(name) == clean:
            return name
    for name in COMMON_PET_NAMES:
        if same_name(clean, name):
            return name
    return word.removesuffix("'s")[:1].upper() + word.removesuffix("'s")[1:].lower()


def _usable_name(
    tokens: Sequence[str], originals: Sequence[str], i: int, lang: str, exclude: frozenset[str]
) -> str | None:
    """The name at position ``i``, skipping "my dog" and the like; None if it is no name."""
    while i < len(tokens) and (
        tokens[i] in _SPECIES or tokens[i] in ("my", "our", "mi", "su", "a", "the", "el", "la")
    ):
        i += 1
    if i >= len(tokens):
        return None
    word = tokens[i]
    if not _plausible_name(word, lang, exclude):
        return None
    return canonical_pet_name(originals[i])


def _plausible_name(word: str, lang: str, exclude: frozenset[str]) -> bool:
    if not word.isalpha() and not (word.endswith("'s") and word[:-2].isalpha()):
        return False
    base = word.removesuffix("'s")
    if len(base) < 2 or base in _NOT_NAMES or base in _SPECIES or base in exclude:
        return False
    if (
        base in _FILLERS
        or read_number([base], 0, lang) is not None
        or read_ordinal([base], 0, lang)
    ):
        return False
    if _month(base, lang) or _weekday_at([base], 0, lang) is not None:
        return False
    return not any(similar(base, kw) for kw in exclude if len(kw) >= 5)


def extract_pet_name(
    text: str, lang: str = "en", *, expecting: bool = False, exclude: Iterable[str] = ()
) -> str | None:
    """The pet's name in an utterance ("his name is max", "for my dog rocky") → "Max".

    With ``expecting`` (we just asked for the name) a lone word also counts ("luna", "it's
    luna"). ``exclude`` lists words that are never names here (service keywords, say).
    """
    tokens = tokenize(text)
    originals = tokens
    blocked = frozenset(w for phrase in exclude for w in tokenize(phrase))
    leads = _ES_NAME_LEADS if lang == "es" else _EN_NAME_LEADS
    for lead in leads:
        hit = find_phrase(tokens, (" ".join(lead),))
        if hit is not None:
            name = _usable_name(tokens, originals, hit[0] + hit[1], lang, blocked)
            if name:
                return name
    for_word = "para" if lang == "es" else "for"
    for i, word in enumerate(tokens):
        if word == for_word or (
            word in _SPECIES and i > 0 and tokens[i - 1] in ("my", "our", "mi")
        ):
            name = _usable_name(tokens, originals, i + 1, lang, blocked)
            if name:
                return name
    if not expecting:
        return None
    for lead_text in _WEAK_LEADS["es" if lang == "es" else "en"]:
        hit = find_phrase(tokens, (lead_text,))
        if hit is not None:
            name = _usable_name(tokens, originals, hit[0] + hit[1], lang, blocked)
            if name:
                return name
    for i in range(len(tokens)):
        name = _usable_name(tokens, originals, i, lang, blocked)
        if name:
            return name
    return None
