"""Reading pet names from a transcript ("his name is max", "for my dog rocky"), and telling
whether two heard names sound alike ("Macs" and "Max").

Part of :mod:`voxagent.agents.understanding` (which exports the public names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher

from voxagent.agents.understanding_days import _month, _weekday_at
from voxagent.agents.understanding_words import (
    _FILLERS,
    find_phrase,
    fold,
    read_number,
    read_ordinal,
    similar,
    tokenize,
)

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
