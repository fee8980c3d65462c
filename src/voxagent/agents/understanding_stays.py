"""Reading a stay from a transcript: when the guest arrives, when they leave or for how many
nights, and how many guests come.

"from friday for three nights", "december twelfth to the fifteenth", "tomorrow for two
nights", "del doce al quince de diciembre", "two adults and a child", "somos cuatro". Built on
the day and number readers of :mod:`voxagent.agents.understanding`, as loosely: PocketSphinx
hears "to" for "two" and "knights" for "nights", so both are accepted where they make sense.

Part of the concierge's understanding (:mod:`voxagent.agents.understanding_concierge` reads
what the guest wants); pure and I/O-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from voxagent.agents.understanding_days import _month, parse_day
from voxagent.agents.understanding_words import (
    find_phrase,
    read_number,
    read_ordinal,
    similar,
    tokenize,
)

__all__ = ["HeardStay", "parse_guests", "parse_stay"]

_NIGHT_WORDS = {
    "en": {"night": 1, "nights": 1, "knight": 1, "knights": 1, "nite": 1, "nites": 1,
           "day": 1, "days": 1, "week": 7, "weeks": 7},
    "es": {"noche": 1, "noches": 1, "dia": 1, "dias": 1, "semana": 7, "semanas": 7},
}  # fmt: skip
_ONE = {"en": ("a", "an", "one"), "es": ("una", "un", "uno")}

# Words between two days that make the second the day of leaving: "friday to sunday".
_RANGE_WORDS = {
    "en": ("to", "till", "til", "until", "through", "thru", "and", "two", "checking", "leaving",
           "check", "out"),
    "es": ("al", "a", "hasta", "y", "salida", "saliendo", "salgo"),
}  # fmt: skip
# Words that put a lone day on the side of leaving: "until sunday", "hasta el domingo".
_LEAVING_WORDS = {
    "en": ("until", "till", "til", "to", "through", "check out", "checking out", "leave",
           "leaving", "out on", "departure"),
    "es": ("hasta", "salida", "salimos", "salgo", "saliendo", "nos vamos", "me voy"),
}  # fmt: skip

_GUEST_NOUNS = {
    "en": ("guests", "guest", "people", "persons", "person", "adults", "adult", "children",
           "child", "kids", "kid", "travellers", "travelers", "of us", "pax", "babies", "baby"),
    "es": ("personas", "persona", "huespedes", "huesped", "adultos", "adulto", "ninos", "nino",
           "ninas", "nina", "bebes", "bebe", "viajeros"),
}  # fmt: skip
_PAIRS = {
    "en": ("a couple", "my wife and", "my husband and", "my partner and", "my girlfriend and",
           "my boyfriend and", "my friend and", "me and my wife", "me and my husband",
           "me and my partner", "me and my girlfriend", "me and my boyfriend",
           "me and my friend", "and my wife", "and my husband", "and my partner", "the two of us",
           "both of us"),
    "es": ("una pareja", "mi pareja y yo", "mi mujer y yo", "mi marido y yo", "mi esposa y yo",
           "mi esposo y yo", "mi novia y yo", "mi novio y yo", "con mi pareja", "con mi mujer",
           "con mi marido", "con mi esposa", "con mi esposo", "los dos", "las dos"),
}  # fmt: skip
_ALONE = {
    "en": ("just me", "only me", "myself", "by myself", "on my own", "alone", "just one",
           "only one", "me alone", "i'm alone", "i am alone"),
    "es": ("solo yo", "yo solo", "yo sola", "solo una", "solo uno", "sola", "solo"),
}  # fmt: skip
_GROUP_LEADS = {
    "en": ("we are", "we're", "we'll be", "we will be", "there are", "there will be",
           "there'll be", "family of", "group of", "party of"),
    "es": ("somos", "seremos", "vamos", "familia de", "grupo de"),
}  # fmt: skip
# PocketSphinx's words for a bare guest count ("to" for "two"), only as a whole answer.
_SOUNDALIKES = {"en": {"to": 2, "too": 2, "for": 4, "won": 1}, "es": {}}

MAX_GUESTS = 20


@dataclass(frozen=True, slots=True)
class HeardStay:
    """What a turn said about the stay; None for what it did not say."""

    check_in: date | None = None
    check_out: date | None = None
    nights: int | None = None

    @property
    def empty(self) -> bool:
        return self.check_in is None and self.check_out is None and self.nights is None


def parse_stay(
    text: str,
    today: date,
    lang: str = "en",
    *,
    arriving: date | None = None,
    expecting_nights: bool = False,
) -> HeardStay:
    """The stay an utterance describes, relative to ``today`` (the business's date).

    ``arriving`` is the check-in already agreed: a lone day after a word like "until", or
    any later day when we asked how long (``expecting_nights``), is then the day of leaving.
    With ``expecting_nights`` a bare number ("three") counts as nights.
    """
    tokens = _normalized(text, lang)
    if not tokens:
        return HeardStay()
    nights, night_span = _nights(tokens, lang, expecting=expecting_nights)
    rest = [t for i, t in enumerate(tokens) if i not in night_span]
    weekend = _weekend(rest, today, lang)
    if weekend is not None:
        return HeardStay(weekend, weekend + timedelta(days=2), nights or 2)
    ranged = _range(rest, today, lang)
    if ranged is not None:
        return HeardStay(ranged[0], ranged[1], None)
    said = " ".join(rest)
    leaving = find_phrase(rest, _LEAVING_WORDS[lang]) is not None
    if arriving is not None and (leaving or (expecting_nights and nights is None)):
        # "until sunday" is the sunday after arriving, whatever today is
        day = parse_day(said, arriving, lang) or _bare_day(rest, arriving, lang)
        if day is not None and day > arriving:
            return HeardStay(None, day, nights)
    return HeardStay(parse_day(said, today, lang), None, nights)


def parse_guests(text: str, lang: str = "en", *, expecting: bool = False) -> int | None:
    """How many guests an utterance says ("two adults and a child" → 3), or None.

    A bare number counts only when we asked (``expecting``), so "three nights" is no guest
    count; a number of nights is never one.
    """
    tokens = _normalized(text, lang)
    if not tokens:
        return None
    _, night_span = _nights(tokens, lang, expecting=False)
    total = 0
    for noun in _GUEST_NOUNS[lang]:
        words = tokenize(noun)
        for i in range(len(tokens)):
            if tokens[i : i + len(words)] != words:
                continue
            count = _number_before(tokens, i, lang)
            if count is not None:
                total += count
    if 0 < total <= MAX_GUESTS:
        return total
    for lead in _GROUP_LEADS[lang]:
        hit = find_phrase(tokens, (lead,))
        if hit is not None:
            number = read_number(tokens, hit[0] + hit[1], lang)
            if number is not None and 1 <= number[0] <= MAX_GUESTS:
                return number[0]
    if find_phrase(tokens, _PAIRS[lang]) is not None:
        return 2
    if find_phrase(tokens, _ALONE[lang]) is not None:
        return 1
    for i, word in enumerate(tokens):  # "an apartment for two", "algo para cuatro"
        if word not in ("for", "para") or i + 1 in night_span:
            continue
        number = read_number(tokens, i + 1, lang)
        if (
            number is not None
            and 1 <= number[0] <= MAX_GUESTS
            and not _dated(tokens, i + 1, number[1])
            and not (number[1] < len(tokens) and _month(tokens[number[1]], lang))
        ):
            return number[0]
    if not expecting:
        return None
    if len(tokens) <= 2:
        for word in tokens:
            if word in _SOUNDALIKES[lang]:
                return _SOUNDALIKES[lang][word]
    for i in range(len(tokens)):
        if i in night_span:
            continue
        number = read_number(tokens, i, lang)
        if number is not None and 1 <= number[0] <= MAX_GUESTS:
            return number[0]
    return None


# -- helpers --------------------------------------------------------------------------------------


def _normalized(text: str, lang: str) -> list[str]:
    """Tokens, with Spanish contractions opened ("del doce" → "de el doce") for the day reader."""
    tokens = tokenize(text)
    if lang != "es":
        return tokens
    out: list[str] = []
    for word in tokens:
        out.extend({"del": ("de", "el"), "al": ("a", "el")}.get(word, (word,)))
    return out


def _nights(tokens: Sequence[str], lang: str, *, expecting: bool) -> tuple[int | None, set[int]]:
    """The number of nights ("three nights", "a week") and the positions it covers."""
    words = _NIGHT_WORDS[lang]
    for i in range(len(tokens)):
        unit = _unit_at(tokens, i, words)
        if unit is None:
            continue
        count = _number_before(tokens, i, lang)
        if count is not None:
            start = i - 1
            while start > 0 and read_number(tokens, start - 1, lang) is not None:
                start -= 1
            return count * unit, set(range(start, i + 1))
        if unit == 7 and i > 0 and tokens[i - 1] in (*_ONE[lang], "the", "la"):
            return 7, {i - 1, i}
    if expecting:
        for i in range(len(tokens)):
            number = read_number(tokens, i, lang)
            if number is not None and 1 <= number[0] <= 60 and not _dated(tokens, i, number[1]):
                return number[0], set(range(i, number[1]))
            if lang == "en" and len(tokens) <= 2 and tokens[i] in ("to", "too"):
                return 2, {i}
    return None, set()


def _dated(tokens: Sequence[str], i: int, j: int) -> bool:
    """Whether the number at tokens[i:j] is a day of the month ("the 15th", "el quince")."""
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[j] if j < len(tokens) else ""
    return (
        after in ("st", "nd", "rd", "th", "of", "de")
        or before in ("the", "el", "on", "of", "de")
        or bool(_month(before, "en") or _month(before, "es"))
    )


def _unit_at(tokens: Sequence[str], i: int, words: dict[str, int]) -> int | None:
    word = tokens[i]
    if word in words:
        return words[word]
    for known, unit in words.items():
        if len(known) >= 5 and similar(word, known):
            return unit
    return None


def _number_before(tokens: Sequence[str], i: int, lang: str) -> int | None:
    """The count right before position ``i``: "three" in "three nights", "a" in "a week"."""
    for start in (i - 2, i - 1):
        if start < 0:
            continue
        number = read_number(tokens, start, lang)
        if number is not None and number[1] == i:
            return number[0]
    if i > 0 and tokens[i - 1] in _ONE[lang]:
        return 1
    if lang == "en" and i > 0 and tokens[i - 1] in ("to", "too"):
        return 2  # "for to nights"
    return None


def _range(tokens: Sequence[str], today: date, lang: str) -> tuple[date, date] | None:
    """ "friday to sunday", "december twelfth to the fifteenth", "del doce al quince"."""
    separators = _RANGE_WORDS[lang]
    for p, word in enumerate(tokens):
        if word not in separators or p == 0:
            continue
        left, right = list(tokens[:p]), list(tokens[p + 1 :])
        month = next((t for t in right if _month(t, lang)), None)
        if month is not None and not any(_month(t, lang) for t in left):
            left += ["de", month] if lang == "es" else ["of", month]
        arriving = parse_day(" ".join(left), today, lang)
        if arriving is None:
            continue
        leaving = parse_day(" ".join(right), arriving, lang) or _bare_day(right, arriving, lang)
        if leaving is not None and leaving > arriving:
            return arriving, leaving
    return None


def _bare_day(tokens: Sequence[str], after: date, lang: str) -> date | None:
    """ "the fifteenth", "fifteen", "el quince": a day of the month after ``after``."""
    for i in range(len(tokens)):
        found = read_ordinal(tokens, i, lang) or read_number(tokens, i, lang)
        if found is None or not 1 <= found[0] <= 31:
            continue
        if found[1] < len(tokens) and tokens[found[1]] in (*_NIGHT_WORDS[lang], "people"):
            continue
        year, month = after.year, after.month
        for _ in range(2):
            try:
                candidate = date(year, month, found[0])
            except ValueError:
                candidate = None
            if candidate is not None and candidate > after:
                return candidate
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None
    return None


def _weekend(tokens: Sequence[str], today: date, lang: str) -> date | None:
    """ "this weekend", "next weekend", "el fin de semana": its Friday."""
    phrases = ("fin de semana",) if lang == "es" else ("weekend", "week end")
    hit = find_phrase(tokens, phrases)
    if hit is None:
        return None
    friday = today + timedelta(days=(4 - today.weekday()) % 7)
    before = tokens[hit[0] - 1] if hit[0] > 0 else ""
    if before in ("next", "proximo", "siguiente") or (
        hit[0] + hit[1] < len(tokens) and tokens[hit[0] + hit[1]] in ("que", "siguiente")
    ):
        friday += timedelta(days=7)
    return friday
