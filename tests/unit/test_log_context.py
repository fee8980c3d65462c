"""Every line a call logs carries its id; nothing else does.

Two real calls (the engine with in-memory parts) are opened through the lifecycle at once;
their tasks log (each greeting's turn line, the end of the call), and so does the test's own
task in between. Both formats are read back."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fakes.engine import EchoAgent, FakeChannel, ScriptedStt, ToneTts, make_parts, wait_for
from voxagent.audio.format import AudioFormat
from voxagent.calls.info import CallInfo
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.calls.sessions import MemorySessionStore
from voxagent.conversation.call import Call
from voxagent.conversation.parts import CallParts
from voxagent.telemetry.logging import (
    CALL_ID,
    CallIdFilter,
    JsonFormatter,
    TextFormatter,
    call_context,
    configure_logging,
)
from voxagent.telemetry.stats import ServerStats


class Factory:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    def parts(self, info: CallInfo, fmt: AudioFormat, **_: Any) -> CallParts:
        return make_parts(EchoAgent(), ScriptedStt([]), ToneTts(), self.executor)


class Records:
    async def save(self, *_: Any, **__: Any) -> None:
        return None


class Captured:
    def __init__(self) -> None:
        self.text = io.StringIO()
        self.json = io.StringIO()

    def text_lines(self) -> list[str]:
        return self.text.getvalue().splitlines()

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.json.getvalue().splitlines()]


@pytest.fixture
def captured() -> Iterator[Captured]:
    out = Captured()
    handlers = []
    for stream, formatter in ((out.text, TextFormatter()), (out.json, JsonFormatter())):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handler.addFilter(CallIdFilter())
        handlers.append(handler)
    logger = logging.getLogger("voxagent")
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    yield out
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(1)
    yield pool
    pool.shutdown()


async def test_the_lines_a_call_logs_carry_its_id_and_no_other_line_does(
    captured: Captured, executor: ThreadPoolExecutor
) -> None:
    calls = CallLifecycle(
        Factory(executor),  # type: ignore[arg-type]
        MemorySessionStore(),
        Records(),  # type: ignore[arg-type]
        ServerStats(),
    )
    outside = logging.getLogger("voxagent.test.outside")
    opened: list[Call] = []
    for call_id in ("call-a", "call-b"):
        channel = FakeChannel()
        call = await calls.open(CallInfo(call_id), channel)
        channel.call = call
        opened.append(call)
        assert CALL_ID.get() is None, "the caller's own task is not the call's"
        outside.info("between the calls")
    await wait_for(lambda: len(_turns(captured)) == 2, 5)
    for call in opened:
        await calls.close(call)
    outside.info("after the calls")

    turn_lines = _turns(captured)
    assert {(line["call_id"], json.loads(line["message"])["call_id"]) for line in turn_lines} == {
        ("call-a", "call-a"),
        ("call-b", "call-b"),
    }, "each greeting's turn line (its respond task) carries its own call's id"
    ended = [
        line for line in captured.json_lines() if line["message"].endswith(" ended: completed")
    ]
    assert [(line["call_id"], line["message"].split()[1]) for line in ended] == [
        ("call-a", "call-a"),
        ("call-b", "call-b"),
    ]
    outside_json = [line for line in captured.json_lines() if line["logger"] == outside.name]
    assert len(outside_json) == 3 and not any("call_id" in line for line in outside_json)

    text = captured.text_lines()
    assert len(text) == len(captured.json_lines())
    for line in text:
        for call_id in ("call-a", "call-b"):
            if call_id in line:
                assert f" [{call_id}]: " in line, line
        if outside.name in line:
            assert f"{outside.name}: " in line and "[call-" not in line, line


def _turns(captured: Captured) -> list[dict[str, Any]]:
    return [line for line in captured.json_lines() if line["logger"] == "voxagent.turns"]


async def test_a_task_started_in_a_call_context_keeps_it_after_the_block() -> None:
    seen: list[str | None] = []

    async def later() -> None:
        await asyncio.sleep(0.01)
        seen.append(CALL_ID.get())

    with call_context("call-x"):
        task = asyncio.create_task(later())
    seen.append(CALL_ID.get())
    await task
    assert seen == [None, "call-x"]


def test_a_record_that_names_its_call_keeps_that_id() -> None:
    record = logging.LogRecord("voxagent.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.call_id = "given"
    with call_context("ambient"):
        CallIdFilter().filter(record)
    assert record.call_id == "given"
    entry = json.loads(JsonFormatter().format(record))
    assert entry.pop("time").endswith("Z")
    assert entry == {
        "level": "info",
        "logger": "voxagent.x",
        "message": "hello you",
        "call_id": "given",
    }


def test_configure_logging_picks_the_format_and_keeps_redaction() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for fmt, formatter in (("json", JsonFormatter), ("text", TextFormatter)):
            configure_logging("info", ["s3cr3t-value"], fmt=fmt)
            (handler,) = root.handlers
            assert isinstance(handler.formatter, formatter)
            stream = io.StringIO()
            handler.setStream(stream)  # type: ignore[attr-defined]
            with call_context("call-z"):
                logging.getLogger("voxagent.x").warning("key is s3cr3t-value")
            line = stream.getvalue().strip()
            assert "call-z" in line and "s3cr3t-value" not in line, line
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_what_a_call_does_when_asked_from_outside_names_the_call(
    captured: Captured, executor: ThreadPoolExecutor
) -> None:
    """A line typed on a page, an operator's announcement: asked for from another task (a
    socket's, a request's), the turn they start still logs under the call's id."""
    calls = CallLifecycle(
        Factory(executor),  # type: ignore[arg-type]
        MemorySessionStore(),
        Records(),  # type: ignore[arg-type]
        ServerStats(),
    )
    channel = FakeChannel()
    call = await calls.open(CallInfo("call-asked"), channel)
    channel.call = call
    await wait_for(lambda: len(_turns(captured)) == 1, 5)
    assert CALL_ID.get() is None
    call.hear_text("hello from the page")
    call.announce("one moment please")
    await wait_for(lambda: len(_turns(captured)) == 3, 5)
    await calls.close(call)
    kinds = [json.loads(line["message"])["kind"] for line in _turns(captured)]
    assert sorted(kinds) == ["announcement", "greeting", "reply"]
    assert {line["call_id"] for line in _turns(captured)} == {"call-asked"}
