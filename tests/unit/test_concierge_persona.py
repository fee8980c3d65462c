"""Sandra's persona file: loaded by its kind, validated at load (naming the bad key), and the
words it produces. María's persona is unchanged by the kinds."""

from __future__ import annotations

import string
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from voxagent.agents.concierge_base import CONCIERGE_SCRIPT_LINES
from voxagent.agents.concierge_persona import INFO_LINES, ConciergePersona
from voxagent.agents.kinds import load_any_persona
from voxagent.agents.persona import (
    ENGINE_LINES,
    LANGUAGES,
    Persona,
    PersonaError,
    available_personas,
    load_persona,
)

SANDRA_TOML = Path(__file__).parents[2] / "src/voxagent/agents/personas/sandra.toml"
MADRID = "Europe/Madrid"


@pytest.fixture(scope="module")
def sandra() -> ConciergePersona:
    persona = load_any_persona("sandra")
    assert isinstance(persona, ConciergePersona)
    return persona


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "custom.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _sandra_text() -> str:
    return SANDRA_TOML.read_text(encoding="utf-8")


def test_sandra_is_packaged_as_a_concierge(sandra: ConciergePersona) -> None:
    assert "sandra" in available_personas()
    assert sandra.kind == "concierge"
    assert sandra.agent_name == "Sandra"
    assert sandra.company_name("en") == "Valencia Sol Apartments"
    assert sandra.company_name("es") == "Apartamentos Valencia Sol"
    assert sandra.time_zone == MADRID
    assert (sandra.check_in, sandra.check_out) == (time(15), time(11))
    assert sandra.phone.startswith("+34")
    assert 4 <= len(sandra.apartments) <= 6
    assert all(a.price_per_night > 0 and a.max_guests >= 1 for a in sandra.apartments)


def test_maria_is_still_a_clinic_whichever_loader() -> None:
    by_kind = load_any_persona("maria")
    assert isinstance(by_kind, Persona) and by_kind.kind == "clinic"
    assert by_kind.lines == load_persona("maria").lines
    assert by_kind.hours == load_persona("maria").hours


def test_the_clinic_loader_refuses_a_concierge() -> None:
    with pytest.raises(PersonaError, match="is a 'concierge' persona"):
        load_persona("sandra")


def test_every_line_in_both_languages_with_the_same_placeholders(
    sandra: ConciergePersona,
) -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key, texts in sandra.lines.items():
        assert set(texts) == set(LANGUAGES), key
        assert fields(texts["en"]) == fields(texts["es"]), key


def test_sandra_has_every_line_the_engine_and_the_concierge_say(
    sandra: ConciergePersona,
) -> None:
    assert sandra.missing_lines((*ENGINE_LINES, *CONCIERGE_SCRIPT_LINES, "transfer")) == []
    for lang in LANGUAGES:
        for key in ENGINE_LINES:
            assert sandra.line(key, lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_info_topic_is_spoken_with_its_facts(sandra: ConciergePersona, lang: str) -> None:
    answers = {topic: sandra.info(topic, lang) for topic in INFO_LINES}
    assert all(answers.values())
    assert "ValenciaSol-Guest" in answers["wifi"] and "naranjas 2026" in answers["wifi"]
    assert "3:00" in answers["check_in"] and "11:00" in answers["check_out"]
    assert "Xàtiva" in answers["airport"] and "Joaquín Sorolla" in answers["train"]
    assert "Carrer de Cádiz 18" in answers["address"]


@pytest.mark.parametrize(
    ("hour", "lang", "salutation"),
    [
        (9, "en", "Good morning"),
        (15, "en", "Good afternoon"),
        (22, "en", "Good evening"),
        (9, "es", "Buenos días"),
        (15, "es", "Buenas tardes"),
        (22, "es", "Buenas noches"),
    ],
)
def test_the_greeting_follows_valencia_clock(
    sandra: ConciergePersona, hour: int, lang: str, salutation: str
) -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2026, 7, 10, hour, tzinfo=ZoneInfo(MADRID)).astimezone(UTC)
    greeting = sandra.greeting_for(now, lang)
    assert greeting.startswith(salutation)
    assert "Sandra" in greeting and sandra.company_name(lang) in greeting


def test_an_outbound_greeting_names_the_guest(sandra: ConciergePersona) -> None:
    now = datetime(2026, 7, 10, 8, tzinfo=UTC)  # 10:00 in Valencia (summer time)
    assert sandra.greeting_for(now, "es", outbound=True, name="Ana") == (
        "Buenos días Ana, le llama Sandra de Apartamentos Valencia Sol. "
        "¿En qué le puedo ayudar hoy?"
    )
    assert "welcome" not in sandra.greeting_for(now, "en", outbound=True)


def test_stays_nights_and_guests_are_read_aloud(sandra: ConciergePersona) -> None:
    from datetime import date

    stay = sandra.stay_text(date(2026, 12, 12), date(2026, 12, 15), "es")
    assert stay == "del sábado 12 de diciembre al martes 15 de diciembre"
    assert sandra.nights_text(1, "en") == "one night"
    assert sandra.nights_text(3, "es") == "3 noches"
    assert sandra.guests_text(1, "es") == "una persona"
    assert sandra.guests_text(4, "en") == "4 guests"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("[lines.ask_guests]", "[lines.guests_example]", r"'lines\.ask_guests' is missing"),
        ("[lines.still_there]", "[lines.no_input_goodbye]", r"'lines\.still_there' is missing"),
        ("[lines.shutdown]", "[lines.say_again]", r"'lines\.shutdown' is missing"),
    ],
)
def test_a_missing_line_fails_at_load_naming_it(
    tmp_path: Path, start: str, end: str, message: str
) -> None:
    text = _sandra_text()
    cut = text[: text.index(start)] + text[text.index(end) :]
    with pytest.raises(PersonaError, match=message):
        load_any_persona(_write(tmp_path, cut))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'es = "¿Cuántas personas serán?"\n',
            "",
            r"'lines\.ask_guests\.es' is missing",
        ),
        (
            'es = "¿Cuántas noches se quedaría, desde el {day}?"',
            'es = "¿Cuántas noches se quedaría?"',
            r"'lines\.ask_nights\.es' uses placeholders",
        ),
        ('time_zone = "Europe/Madrid"', 'time_zone = "Europe/Atlantis"', "unknown time zone"),
        ('check_in = "15:00"', 'check_in = "three"', r"'company\.check_in' has a bad time"),
        ('network = "ValenciaSol-Guest"\n', "", r"'company\.wifi\.network' is missing"),
        ("max_guests = 4\n", "", r"'apartments\.cabanyal-beach-flat\.max_guests' is missing"),
        ('kind = "concierge"', 'kind = "spaceship"', "'persona.kind' is 'spaceship'"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = _sandra_text()
    assert old in text
    with pytest.raises(PersonaError, match=message):
        load_any_persona(_write(tmp_path, text.replace(old, new, 1)))


def test_a_clinic_missing_an_engine_line_fails_when_loaded_for_calls(tmp_path: Path) -> None:
    maria = (Path(__file__).parents[2] / "src/voxagent/agents/personas/maria.toml").read_text()
    cut = maria[: maria.index("[lines.still_there]")] + maria[maria.index("[lines.no_input") :]
    with pytest.raises(PersonaError, match=r"'lines\.still_there' is missing"):
        load_any_persona(_write(tmp_path, cut))
