"""A library that logs every failed attempt is heard once a minute, not once per event."""

from __future__ import annotations

import logging

from voxagent.telemetry.logging import AtMostEvery


def test_one_record_per_interval_gets_through() -> None:
    now = [0.0]
    gate = AtMostEvery(60.0, clock=lambda: now[0])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Cannot publish", None, None)
    passed = []
    for t in [0.0, 0.1, 5.0, 59.9, 60.0, 61.0, 125.0]:
        now[0] = t
        passed.append(gate.filter(record))
    assert passed == [True, False, False, False, True, False, True]
    assert gate.suppressed == 4
