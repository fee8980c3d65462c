"""Reading what an apartment guest wants: the questions a concierge answers (check-in, Wi-Fi,
parking, how to get here…), a wish to book, the guest's name, which offered apartment they
pick, and what they want to change.

The general intents (yes, no, cancel, goodbye, a person…) come from
:func:`voxagent.agents.understanding.detect_intents`, with one correction: "dos personas" is a
number of guests, not a request for a person. Matching is as loose as everywhere else in the
understanding modules, because PocketSphinx transcripts are lowercase guesses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache

from voxagent.agents.understanding_days import _month, _weekday_at
from voxagent.agents.understanding_intents import Intent, detect_intents, parse_choice
from voxagent.agents.understanding_names import _NOT_NAMES
from voxagent.agents.understanding_words import (
    _FILLERS,
    _match_at,
    _phrase,
    contains,
    find_phrase,
    fold,
    read_number,
    read_ordinal,
    tokenize,
)

__all__ = [
    "Topic",
    "change_part",
    "concierge_intents",
    "detect_topics",
    "extract_guest_name",
    "pick_apartment",
]


class Topic(StrEnum):
    """What a guest asks about, or wants (``BOOK``); several may come in one turn."""

    BOOK = "book"
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    WIFI = "wifi"
    PARKING = "parking"
    AIRPORT = "airport"
    TRAIN = "train"
    ADDRESS = "address"
    TIPS = "tips"
    APARTMENTS = "apartments"


_EN_TOPICS: dict[Topic, tuple[str, ...]] = {
    Topic.BOOK: (
        "book", "booking", "reserve", "reservation", "available", "availability", "vacancy",
        "vacancies", "free apartment", "an apartment", "a flat", "a place to stay", "stay",
        "rent", "room for",
    ),
    Topic.CHECK_IN: (
        "check in", "checkin", "checking in", "arrival", "arrive", "arriving", "keys", "key",
        "pick up the keys", "early check in",
    ),
    Topic.CHECK_OUT: ("check out", "checkout", "checking out", "departure", "late check out"),
    Topic.WIFI: (
        "wifi", "wi fi", "why fi", "wireless", "internet", "password", "network",
    ),
    Topic.PARKING: ("parking", "park the car", "car park", "park my car", "garage", "car"),
    Topic.AIRPORT: ("airport", "plane", "flight", "flying in", "fly in"),
    Topic.TRAIN: ("train", "station", "railway", "renfe"),
    Topic.ADDRESS: (
        "address", "directions", "where are you", "where is your office", "located",
        "location", "how do i get", "how to get", "get there", "get to you", "find you",
        "your office",
    ),
    Topic.TIPS: (
        "tips", "tip", "recommend", "recommendation", "recommendations", "things to do",
        "what to do", "what to see", "sightseeing", "restaurant", "restaurants", "paella",
        "where to eat", "good food",
    ),
    Topic.APARTMENTS: (
        "how much", "price", "prices", "cost", "costs", "rates", "per night",
        "what apartments", "which apartments", "apartments do you have", "expensive",
        "cheap", "cheapest",
    ),
}  # fmt: skip

_ES_TOPICS: dict[Topic, tuple[str, ...]] = {
    Topic.BOOK: (
        "reservar", "reserva", "reservacion", "disponible", "disponibles", "disponibilidad",
        "libre", "libres", "alquilar", "un apartamento", "un piso", "alojamiento",
        "quedarme", "quedarnos", "hospedarme", "hospedarnos",
    ),
    Topic.CHECK_IN: (
        "check in", "entrada", "hora de entrada", "llegada", "llaves", "llave",
        "recoger las llaves",
    ),
    Topic.CHECK_OUT: ("check out", "salida", "hora de salida", "dejar el apartamento"),
    Topic.WIFI: ("wifi", "wi fi", "internet", "contrasena", "clave", "red"),
    Topic.PARKING: ("aparcar", "aparcamiento", "parking", "coche", "garaje", "estacionar"),
    Topic.AIRPORT: ("aeropuerto", "avion", "vuelo"),
    Topic.TRAIN: ("tren", "estacion", "renfe", "ave"),
    Topic.ADDRESS: (
        "direccion", "donde estan", "donde esta la oficina", "ubicacion", "como llego",
        "como llegar", "como se llega", "oficina",
    ),
    Topic.TIPS: (
        "recomienda", "recomendacion", "recomendaciones", "consejos", "que hacer", "que ver",
        "restaurante", "restaurantes", "paella", "donde comer",
    ),
    Topic.APARTMENTS: (
        "cuanto cuesta", "cuanto vale", "cuanto sale", "precio", "precios", "tarifa",
        "tarifas", "por noche", "que apartamentos", "caro", "barato",
    ),
}  # fmt: skip

# Words about the stay itself: with a day in the turn, "checking in friday" gives a date.
_STAY_TOPICS = frozenset({Topic.CHECK_IN, Topic.CHECK_OUT})


@lru_cache(maxsize=4)
def _topic_table(lang: str) -> tuple[tuple[tuple[str, ...], Topic], ...]:
    """All phrases, longest first, so "check out" claims its words before "checkin" and
    "un apartamento" before "aparcamiento" (fuzzy matching would take either for the other)."""
    source = _ES_TOPICS if lang == "es" else _EN_TOPICS
    rows = [(_phrase(p), topic) for topic, phrases in source.items() for p in phrases]
    rows.sort(key=lambda row: -len(row[0]))
    return tuple(rows)


def detect_topics(text: str, lang: str = "en", *, has_dates: bool = False) -> frozenset[Topic]:
    """Every topic an utterance mentions.

    With ``has_dates`` (the turn also names days), check-in and check-out words are part of
    the dates ("checking in on friday"), not questions about the times.
    """
    tokens = tokenize(text)
    used: set[int] = set()
    found: set[Topic] = set()
    for phrase, topic in _topic_table("es" if lang == "es" else "en"):
        for i in range(len(tokens)):
            covered = _match_at(tokens, i, phrase)
            if covered and not used.intersection(range(i, i + covered)):
                used.update(range(i, i + covered))
                found.add(topic)
    if has_dates:
        found -= _STAY_TOPICS
    if Topic.AIRPORT in found or Topic.TRAIN in found:
        found.discard(Topic.ADDRESS)  # "how do I get there from the airport"
    return frozenset(found)


def concierge_intents(text: str, lang: str = "en") -> frozenset[Intent]:
    """The general intents, where a number of people is not a call for a person, and without
    the clinic's :attr:`Intent.BOOK` (see :attr:`Topic.BOOK`)."""
    tokens = tokenize(text)
    masked = list(tokens)
    for i, word in enumerate(tokens):
        if word not in ("persona", "personas", "person", "persons", "people"):
            continue
        before = tokens[i - 1] if i > 0 else ""
        counted = i > 0 and read_number(tokens, i - 1, lang) is not None
        addressed = i >= 2 and tokens[i - 2] in ("con", "with", "to")  # "hablar con una persona"
        if (counted and not addressed) or before in ("para", "for"):
            masked[i] = "guests"
    # A wish to book is Topic.BOOK here: the clinic's booking words ("apartar", "bring … in")
    # mean nothing to a concierge, and "aparcar" sounds like "apartar".
    return detect_intents(" ".join(masked), lang) - {Intent.BOOK}


