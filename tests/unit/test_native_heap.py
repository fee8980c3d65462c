"""The C-heap remedies do what glibc documents, and nothing where there is no glibc."""

from __future__ import annotations

import asyncio
import ctypes

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


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_trim_gives_back_freed_pages_that_glibc_keeps() -> None:
    libc = native_heap._glibc()
    if libc is None:
        pytest.skip("not glibc")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    # 64 MB in blocks under the mmap threshold (they live in the heap), touched, each followed
    # by a small block that stays: when the big ones are freed they cannot merge into the
    # heap's top, so glibc keeps their pages.
    blocks, pins = [], []
    for _ in range(2048):
        blocks.append(libc.malloc(32 * 1024))
        pins.append(libc.malloc(64))
        ctypes.memset(blocks[-1], 1, 32 * 1024)
    for block in blocks:
        libc.free(block)
    kept = rss_mb()
    assert native_heap.trim() is True
    assert rss_mb() < kept - 40, "the freed pages went back to the system"
    for pin in pins:
        libc.free(pin)


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
    assert idle._task is None, "0 means never"
