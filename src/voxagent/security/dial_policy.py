"""Who may be dialled: the toll-fraud guard in front of every outbound call.

A stolen API key must not be able to call premium-rate numbers abroad at the owner's expense:
``ALLOWED_DIAL_PREFIXES`` (e.g. ``+1,+34``) lists where calls may go, ``DENIED_DIAL_PREFIXES``
carves ranges out of it (premium-rate, say ``+1900``). The longest matching prefix wins, so a
denied range inside an allowed country is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DialPolicy"]


def _prefixes(values: Iterable[str]) -> list[str]:
    out = []
    for value in values:
        prefix = value.strip().replace(" ", "")
        if prefix:
            out.append(prefix if prefix.startswith("+") else f"+{prefix}")
    return out


class DialPolicy:
    def __init__(self, allowed: Iterable[str] = (), denied: Iterable[str] = ()) -> None:
        self.allowed = _prefixes(allowed)
        self.denied = _prefixes(denied)

    @classmethod
    def parse(cls, allowed: str, denied: str) -> DialPolicy:
        return cls(allowed.split(","), denied.split(","))

    def refusal(self, number: str) -> str | None:
        """Why ``number`` (E.164) may not be dialled, or None when it may."""
        allowed = max((p for p in self.allowed if number.startswith(p)), key=len, default=None)
        denied = max((p for p in self.denied if number.startswith(p)), key=len, default=None)
        if denied is not None and (allowed is None or len(denied) >= len(allowed)):
            return f"{denied} numbers are refused (DENIED_DIAL_PREFIXES)"
        if self.allowed and allowed is None:
            return (
                f"only numbers starting with {', '.join(self.allowed)} may be dialled "
                "(ALLOWED_DIAL_PREFIXES)"
            )
        return None