# -- names -----------------------------------------------------------------------------------

# Words before a name: strong ones anywhere ("my name is …"), weak ones only when we asked.
_NAME_LEADS = {
    "en": ("my name is", "my name's", "the name is", "name is", "name's", "under the name of",
           "under the name", "under", "put it under", "call me"),
    "es": ("me llamo", "mi nombre es", "a nombre de", "nombre de", "a nombre", "se llama"),
}  # fmt: skip
_WEAK_NAME_LEADS = {
    "en": ("this is", "i'm", "i am", "it's", "it is"),
    "es": ("soy", "es"),
}
_NOT_GUEST_NAMES = frozenset({
    "reservation", "reservations", "booking", "apartment", "apartments", "flat", "guest",
    "guests", "people", "nights", "night", "stay", "from", "until", "please", "yes", "no",
    "sure", "okay", "right", "correct", "sorry", "and", "the", "name", "surname", "last",
    "first", "reserva", "apartamento", "nombre", "apellido", "noches", "personas", "si",
    "vale", "claro", "gracias", "por", "favor", "mister", "mr", "mrs", "miss", "ms",
    "senor", "senora", "senorita", "don", "dona", "cancel", "cancelar", "under", "it's",
    "is", "i'm", "es",
})  # fmt: skip
_TITLES = frozenset({"mister", "mr", "mrs", "miss", "ms", "senor", "senora", "senorita"})
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def extract_guest_name(text: str, lang: str = "en", *, expecting: bool = False) -> str | None:
    """The guest's name ("my name is anna smith" → "Anna Smith"), up to three words.

    With ``expecting`` (we just asked for the name) the name may come alone ("anna smith") or
    after a weak lead ("it's anna"), which otherwise says nothing ("i'm looking for…").
    The words keep the spelling the caller typed or the recognizer wrote, capitalized.
    """
    originals = _WORD.findall(text)
    words = [fold(w) for w in originals]
    if not words:
        return None
    lang = "es" if lang == "es" else "en"
    leads = _NAME_LEADS[lang] + (_WEAK_NAME_LEADS[lang] if expecting else ())
    for lead in leads:
        hit = find_phrase(words, (lead,))
        if hit is not None:
            name = _name_at(words, originals, hit[0] + hit[1], lang)
            if name:
                return name
    if not expecting or len(words) > 6:
        return None
    for i in range(len(words)):
        name = _name_at(words, originals, i, lang)
        if name:
            return name
    return None


