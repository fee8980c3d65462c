"""One log format for the whole process: time, level, module, message; no PII, no secrets.

Every record passes a :class:`~voxagent.security.redaction.RedactingFilter` on its way out:
phone numbers, e-mails and card-like numbers are masked, and the process's own secrets are
replaced, whatever module logged them and however (arguments, exceptions, tracebacks).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable

from voxagent.security.redaction import RedactingFilter, Redactor


def configure_logging(level: str = "info", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
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
