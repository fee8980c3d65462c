"""The C-heap remedies do what glibc documents, and nothing where there is no glibc."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from voxagent import native_heap


def test_the_arena_cap_is_set_unless_the_operator_chose_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if native_heap._glibc() is None:
        pytest.skip("not glibc")
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert native_heap.limit_arenas(2) is True
    assert native_heap.limit_arenas(0) is False, "0 leaves glibc's default"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert native_heap.limit_arenas(2) is False, "the operator's MALLOC_ARENA_MAX wins"


TRIM_PROBE = """
import ctypes
from voxagent import native_heap

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

libc = native_heap._glibc()
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
blocks, pins = [], []
for _ in range(2048):
    blocks.append(libc.malloc(32 * 1024))
    pins.append(libc.malloc(64))
    ctypes.memset(blocks[-1], 1, 32 * 1024)
for block in blocks:
    libc.free(block)
kept = rss_mb()
released = native_heap.trim()
print(kept, released, rss_mb())
"""


def test_a_trim_gives_back_freed_pages_that_glibc_keeps() -> None:
    """In a fresh process (a test worker's heap is whatever earlier tests left): 64 MB in
    blocks under the mmap threshold, touched, each followed by a small block that stays, so
    the freed ones cannot merge into the heap's top and glibc keeps their pages."""
    if native_heap._glibc() is None:
        pytest.skip("not glibc")
    probe = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    kept, released, after = probe.stdout.split()
    assert released == "True"
    assert float(after) < float(kept) - 40, "the freed pages went back to the system"


def test_without_glibc_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_heap, "_glibc", lambda: None)
    assert native_heap.limit_arenas(2) is False
    assert native_heap.trim() is False


async def test_the_trimmer_trims_on_its_interval_and_stops() -> None:
    if native_heap._glibc() is None:
        pytest.skip("not glibc")
    trimmer = native_heap.HeapTrimmer(0.01)
    trimmer.start()
    await asyncio.sleep(0.2)
    await trimmer.stop()
    done = trimmer.trims
    assert done >= 3
    await asyncio.sleep(0.05)
    assert trimmer.trims == done, "stopped means stopped"
    idle = native_heap.HeapTrimmer(0)
    idle.start()
    assert not idle._loop.running, "0 means never"
