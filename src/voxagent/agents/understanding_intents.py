"""Reading what the caller wants: intents by keyword phrase (book, cancel, hours, yes, no,
…), which service is mentioned, which offered slot is picked, and what to change.

Part of :mod:`voxagent.agents.understanding` (which exports the public names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import lru_cache

from voxagent.agents.understanding_words import (
    _match_at,
    _phrase,
    contains,
    find_phrase,
    tokenize,
)

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
