"""Personal data and secrets kept out of logs (and, on request, out of stored transcripts).

* A phone number keeps its country code and last two digits: ``+1 555 123 4567`` → ``+1••••••••67``.
* An e-mail address keeps its domain: ``ana@example.com`` → ``•••@example.com``.
* A card-like number (13 to 19 digits) becomes ``[card]``.
* Configured secrets (API keys, provider keys, signing secrets) become ``[secret]`` wherever
  they appear, whole.

The patterns are deliberately broad: a log line that loses a harmless long number is better
than one that keeps a caller's phone number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["RedactingFilter", "Redactor", "mask_phone", "redact"]

_EMAIL = re.compile(r"[\w.+-]+@([\w-]+\.[\w.-]+)")
_CARD = re.compile(r"(?<![\w+])(?:\d[ -]?){12,18}\d(?!\w)")
_PHONE = re.compile(r"(?<![\w])\+?\d(?:[\s().-]?\d){6,16}(?!\w)")


def mask_phone(number: str) -> str:
    """``+15551234567`` → ``+1••••••••67`` (the first and the last two digits kept)."""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 7:
        return number
    head = digits[:1] if number.strip().startswith("+") else ""
    plus = "+" if number.strip().startswith("+") else ""
    return f"{plus}{head}{'•' * (len(digits) - len(head) - 2)}{digits[-2:]}"


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    if len(digits) < 7 or _DATE.fullmatch(found.strip()):
        return found
    return mask_phone(found)


def redact(text: str) -> str:
    """Mask e-mails, card-like numbers and phone numbers in ``text``."""
    text = _EMAIL.sub(lambda m: f"•••@{m.group(1)}", text)
    text = _CARD.sub(
        lambda m: "[card]" if len(re.sub(r"\D", "", m.group(0))) >= 13 else m.group(0), text
    )
    return _PHONE.sub(_phone, text)


class Redactor:
    """:func:`redact`, plus the process's own secrets."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[secret]")
        return redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites every record's message (arguments filled in) before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._redactor(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redactor(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True
