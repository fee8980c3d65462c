"""One log format for the whole process: time, level, module, message; no PII, no secrets.

Every record passes a :class:`~voxagent.security.redaction.RedactingFilter` on its way out:
phone numbers, e-mails and card-like numbers are masked, and the process's own secrets are
replaced, whatever module logged them and however (arguments, exceptions, tracebacks).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

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
