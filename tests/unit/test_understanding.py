"""Reading PocketSphinx-style transcripts: plain text in, values out."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxagent.agents.understanding import (
    Intent,
    SpokenTime,
    canonical_pet_name,
    change_target,
    detect_intents,
    extract_pet_name,
    fold,
    is_filler,
    match_service,
    parse_choice,
    parse_day,
    parse_time,
    read_number,
    same_name,
    similar,
    tokenize,
    wants_earliest,
)

MONDAY = date(2026, 11, 23)  # a Monday
SERVICES = {
    "consultation": ("consultation", "check up", "sick", "vomiting"),
    "vaccination": ("vaccination", "vaccine", "shots", "rabies"),
    "grooming": ("grooming", "bath", "haircut"),
}
SERVICES_ES = {"vaccination": ("vacuna", "vacunas"), "grooming": ("bano", "estetica")}

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]  # fmt: skip
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty"}
_ES = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez",
       "once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho",
       "diecinueve", "veinte", "veintiuno", "veintidós", "veintitrés", "veinticuatro",
       "veinticinco", "veintiséis", "veintisiete", "veintiocho", "veintinueve"]  # fmt: skip
_ES_TENS = {3: "treinta", 4: "cuarenta", 5: "cincuenta"}


def words_to_number(text: str, lang: str = "en") -> int | None:
    """The number a whole phrase spells ("forty five" → 45), or None if it is not just one."""
    tokens = tokenize(text)
    found = read_number(tokens, 0, lang)
    if found is None or found[1] != len(tokens):
        return None
    return found[0]


def say_en(n: int) -> str:
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + (f" {_UNITS[unit]}" if unit else "")


def say_es(n: int) -> str:
    if n < 30:
        return _ES[n]
    tens, unit = divmod(n, 10)
    return _ES_TENS[tens] + (f" y {_ES[unit]}" if unit else "")


# -- words and numbers ------------------------------------------------------------------------


def test_tokenize_folds_case_accents_and_splits_digits() -> None:
    assert tokenize("Mañana a las 10AM, ¿sí?") == ["manana", "a", "las", "10", "am", "si"]
    assert tokenize("3 p.m.") == ["3", "pm"]
    assert tokenize("that's it") == ["that's", "it"]
    assert tokenize("10:30") == ["10", "30"]
    assert fold("Sábado") == "sabado"


def test_known_mishearings_are_rewritten() -> None:
    assert tokenize("tomorrow attend") == ["tomorrow", "at", "ten"]
    assert tokenize("i'd like") == ["i", "would", "like"]


def test_fillers() -> None:
    assert is_filler("")
    assert is_filler("uh um")
    assert not is_filler("uh max")


def test_similar_is_strict_for_short_words_and_loose_for_long() -> None:
    assert similar("vacation", "vaccination")
    assert similar("appointments", "appointment")
    assert not similar("so", "no")
    assert not similar("cancer", "cancel")
    assert not similar("look", "book")


@given(st.integers(min_value=0, max_value=59))
def test_english_number_words_round_trip(n: int) -> None:
    assert words_to_number(say_en(n)) == n


@given(st.integers(min_value=0, max_value=59))
def test_spanish_number_words_round_trip(n: int) -> None:
    assert words_to_number(say_es(n), "es") == n


def test_read_number_stops_after_one_number() -> None:
    assert read_number(["ten", "thirty"], 0) == (10, 1)
    assert read_number(["twenty", "four", "dogs"], 0) == (24, 2)
    assert read_number(["dogs"], 0) is None
    assert words_to_number("ten thirty") is None


# -- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow at ten in the morning", time(10, 0)),
        ("at ten", time(10, 0)),
        ("at three", time(15, 0)),
        ("ten thirty", time(10, 30)),
        ("three fifteen", time(15, 15)),
        ("at nine forty five", time(9, 45)),
        ("ten oh five", time(10, 5)),
        ("half past two", time(14, 30)),
        ("quarter past ten", time(10, 15)),
        ("quarter to eleven", time(10, 45)),
        ("two p m", time(14, 0)),
        ("two pm", time(14, 0)),
        ("3 p.m.", time(15, 0)),
        ("10am", time(10, 0)),
        ("at 10:30", time(10, 30)),
        ("eleven a m", time(11, 0)),
        ("noon", time(12, 0)),
        ("at midday", time(12, 0)),
        ("twelve thirty", time(12, 30)),
        ("ten o'clock", time(10, 0)),
        ("ten o clock", time(10, 0)),
        ("at seven in the evening", time(19, 0)),
        ("tomorrow afternoon at four", time(16, 0)),
        ("tomorrow morning at eight", time(8, 0)),
        ("at one", time(13, 0)),
        ("at fourteen thirty", time(14, 30)),
        ("tomorrow attend in the morning", time(10, 0)),
        ("tomorrow at ten in the mourning", time(10, 0)),
        ("november twenty fourth at ten", time(10, 0)),
        # Sound-alikes PocketSphinx produces, trusted only before a meridiem or "o'clock".
        ("monday a tree in the afternoon", time(15, 0)),
        ("monday to read in the afternoon", time(15, 0)),  # heard in a clean-clone run
        ("at for p m", time(16, 0)),
        ("tree o clock", time(15, 0)),
    ],
)
def test_parse_time_english(text: str, expected: time) -> None:
    spoken = parse_time(text)
    assert spoken is not None, text
    assert spoken.resolve() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mañana a las diez de la mañana", time(10, 0)),
        ("a las diez", time(10, 0)),
        ("a las tres de la tarde", time(15, 0)),
        ("a la una", time(13, 0)),
        ("diez y media", time(10, 30)),
        ("once y cuarto", time(11, 15)),
        ("once menos cuarto", time(10, 45)),
        ("cuarto para las once", time(10, 45)),
        ("a las diez treinta", time(10, 30)),
        ("al mediodía", time(12, 0)),
        ("a las ocho de la noche", time(20, 0)),
        ("a las cuatro en punto", time(16, 0)),
    ],
)
def test_parse_time_spanish(text: str, expected: time) -> None:
    spoken = parse_time(text, "es")
    assert spoken is not None, text
    assert spoken.resolve() == expected


@pytest.mark.parametrize(
    "text",
    ["i have two dogs", "book an appointment", "the first one", "his name is max",
     "november twenty fourth", "the 24th", "yes please", "it is for a vaccination",
     "i came to see you", "a tree fell"],
)  # fmt: skip
def test_bare_numbers_are_not_times_unless_expected(text: str) -> None:
    assert parse_time(text) is None


def test_bare_number_is_a_time_when_we_asked_for_one() -> None:
    spoken = parse_time("ten", expecting=True)
    assert spoken is not None and spoken.resolve() == time(10, 0)
    spoken = parse_time("uh three", expecting=True)
    assert spoken is not None and spoken.resolve() == time(15, 0)
    spoken = parse_time("tomorrow and ten in the morning", expecting=True)
    assert spoken is not None and spoken.resolve() == time(10, 0)
    assert parse_time("the first one", expecting=True) is None


@pytest.mark.parametrize(
    ("hour", "resolved"),
    [(7, 7), (8, 8), (9, 9), (10, 10), (11, 11), (12, 12), (1, 13), (3, 15), (6, 18)],
)
def test_hours_without_am_pm_resolve_to_clinic_plausible_times(hour: int, resolved: int) -> None:
    assert SpokenTime(hour).resolve() == time(resolved, 0)


def test_explicit_meridiem_wins() -> None:
    assert SpokenTime(3, 0, "am").resolve() == time(3, 0)
    assert SpokenTime(10, 0, "pm").resolve() == time(22, 0)
    assert SpokenTime(12, 0, "am").resolve() == time(0, 0)
    assert SpokenTime(12, 30, "pm").resolve() == time(12, 30)


@given(
    st.integers(min_value=1, max_value=12),
    st.sampled_from([0, *range(10, 60)]),
    st.sampled_from(["a m", "p m", "am", "pm"]),
)
def test_spelled_times_with_meridiem_round_trip(hour: int, minute: int, meridiem: str) -> None:
    text = f"at {say_en(hour)}{' ' + say_en(minute) if minute else ''} {meridiem}"
    spoken = parse_time(text)
    assert spoken is not None, text
    expected = hour % 12 + (12 if meridiem.startswith("p") else 0)
    assert spoken.resolve() == time(expected, minute)


# -- days ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("today", 0),
        ("this afternoon", 0),
        ("tomorrow", 1),
        ("to morrow at ten", 1),
        ("tomorrow's fine", 1),
        ("the day after tomorrow", 2),
        ("day after tomorrow at nine", 2),
        ("tuesday", 1),
        ("on wednesday", 2),
        ("wensday", 2),
        ("friday morning", 4),
        ("saturdays", 5),
        ("monday", 7),
        ("next monday", 7),
        ("this monday", 0),
        ("next friday", 4),
        ("november twenty fourth", 1),
        ("the twenty fourth", 1),
        ("24th of november", 1),
        ("on the 25th", 2),
        ("december first", 8),
    ],
)
def test_parse_day_english(text: str, offset: int) -> None:
    assert parse_day(text, MONDAY) == MONDAY + timedelta(days=offset)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("hoy", 0),
        ("mañana", 1),
        ("mañana a las diez de la mañana", 1),
        ("pasado mañana", 2),
        ("el martes", 1),
        ("el próximo lunes", 7),
        ("el sábado", 5),
        ("el 24 de noviembre", 1),
        ("el veinticuatro", 1),
        ("el primero de diciembre", 8),
    ],
)
def test_parse_day_spanish(text: str, offset: int) -> None:
    assert parse_day(text, MONDAY, "es") == MONDAY + timedelta(days=offset)


def test_morning_is_not_tomorrow_in_spanish() -> None:
    assert parse_day("a las diez de la mañana", MONDAY, "es") is None


@pytest.mark.parametrize("text", ["may i book", "march in", "the first one", "yes", ""])
def test_no_day(text: str) -> None:
    assert parse_day(text, MONDAY) is None


def test_past_dates_roll_to_next_year() -> None:
    assert parse_day("january fifth", MONDAY) == date(2027, 1, 5)
    assert parse_day("the 2nd", MONDAY) == date(2026, 12, 2)
    assert parse_day("february thirtieth", MONDAY) is None


WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@given(
    st.sampled_from(WEEKDAY_NAMES), st.dates(min_value=date(2020, 1, 1), max_value=date(2100, 1, 1))
)
def test_weekday_names_land_within_the_coming_week(name: str, today: date) -> None:
    day = parse_day(f"on {name}", today)
    assert day is not None
    assert today < day <= today + timedelta(days=7)
    assert day.strftime("%A").lower() == name


# -- intents -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("i would like to book an appointment", Intent.BOOK),
        ("i would like to book and appointment", Intent.BOOK),
        ("i need a pointment", Intent.BOOK),
        ("can i schedule a visit", Intent.BOOK),
        ("can i bring him in tomorrow", Intent.BOOK),
        ("i need to cancel my appointment", Intent.CANCEL),
        ("i can't make it on tuesday", Intent.CANCEL),
        ("never mind", Intent.STOP),
        ("what are your hours", Intent.HOURS),
        ("are you open on saturday", Intent.HOURS),
        ("what time do you close", Intent.HOURS),
        ("what's your address", Intent.ADDRESS),
        ("where are you located", Intent.ADDRESS),
        ("how much is a vaccination", Intent.PRICES),
        ("what are your prices", Intent.PRICES),
        ("how much does it cost", Intent.PRICES),
        ("it's an emergency", Intent.EMERGENCY),
        ("my dog was hit by a car", Intent.EMERGENCY),
        ("he ate chocolate", Intent.EMERGENCY),
        ("can i talk to a person", Intent.HUMAN),
        ("transfer me please", Intent.HUMAN),
        ("i want to speak to a human", Intent.HUMAN),
        ("yes please", Intent.YES),
        ("yeah", Intent.YES),
        ("that's right", Intent.YES),
        ("sure go ahead", Intent.YES),
        ("no", Intent.NO),
        ("nope", Intent.NO),
        ("that's not right", Intent.NO),
        ("not really", Intent.NO),
        ("goodbye", Intent.GOODBYE),
        ("good bye", Intent.GOODBYE),
        ("no that's all", Intent.GOODBYE),
        ("thank you", Intent.THANKS),
    ],
)
def test_detect_intents_english(text: str, intent: Intent) -> None:
    assert intent in detect_intents(text)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("quiero agendar una cita", Intent.BOOK),
        ("quiero cancelar mi cita", Intent.CANCEL),
        ("cuál es su horario", Intent.HOURS),
        ("cuál es la dirección", Intent.ADDRESS),
        ("cuánto cuesta una vacuna", Intent.PRICES),
        ("es una emergencia", Intent.EMERGENCY),
        ("quiero hablar con una persona", Intent.HUMAN),
        ("sí por favor", Intent.YES),
        ("claro que sí", Intent.YES),
        ("no gracias", Intent.NO),
        ("no gracias eso es todo", Intent.GOODBYE),
        ("adiós", Intent.GOODBYE),
    ],
)
def test_detect_intents_spanish(text: str, intent: Intent) -> None:
    assert intent in detect_intents(text, "es")


def test_negated_yes_is_no() -> None:
    assert detect_intents("that's not correct") == {Intent.NO}
    assert Intent.YES not in detect_intents("not sure")


def test_no_false_intents_on_plain_answers() -> None:
    assert detect_intents("his name is max") == frozenset()
    assert detect_intents("a vaccination") == frozenset()
    assert detect_intents("my dog has cancer") == frozenset()
    assert detect_intents("tomorrow at ten in the morning") == frozenset()


def test_closing_phrase_carries_every_part() -> None:
    assert detect_intents("no thank you goodbye") >= {Intent.NO, Intent.THANKS, Intent.GOODBYE}


@settings(max_examples=100)
@given(st.text(max_size=80))
def test_readers_never_raise_on_arbitrary_text(text: str) -> None:
    detect_intents(text)
    detect_intents(text, "es")
    parse_time(text, expecting=True)
    parse_time(text, "es", expecting=True)
    parse_day(text, MONDAY)
    parse_day(text, MONDAY, "es")
    extract_pet_name(text, expecting=True)
    match_service(text, SERVICES)


TIME_WORDS = [
    "at", "ten", "thirty", "the", "first", "of", "november", "p", "m", "half", "past", "quarter",
    "to", "twenty", "four", "th", "o'clock", "in", "morning", "next", "monday", "a", "las", "y",
    "media", "menos", "cuarto", "de", "la", "tarde", "el", "24", "00",
]  # fmt: skip


@settings(max_examples=100)
@given(st.lists(st.sampled_from(TIME_WORDS), max_size=8))
def test_time_and_day_words_in_any_order_give_valid_values(words: list[str]) -> None:
    text = " ".join(words)
    for lang in ("en", "es"):
        spoken = parse_time(text, lang, expecting=True)
        if spoken is not None:
            resolved = spoken.resolve()
            assert 0 <= resolved.hour <= 23 and 0 <= resolved.minute <= 59
        day = parse_day(text, MONDAY, lang)
        assert day is None or day >= MONDAY


# -- services, choices, changes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("a vaccination", "vaccination"),
        ("of vaccination", "vaccination"),
        ("a vacation", "vaccination"),
        ("a vaccine nation", "vaccination"),
        ("he needs his shots", "vaccination"),
        ("a bath and a haircut", "grooming"),
        ("he's been vomiting", "consultation"),
        ("a check up", "consultation"),
        ("his name is max", None),
    ],
)
def test_match_service(text: str, service: str | None) -> None:
    assert match_service(text, SERVICES) == service


def test_match_service_spanish() -> None:
    assert match_service("una vacuna", SERVICES_ES) == "vaccination"
    assert match_service("un baño", SERVICES_ES) == "grooming"


def test_first_service_mentioned_wins() -> None:
    assert match_service("a bath and his shots", SERVICES) == "grooming"


@pytest.mark.parametrize(
    ("text", "choice"),
    [("the first one", 0), ("the second", 1), ("the last one", 2), ("third please", 2),
     ("yes", None)],
)  # fmt: skip
def test_parse_choice(text: str, choice: int | None) -> None:
    assert parse_choice(text, 3) == choice


def test_parse_choice_spanish_and_bounds() -> None:
    assert parse_choice("la segunda", 3, "es") == 1
    assert parse_choice("the third", 2) is None


def test_wants_earliest() -> None:
    assert wants_earliest("as soon as possible")
    assert wants_earliest("the first available")
    assert wants_earliest("lo antes posible", "es")
    assert not wants_earliest("tomorrow at ten")


def test_change_target() -> None:
    assert change_target("the time") == "when"
    assert change_target("the day please") == "when"
    assert change_target("his name") == "pet"
    assert change_target("the reason") == "reason"
    assert change_target("la hora", "es") == "when"
    assert change_target("yes") is None


# -- pet names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("his name is max", "Max"),
        ("his name is macs", "Max"),
        ("his name is mac", "Max"),
        ("is name is max", "Max"),
        ("her name's luna", "Luna"),
        ("my dog's name is rocky", "Rocky"),
        ("my cat is called bella", "Bella"),
        ("we call him pancho", "Pancho"),
        ("i'd like to book a vaccination for max tomorrow at ten", "Max"),
        ("a check up for my dog rocky", "Rocky"),
        ("my dog bruno needs shots", "Bruno"),
        ("his name is zorro", "Zorro"),
    ],
)
def test_pet_name_from_explicit_phrases(text: str, name: str) -> None:
    assert extract_pet_name(text, exclude=SERVICES["vaccination"]) == name


@pytest.mark.parametrize(
    ("text", "name"),
    [("max", "Max"), ("it's luna", "Luna"), ("uh max please", "Max"), ("yes it's max", "Max"),
     ("macs", "Max"), ("she's coco", "Coco")],
)  # fmt: skip
def test_pet_name_alone_when_we_asked_for_it(text: str, name: str) -> None:
    assert extract_pet_name(text, expecting=True) == name


@pytest.mark.parametrize(
    "text",
    ["i would like to book an appointment", "book for tomorrow", "for a vaccination",
     "for my dog", "for ten thirty", "it's luna", "max"],
)  # fmt: skip
def test_no_pet_name_without_a_clear_phrase(text: str) -> None:
    assert extract_pet_name(text, exclude=SERVICES["vaccination"]) is None


@pytest.mark.parametrize("text", ["he's a dog", "his name is", "yes", "tomorrow", "a vaccination"])
def test_no_pet_name_even_when_expected(text: str) -> None:
    assert extract_pet_name(text, expecting=True, exclude=SERVICES["vaccination"]) is None


def test_pet_name_spanish() -> None:
    assert extract_pet_name("se llama luna", "es") == "Luna"
    assert extract_pet_name("mi perro se llama rocky", "es") == "Rocky"
    assert extract_pet_name("una vacuna para max", "es", exclude=["vacuna"]) == "Max"
    assert extract_pet_name("es canela", "es", expecting=True) == "Canela"


def test_pet_name_sounds() -> None:
    assert same_name("macs", "Max")
    assert same_name("LUNA", "luna")
    assert not same_name("max", "luna")
    assert not same_name("bo", "max")
    assert canonical_pet_name("bobby") == "Bobby"
