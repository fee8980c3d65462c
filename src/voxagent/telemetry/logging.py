"""One log format for the whole process: time, level, module, message; no PII, no secrets.

Every record passes a :class:`~voxagent.security.redaction.RedactingFilter` on its way out:
phone numbers, e-mails and card-like numbers are masked, and the process's own secrets are
replaced, whatever module logged them and however (arguments, exceptions, tracebacks).

Every record logged while a call is being served carries that call's id (``call_id``): the
lifecycle sets :data:`CALL_ID` around the call's start, and the call's tasks, created then,
inherit it (asyncio copies the context into every task it creates), as do the tasks those
tasks create. :class:`CallIdFilter` copies it onto each record: one context-variable read.
``LOG_FORMAT=json`` writes one JSON object a line instead of text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

from voxagent.security.redaction import RedactingFilter, Redactor

CALL_ID: ContextVar[str | None] = ContextVar("voxagent_call_id", default=None)
"""The call the current task serves (None outside any call)."""

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
TEXT_FORMAT_IN_CALL = "%(asctime)s %(levelname)-7s %(name)s [%(call_id)s]: %(message)s"


@contextlib.contextmanager
def call_context(call_id: str) -> Iterator[None]:
    """Within this block (and in every task created in it) records carry ``call_id``."""
    token = CALL_ID.set(call_id)
    try:
        yield
    finally:
        CALL_ID.reset(token)


class CallIdFilter(logging.Filter):
    """Puts the current call's id on every record as ``call_id`` (None outside a call); a
    record that already has one (``extra={"call_id": ...}``) keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_id", None) is None:
            record.call_id = CALL_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message``, with ``[call id]`` after the logger inside a call."""

    def __init__(self, datefmt: str | None = "%H:%M:%S") -> None:
        super().__init__(TEXT_FORMAT, datefmt)
        self._in_call = logging.PercentStyle(TEXT_FORMAT_IN_CALL)

    def formatMessage(self, record: logging.LogRecord) -> str:
        if getattr(record, "call_id", None):
            return self._in_call.format(record)
        return self._style.format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``call_id`` inside a call, ``exception`` with a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id:
            entry["call_id"] = call_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "info", secrets: Iterable[str] = (), fmt: str | None = None
) -> None:
    """``fmt``: ``text`` or ``json`` (None: the ``LOG_FORMAT`` environment variable, else
    text)."""
    chosen = (fmt or os.environ.get("LOG_FORMAT") or "text").strip().lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    handler.addFilter(CallIdFilter())
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "websockets", "aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class AtMostEvery(logging.Filter):
    """Lets one record through per ``seconds``: a library that logs every failed attempt
    (python-socketio, once per emit while Redis is away) says it once, not per event."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.seconds = seconds
        self._clock = clock
        self._last: float | None = None
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self.seconds:
            self.suppressed += 1
            return False
        self._last = now
        return True


def quiet_logger(name: str, seconds: float = 60.0) -> logging.Logger:
    """A logger (under ``voxagent.``) whose records come at most once per ``seconds``."""
    logger = logging.getLogger(f"voxagent.{name}")
    if not any(isinstance(f, AtMostEvery) for f in logger.filters):
        logger.addFilter(AtMostEvery(seconds))
    return logger
