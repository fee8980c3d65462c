"""The building blocks of reading a transcript: folding and tokenizing, fuzzy word and phrase
matching, and number words (cardinals and ordinals, English and Spanish).

Part of :mod:`voxagent.agents.understanding` (which exports the public names); the readers of
times, days, intents and pet names are built on these.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
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
