"""Caller scripts the fakes understand, shared by the end-to-end tests and the benchmarks."""

from __future__ import annotations

from datetime import date, timedelta

SPANISH_WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes")


def a_weekday_ahead(today: date | None = None) -> str:
    """A working day 2 to 6 days from now, in Spanish: 10:00 there is open and in the future."""
    start = today or date.today()
    day = next(d for n in range(2, 7) if (d := start + timedelta(days=n)).weekday() < 5)
    return SPANISH_WEEKDAYS[day.weekday()]


def spanish_booking_script() -> list[str]:
    """What a Spanish caller says to book a vaccination (``booking_policy("es")`` follows it)."""
    return [
        "Hola, quisiera hacer una cita para mi perro",
        "Se llama Max",
        "Necesita una vacuna",
        f"El {a_weekday_ahead()} a las diez de la mañana",
        "Sí, por favor",
        "No, eso es todo, adiós",
    ]
