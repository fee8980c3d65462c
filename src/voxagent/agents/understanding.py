"""Reading messy speech-recognizer transcripts: numbers, times, days, intents and pet names.

PocketSphinx hands us lowercase words without punctuation, numbers as words, and frequent
mistakes ("book and appointment", "a pointment", "macs" for "max"). So everything here matches
loosely: keyword phrases compared word by word with difflib ratios (and with two neighbouring
words glued together, for splits like "a pointment"), number words, and a few rewrites of known
mis-hearings. It is pure and I/O-free, so tests are plain text in, values out.

Spanish (``lang="es"``) has its own word lists, for when a Spanish recognizer is configured;
accents are folded away before matching, so "mañana" and "manana" are the same word.

Layout: this module exports the readers; each lives with what it reads:
``understanding_words`` (tokenizing, fuzzy matching, number words), ``understanding_times``,
``understanding_days``, ``understanding_intents`` (intents, services, choices, changes) and
``understanding_names`` (pet names).
"""

from voxagent.agents.understanding_days import parse_day
from voxagent.agents.understanding_intents import (
    INFO_INTENTS,
    Intent,
    change_target,
    detect_intents,
    match_service,
    parse_choice,
    wants_earliest,
)
from voxagent.agents.understanding_names import (
    COMMON_PET_NAMES,
    canonical_pet_name,
    extract_pet_name,
    same_name,
)
from voxagent.agents.understanding_times import Meridiem, SpokenTime, meridiem_hint, parse_time
from voxagent.agents.understanding_words import (
    contains,
    find_phrase,
    fold,
    is_filler,
    read_number,
    read_ordinal,
    similar,
    tokenize,
)

__all__ = [
    "COMMON_PET_NAMES",
    "INFO_INTENTS",
    "Intent",
    "Meridiem",
    "SpokenTime",
    "canonical_pet_name",
    "change_target",
    "contains",
    "detect_intents",
    "extract_pet_name",
    "find_phrase",
    "fold",
    "is_filler",
    "match_service",
    "meridiem_hint",
    "parse_choice",
    "parse_day",
    "parse_time",
    "read_number",
    "read_ordinal",
    "same_name",
    "similar",
    "tokenize",
    "wants_earliest",
]
