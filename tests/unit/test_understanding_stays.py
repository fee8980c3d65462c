"""Reading stays, guests, names and a guest's questions from messy transcripts (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from voxagent.agents.understanding import Intent
from voxagent.agents.understanding_concierge import (
    Topic,
    change_part,
    concierge_intents,
    detect_topics,
    extract_guest_name,
    pick_apartment,
)
from voxagent.agents.understanding_stays import HeardStay, parse_guests, parse_stay

MONDAY = date(2026, 11, 23)
FRIDAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("from friday for three nights", "en", HeardStay(FRIDAY, None, 3)),
        ("tomorrow for two nights", "en", HeardStay(date(2026, 11, 24), None, 2)),
        ("for to knights from friday", "en", HeardStay(FRIDAY, None, 2)),
        ("a week from saturday", "en", HeardStay(date(2026, 11, 28), None, 7)),
        (
            "december twelfth to the fifteenth",
            "en",
            HeardStay(date(2026, 12, 12), date(2026, 12, 15)),
        ),
        (
            "i'd like to book from the twelfth to the fifteenth of december",
            "en",
            HeardStay(date(2026, 12, 12), date(2026, 12, 15)),
        ),
        ("friday two sunday", "en", HeardStay(FRIDAY, date(2026, 11, 29))),
        (
            "checking in friday and checking out sunday",
            "en",
            HeardStay(FRIDAY, date(2026, 11, 29)),
        ),
        ("this weekend", "en", HeardStay(FRIDAY, date(2026, 11, 29), 2)),
        (
            "two people from friday to sunday",
            "en",
            HeardStay(FRIDAY, date(2026, 11, 29)),
        ),
        (
            "del doce al quince de diciembre",
            "es",
            HeardStay(date(2026, 12, 12), date(2026, 12, 15)),
        ),
        ("desde el viernes tres noches", "es", HeardStay(FRIDAY, None, 3)),
        ("mañana dos noches", "es", HeardStay(date(2026, 11, 24), None, 2)),
        ("una semana desde el sábado", "es", HeardStay(date(2026, 11, 28), None, 7)),
        ("hello there", "en", HeardStay()),
        ("two people", "en", HeardStay()),
    ],
)
def test_stays(text: str, lang: str, expected: HeardStay) -> None:
    assert parse_stay(text, MONDAY, lang) == expected


def test_the_day_of_leaving_counts_from_the_arrival() -> None:
    arriving = date(2026, 12, 12)
    assert parse_stay("until sunday", MONDAY, "en", arriving=arriving) == HeardStay(
        None, date(2026, 12, 13)
    )
    assert parse_stay(
        "until the fifteenth", MONDAY, "en", arriving=arriving, expecting_nights=True
    ) == HeardStay(None, date(2026, 12, 15))
    assert parse_stay("hasta el lunes", MONDAY, "es", arriving=arriving) == HeardStay(
        None, date(2026, 12, 14)
    )
    # asked how long: a bare number is the nights, a day is the day of leaving
    assert parse_stay("three", MONDAY, "en", arriving=arriving, expecting_nights=True) == (
        HeardStay(None, None, 3)
    )
    assert parse_stay("sunday", MONDAY, "en", arriving=arriving, expecting_nights=True) == (
        HeardStay(None, date(2026, 12, 13))
    )
    # without being asked, "three" is no stay
    assert parse_stay("three", MONDAY, "en", arriving=arriving).empty


@pytest.mark.parametrize(
    ("text", "lang", "expecting", "expected"),
    [
        ("two people", "en", False, 2),
        ("two adults and a child", "en", False, 3),
        ("there are three of us", "en", False, 3),
        ("me and my wife", "en", False, 2),
        ("just me", "en", False, 1),
        ("family of five", "en", False, 5),
        ("four", "en", True, 4),
        ("four", "en", False, None),
        ("to", "en", True, 2),
        ("for three nights", "en", True, None),
        ("for two nights for two people", "en", False, 2),
        ("an apartment from friday for two", "en", False, 2),
        ("for two nights", "en", False, None),
        ("algo para cuatro desde el viernes", "es", False, 4),
        ("dos personas", "es", False, 2),
        ("somos cuatro", "es", False, 4),
        ("mi pareja y yo", "es", False, 2),
        ("tres", "es", True, 3),
        ("dos adultos y dos niños", "es", False, 4),
    ],
)
def test_guests(text: str, lang: str, expecting: bool, expected: int | None) -> None:
    assert parse_guests(text, lang, expecting=expecting) == expected


@pytest.mark.parametrize(
    ("text", "lang", "expecting", "expected"),
    [
        ("my name is anna smith", "en", False, "Anna Smith"),
        ("it's under the name of john o'brien please", "en", False, "John O'brien"),
        ("anna smith", "en", True, "Anna Smith"),
        ("yes it's peter jones", "en", True, "Peter Jones"),
        ("it's peter jones", "en", False, None),
        ("i'm looking for an apartment", "en", False, None),
        ("from saturday", "en", True, None),
        ("me llamo José García", "es", False, "José García"),
        ("a nombre de ana lópez", "es", False, "Ana López"),
        ("ana", "es", True, "Ana"),
    ],
)
def test_guest_names(text: str, lang: str, expecting: bool, expected: str | None) -> None:
    assert extract_guest_name(text, lang, expecting=expecting) == expected


@pytest.mark.parametrize(
    ("text", "lang", "topics"),
    [
        ("what time is check in", "en", {Topic.CHECK_IN}),
        ("when do we have to check out", "en", {Topic.CHECK_OUT}),
        ("what's the wifi password", "en", {Topic.WIFI}),
        ("is there parking for my car", "en", {Topic.PARKING}),
        ("how do i get there from the airport", "en", {Topic.AIRPORT}),
        ("we arrive at the train station", "en", {Topic.TRAIN, Topic.CHECK_IN}),
        ("where is your office", "en", {Topic.ADDRESS}),
        ("can you recommend a good restaurant", "en", {Topic.TIPS}),
        ("how much is it per night", "en", {Topic.APARTMENTS}),
        ("do you have an apartment available", "en", {Topic.BOOK}),
        ("a que hora es la entrada", "es", {Topic.CHECK_IN}),
        ("cual es la contraseña del wifi", "es", {Topic.WIFI}),
        ("como llego desde el aeropuerto", "es", {Topic.AIRPORT}),
        ("quiero reservar un apartamento", "es", {Topic.BOOK}),
    ],
)
def test_topics(text: str, lang: str, topics: set[Topic]) -> None:
    assert detect_topics(text, lang) == topics


def test_check_in_words_with_a_day_are_the_dates_not_a_question() -> None:
    assert Topic.CHECK_IN not in detect_topics("checking in on friday", "en", has_dates=True)
    assert Topic.CHECK_IN in detect_topics("checking in on friday", "en")


def test_a_number_of_people_is_not_a_call_for_a_person() -> None:
    assert Intent.HUMAN not in concierge_intents("para dos personas", "es")
    assert Intent.HUMAN not in concierge_intents("somos una persona", "es")
    assert Intent.HUMAN in concierge_intents("quiero hablar con una persona", "es")
    assert Intent.HUMAN in concierge_intents("can i talk to a person", "en")


def test_picking_an_offered_apartment() -> None:
    offers = [
        (("market", "studio", "Central Market Studio"), 75, 2),
        (("ruzafa", "loft", "Ruzafa Loft"), 95, 2),
        (("beach", "cabanyal", "Cabanyal Beach Flat"), 120, 4),
    ]
    assert pick_apartment("the second one", offers) == 1
    assert pick_apartment("the loft please", offers) == 1
    assert pick_apartment("the one by the beach", offers) == 2
    assert pick_apartment("the cheapest", offers) == 0
    assert pick_apartment("the biggest", offers) == 2
    assert pick_apartment("el último", offers, "es") == 2
    assert pick_apartment("hmm i don't know", offers) is None


def test_what_to_change() -> None:
    assert change_part("the dates", "en") == "dates"
    assert change_part("the number of guests", "en") == "guests"
    assert change_part("a different apartment", "en") == "apartment"
    assert change_part("el nombre", "es") == "name"
    assert change_part("nothing", "en") is None
