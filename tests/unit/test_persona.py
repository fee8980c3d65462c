"""Loading and validating personas, and the words they produce."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from voxagent.agents.persona import (
    LANGUAGES,
    Persona,
    PersonaError,
    available_personas,
    load_persona,
)
from voxagent.agents.scripted_base import SCRIPT_LINES

MARIA_TOML = Path(__file__).parents[2] / "src/voxagent/agents/personas/maria.toml"


@pytest.fixture(scope="module")
def maria() -> Persona:
    return load_persona("maria")


def test_maria_is_packaged(maria: Persona) -> None:
    assert "maria" in available_personas()
    assert maria.agent_name == "María"
    assert maria.clinic_name("en") == "Happy Paws Veterinary Clinic"
    assert maria.zone == ZoneInfo("America/Mexico_City")
    assert maria.slot_minutes == 30


def test_load_by_path_gives_the_same_persona(maria: Persona) -> None:
    by_path = load_persona(str(MARIA_TOML))
    assert by_path.lines == maria.lines
    assert by_path.hours == maria.hours


def test_every_line_exists_in_both_languages(maria: Persona) -> None:
    for key, texts in maria.lines.items():
        assert set(texts) == set(LANGUAGES), key
        for lang in LANGUAGES:
            assert texts[lang].strip(), (key, lang)


def test_both_languages_use_the_same_placeholders(maria: Persona) -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for key, texts in maria.lines.items():
        assert fields(texts["en"]) == fields(texts["es"]), key


def test_maria_has_every_line_the_receptionist_says(maria: Persona) -> None:
    assert maria.missing_lines(SCRIPT_LINES) == []


def test_spanish_lines_are_actually_spanish(maria: Persona) -> None:
    assert maria.line("goodbye", "es").startswith("Gracias por llamar")
    assert "¿" in maria.line("anything_else", "es")
    different = [k for k, t in maria.lines.items() if t["en"] != t["es"]]
    assert len(different) >= len(maria.lines) - 2


def test_hours_and_services(maria: Persona) -> None:
    assert maria.intervals_on(date(2026, 11, 23)) == ((time(9), time(18)),)  # Monday
    assert maria.intervals_on(date(2026, 11, 28)) == ((time(9), time(13)),)  # Saturday
    assert maria.intervals_on(date(2026, 11, 22)) == ()  # Sunday
    assert maria.intervals_on(date(2026, 12, 25)) == ()  # a holiday
    assert {"consultation", "vaccination", "grooming", "sterilization"} <= set(maria.services)
    assert maria.services["vaccination"].price > 0


@pytest.mark.parametrize(
    ("hour", "en", "es"),
    [
        (8, "Good morning", "Buenos días"),
        (14, "Good afternoon", "Buenas tardes"),
        (21, "Good evening", "Buenas noches"),
    ],
)
def test_greeting_by_time_of_day_in_clinic_time(
    maria: Persona, hour: int, en: str, es: str
) -> None:
    local = datetime(2026, 11, 23, hour, tzinfo=maria.zone)
    as_utc = local.astimezone(UTC)  # callers pass UTC; the clinic's clock decides
    assert maria.greeting_for(as_utc, "en").startswith(f"{en}, thank you for calling")
    assert maria.greeting_for(as_utc, "es").startswith(f"{es}, gracias por llamar")


def test_full_greeting(maria: Persona) -> None:
    morning = datetime(2026, 11, 23, 9, tzinfo=maria.zone)
    assert maria.greeting_for(morning, "en") == (
        "Good morning, thank you for calling Happy Paws Veterinary Clinic. "
        "This is María. How can I help you?"
    )


def test_line_fills_clinic_facts_and_named_values(maria: Persona) -> None:
    assert "Orizaba" in maria.line("address", "en")
    assert maria.line("ask_reason", "en", pet="Max") == "What is the reason for Max's visit?"
    with pytest.raises(PersonaError, match=r"\{pet\}"):
        maria.line("ask_reason", "en")
    with pytest.raises(PersonaError, match="no line 'nope'"):
        maria.line("nope", "en")
    with pytest.raises(PersonaError, match="unsupported language"):
        maria.line("goodbye", "fr")


def test_formatting(maria: Persona) -> None:
    moment = datetime(2026, 11, 24, 10, tzinfo=maria.zone)
    assert maria.format_when(moment, "en") == "Tuesday, November 24 at 10:00 AM"
    assert maria.format_when(moment, "es") == "martes 24 de noviembre a las 10:00 de la mañana"
    one_pm = datetime(2026, 11, 24, 13, 30, tzinfo=maria.zone)
    assert maria.format_when(one_pm, "es").endswith("a la 1:30 de la tarde")
    assert maria.format_time(time(12, 0), "en") == "12:00 PM"
    assert maria.hours_summary("en") == (
        "We're open Monday to Friday from 9:00 AM to 6:00 PM and Saturday from 9:00 AM "
        "to 1:00 PM. We're closed on Sundays."
    )
    assert maria.hours_summary("es").startswith("Abrimos de lunes a viernes")
    assert maria.price_text("en", "vaccination") == "A vaccination is 350 pesos."
    assert maria.price_text("en").startswith("Our prices: a consultation is 450 pesos")
    assert maria.join(["a", "b", "c"], "en", "or") == "a, b or c"
    assert maria.join(["perros", "iguanas"], "es") == "perros e iguanas"


def test_fits_hours(maria: Persona) -> None:
    zone = maria.zone
    assert maria.fits_hours(datetime(2026, 11, 23, 9, tzinfo=zone))
    assert maria.fits_hours(datetime(2026, 11, 23, 17, 30, tzinfo=zone))
    assert not maria.fits_hours(datetime(2026, 11, 23, 17, 45, tzinfo=zone))  # runs past 18:00
    assert not maria.fits_hours(datetime(2026, 11, 23, 8, 30, tzinfo=zone))
    assert not maria.fits_hours(datetime(2026, 11, 22, 10, tzinfo=zone))  # Sunday


def test_persona_name_and_shutdown_line(maria: Persona) -> None:
    assert maria.name == "maria"
    assert maria.line("shutdown", "es").startswith("Lo siento")


def test_unknown_persona_names_the_known_ones() -> None:
    with pytest.raises(PersonaError, match=r"unknown persona 'zorro'; available: .*maria"):
        load_persona("zorro")
    with pytest.raises(PersonaError, match="does not exist"):
        load_persona("/nowhere/zorro.toml")


# -- broken files ------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _maria_text() -> str:
    return MARIA_TOML.read_text(encoding="utf-8")


def test_invalid_toml_is_reported_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[persona\nagent_name = 'x'")
    with pytest.raises(PersonaError, match=r"broken\.toml: not valid TOML"):
        load_persona(path)


def test_missing_spanish_line_is_named(tmp_path: Path) -> None:
    text = _maria_text().replace('es = "Lo siento, esa hora ya pasó."\n', "")
    with pytest.raises(PersonaError, match=r"'lines\.past_time\.es' is missing"):
        load_persona(_write(tmp_path, text))


def test_missing_clinic_key_is_named(tmp_path: Path) -> None:
    text = _maria_text().replace('time_zone = "America/Mexico_City"\n', "")
    with pytest.raises(PersonaError, match=r"'clinic\.time_zone' is missing"):
        load_persona(_write(tmp_path, text))


def test_missing_core_line_is_named(tmp_path: Path) -> None:
    start = _maria_text().index("[lines.greeting]")
    end = _maria_text().index("[lines.salutation_morning]")
    text = _maria_text()[:start] + _maria_text()[end:]
    with pytest.raises(PersonaError, match=r"'lines\.greeting' is missing"):
        load_persona(_write(tmp_path, text))


def test_placeholder_mismatch_between_languages(tmp_path: Path) -> None:
    text = _maria_text().replace(
        'es = "¿Cuál es el motivo de la visita de {pet}?"',
        'es = "¿Cuál es el motivo de {mascota}?"',
    )
    with pytest.raises(PersonaError, match=r"lines\.ask_reason\.es.*placeholders"):
        load_persona(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('time_zone = "America/Mexico_City"', 'time_zone = "Mars/Olympus"', "unknown time zone"),
        ('monday = ["09:00-18:00"]', 'monday = ["18:00-09:00"]', "closes before it opens"),
        ('monday = ["09:00-18:00"]', 'monday = ["nine to six"]', "bad range"),
        ('monday = ["09:00-18:00"]\n', "", r"'clinic\.hours\.monday' is missing"),
        ("slot_minutes = 30", "slot_minutes = 0", r"'clinic\.slot_minutes' must be an integer"),
        ('default_service = "consultation"', 'default_service = "x"', "names no service"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = _maria_text()
    assert old in text
    with pytest.raises(PersonaError, match=message):
        load_persona(_write(tmp_path, text.replace(old, new, 1)))


def test_receptionist_refuses_a_persona_without_its_lines(tmp_path: Path) -> None:
    from voxagent.agents.scripted import ScriptedReceptionist
    from voxagent.calls.info import CallInfo

    start = _maria_text().index("[lines.booked]")
    end = _maria_text().index("[lines.closed_day]")
    persona = load_persona(_write(tmp_path, _maria_text()[:start] + _maria_text()[end:]))
    with pytest.raises(PersonaError, match="lacks lines the receptionist needs: booked"):
        ScriptedReceptionist(persona, None, CallInfo("c"))  # type: ignore[arg-type]
