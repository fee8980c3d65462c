"""Naming what a JSON value is, for error reasons that never dump a whole payload."""

from __future__ import annotations


def describe_json(value: object) -> str:
    """JSON-ish type name plus a short preview (strings only)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        preview = value if len(value) <= 24 else value[:21] + "..."
        return f"string {preview!r}"
    if isinstance(value, list):
        return "array"
    return "object"
