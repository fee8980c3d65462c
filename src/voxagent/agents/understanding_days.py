"""Reading calendar days from a transcript: "tomorrow", "next monday", "the 24th",
"november twenty fourth", "pasado mañana", relative to the clinic's today.

Part of :mod:`voxagent.agents.understanding` (which exports the public names).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from difflib import SequenceMatcher

from voxagent.agents.understanding_words import (
    contains,
    find_phrase,
    read_number,
    read_ordinal,
    similar,
    tokenize,
)

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
