"""Keep the C heap of a long-running server from creeping up.

Every WebRTC peer brings threads (aiortc's decoder thread, FFmpeg's codec thread pools), and
glibc gives each allocating thread a malloc arena of its own, up to eight per core. Peers come
and go; memory freed in one arena is not reused by another, and an arena returns free pages
to the system only from its top. In a 10-minute soak at 10 peers this showed as the RSS rising
by about 1 MB a minute, in steps, while Python's own heap (tracemalloc) stayed flat. Two
remedies, both glibc-only (elsewhere they do nothing):

- cap the number of arenas at start (``mallopt(M_ARENA_MAX)``, what ``MALLOC_ARENA_MAX`` does;
  an operator's ``MALLOC_ARENA_MAX`` wins);
- give free pages back to the system now and then (``malloc_trim``), off the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from functools import cache

from voxagent.periodic import Periodic

__all__ = ["HeapTrimmer", "limit_arenas", "trim"]

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter number for the arena cap (malloc.h)."""


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas (0: leave glibc's default). True when the cap was set."""
    libc = _glibc()
    if arenas <= 0 or libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return the heap's free pages to the system; True when glibc released some."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


class HeapTrimmer:
    """Trims every ``interval_s`` in a worker thread (a trim walks every arena: milliseconds
    that the event loop should not wait for)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.trims = 0
        self._loop = Periodic(interval_s, self._trim, name="heap-trimmer")

    def start(self) -> None:
        if self.interval_s > 0 and _glibc() is not None:
            self._loop.start()

    async def _trim(self) -> None:
        await asyncio.to_thread(trim)
        self.trims += 1

    async def stop(self) -> None:
        await self._loop.stop()