def _name_at(words: Sequence[str], originals: Sequence[str], i: int, lang: str) -> str | None:
    while i < len(words) and words[i] in _TITLES:
        i += 1
    picked: list[str] = []
    while i < len(words) and len(picked) < 3 and _name_word(words[i], lang):
        picked.append(originals[i][:1].upper() + originals[i][1:].lower())
        i += 1
    return " ".join(picked) or None


def _name_word(word: str, lang: str) -> bool:
    if len(word) < 2 or word in _NOT_GUEST_NAMES or word in _NOT_NAMES or word in _FILLERS:
        return False
    if read_number([word], 0, lang) is not None or read_ordinal([word], 0, lang):
        return False
    return not (_month(word, lang) or _weekday_at([word], 0, lang) is not None)


# -- choices ---------------------------------------------------------------------------------

_CHEAPEST = {"en": ("cheapest", "cheaper", "least expensive"), "es": ("mas barato", "barato")}
_BIGGEST = {"en": ("biggest", "largest", "bigger", "larger"), "es": ("mas grande", "grande")}


def pick_apartment(
    text: str,
    options: Sequence[tuple[Sequence[str], int, int]],
    lang: str = "en",
) -> int | None:
    """Which offered apartment the guest picked: "the second one", "the loft", "the cheapest".

    ``options`` are (words for it, price per night, guests it sleeps), in the order offered.
    """
    if not options:
        return None
    choice = parse_choice(text, len(options), lang)
    if choice is not None:
        return choice
    tokens = tokenize(text)
    best: tuple[int, int, int] | None = None  # (position, -length, index)
    for index, (words, _, _) in enumerate(options):
        hit = find_phrase(tokens, words)
        if hit is not None and (best is None or (hit[0], -hit[1]) < best[:2]):
            best = (hit[0], -hit[1], index)
    if best is not None:
        return best[2]
    if contains(tokens, _CHEAPEST[lang]):
        return min(range(len(options)), key=lambda i: options[i][1])
    if contains(tokens, _BIGGEST[lang]):
        return max(range(len(options)), key=lambda i: options[i][2])
    return None


def change_part(text: str, lang: str = "en") -> str | None:
    """Which part of a reservation the guest wants to change: dates, guests, apartment, name."""
    tokens = tokenize(text)
    parts = (
        {"dates": ("fechas", "fecha", "dias", "dia", "noches", "llegada", "salida"),
         "guests": ("personas", "huespedes", "numero de personas", "gente"),
         "apartment": ("apartamento", "piso", "otro"),
         "name": ("nombre", "apellido")}
        if lang == "es"
        else {"dates": ("dates", "date", "days", "day", "nights", "when", "arrival", "departure"),
              "guests": ("guests", "people", "number of guests", "persons"),
              "apartment": ("apartment", "flat", "place", "another one", "other one"),
              "name": ("name", "surname", "spelling")}
    )  # fmt: skip
    best: tuple[int, str] | None = None
    for part, words in parts.items():
        hit = find_phrase(tokens, words)
        if hit is not None and (best is None or hit[0] < best[0]):
            best = (hit[0], part)
    return best[1] if best else None
