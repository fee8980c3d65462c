"""Loopback fakes of the Anthropic Messages API and OpenAI Chat Completions, streaming.

Both speak real HTTP/1.1 (keep-alive, chunked SSE bodies) on 127.0.0.1, so the official
SDKs run unmodified against them (PROTOCOLS.md §6, §7, checked against the SDK sources in
the venv). The "model" is a *policy* the test supplies: a function from the conversation so
far (normalised to :class:`Turn`) and the offered tool names to the outputs of one response
(:class:`Text` and :class:`Call`). A test can therefore script a whole conversation
deterministically; :func:`booking_policy` is a ready-made rule-based receptionist.

Every request is recorded (:attr:`FakeLLMServer.requests`). Faults are queued with
:meth:`FakeLLMServer.inject` and each applies to one request, in order: :class:`Fail` (an HTTP
error in the vendor's JSON shape), :class:`Slow` (first byte delayed), :class:`Drop` (TCP
connection aborted mid-stream), :class:`StreamError` (the vendor's error event after the 200)
and :class:`Hang` (never answers). A wrong API key gets 401.

Like the real services the fakes refuse malformed conversations with 400, e.g. a tool call
without its result, so a history bug in the agent shows up as a failing test.

Shapes this file relies on that PROTOCOLS.md does not state: the installed ``anthropic`` SDK
(2.x) authenticates with ``Authorization: Bearer`` and a newer ``anthropic-version`` date, so
the Anthropic fake accepts ``x-api-key`` or a bearer token and any version string.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

# -- what a policy sees and returns ---------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """Text the model says (streamed word by word)."""

    text: str


@dataclass(frozen=True)
class Call:
    """A tool call the model makes (its JSON arguments streamed in pieces)."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


Output = Text | Call


@dataclass(frozen=True)
class Outcome:
    """A tool result in the request: the tool's name and its content (parsed JSON if it is)."""

    name: str
    content: Any


@dataclass(frozen=True)
class Turn:
    """One entry of a request's conversation, the same for both vendors."""

    role: str  # "user", "assistant" or "tool"
    text: str = ""
    calls: tuple[Call, ...] = ()
    results: tuple[Outcome, ...] = ()


Policy = Callable[[list[Turn], list[str]], Sequence[Output]]


def replies(*responses: Sequence[Output] | str) -> Policy:
    """A policy answering request n with ``responses[n]`` (a string is one :class:`Text`)."""
    queue = deque(responses)

    def policy(turns: list[Turn], tools: list[str]) -> Sequence[Output]:
        if not queue:
            raise AssertionError(f"the scripted model has no answer left for {turns[-1]}")
        response = queue.popleft()
        return [Text(response)] if isinstance(response, str) else response

    return policy


# -- faults ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fail:
    """Answer with this HTTP status and the vendor's error body."""

    status: int
    message: str = ""


@dataclass(frozen=True)
class Slow:
    """Wait this long before sending the first byte of the response."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Abort the TCP connection after this many content deltas (text or tool arguments)."""

    after_deltas: int = 0


@dataclass(frozen=True)
class Hang:
    """Read the request, then never answer (until the server stops)."""


@dataclass(frozen=True)
class StreamError:
    """After this many content deltas, send the vendor's in-stream error and end the body.

    Anthropic reports an overload that starts after the 200 this way (``event: error``);
    OpenAI-compatible servers send a chunk holding an ``error`` object.
    """

    after_deltas: int = 0


Fault = Fail | Slow | Drop | Hang | StreamError


# -- recorded requests -----------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the fake saw it, and how it answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    system: str = ""
    turns: list[Turn] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    status: int = 200
    fault: Fault | None = None


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Refusal(Exception):
    """A request the real service would refuse: status and message for the error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- the HTTP server both fakes share --------------------------------------------------------------


class FakeLLMServer:
    """A tiny asyncio HTTP/1.1 server; subclasses speak one vendor's API."""

    path = "/"
    provider = ""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        api_key: str = "test-key",
        chunk_delay: float = 0.0,
        first_byte_delay: float = 0.0,
    ) -> None:
        self.policy: Policy = policy or replies()
        self.api_key = api_key
        self.chunk_delay = chunk_delay
        """Pause between content deltas, to make streaming observable."""
        self.first_byte_delay = first_byte_delay
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        """Tracebacks of policies that raised (the client got a 500)."""
        self.faults: deque[Fault] = deque()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = asyncio.Event()
        self._ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without any path."""
        assert self._server is not None, "use `async with` first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> FakeLLMServer:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._stopping.set()
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    def inject(self, *faults: Fault) -> None:
        """Apply ``faults`` to the next requests, one each, in order."""
        self.faults.extend(faults)

    # -- HTTP --------------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None or not await self._respond(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must not be reused."""
        fault = self.faults.popleft() if self.faults else None
        delay = self.first_byte_delay + (fault.seconds if isinstance(fault, Slow) else 0.0)
        if delay:
            await asyncio.sleep(delay)
        record = Recorded(request.path, request.headers, {}, fault=fault)
        self.requests.append(record)
        if isinstance(fault, Hang):
            await self._stopping.wait()
            return False
        try:
            if request.method != "POST" or request.path.split("?")[0] != self.path:
                raise _Refusal(404, f"no route for {request.method} {request.path}")
            self._authenticate(request.headers)
            if isinstance(fault, Fail):
                raise _Refusal(fault.status, fault.message or _default_message(fault.status))
            try:
                body = json.loads(request.body)
            except ValueError:
                raise _Refusal(400, "the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise _Refusal(400, "the body must be a JSON object")
            record.body = body
            record.system, record.turns, record.tools = self._read(body)
            try:
                outputs = list(self.policy(record.turns, record.tools))
            except Exception:
                self.errors.append(traceback.format_exc())
                raise _Refusal(500, "the fake model's policy raised") from None
        except _Refusal as refusal:
            record.status = refusal.status
            status, payload, headers = self._error(refusal.status, refusal.message)
            await _send_json(writer, status, payload, headers)
            return True
        await _start_stream(writer)
        deltas = 0
        for frame, is_delta in self._frames(body, outputs):
            if is_delta:
                if isinstance(fault, Drop) and deltas >= fault.after_deltas:
                    writer.transport.abort()  # no final chunk: the client sees a broken body
                    return False
                if isinstance(fault, StreamError) and deltas >= fault.after_deltas:
                    await _send_chunk(writer, self._stream_error())
                    await _end_stream(writer)
                    return True
                if deltas and self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                deltas += 1
            await _send_chunk(writer, frame)
        await _end_stream(writer)
        return True

    # -- vendor specifics (subclasses) -------------------------------------------------------------

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def _read(self, body: dict[str, Any]) -> tuple[str, list[Turn], list[str]]:
        """Validate a request body; its system prompt, conversation and tool names."""
        raise NotImplementedError

    def _error(self, status: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        raise NotImplementedError

    def _frames(self, body: dict[str, Any], outputs: list[Output]) -> Iterator[tuple[bytes, bool]]:
        """SSE frames of one response, each flagged if it carries a content delta."""
        raise NotImplementedError

    def _stream_error(self) -> bytes:
        """The SSE frame of a failure after the response has started."""
        raise NotImplementedError

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"


# -- Anthropic -------------------------------------------------------------------------------------

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class FakeAnthropic(FakeLLMServer):
    """``POST /v1/messages`` with ``stream: true``. Point ``AsyncAnthropic(base_url=url)`` here."""

    path = "/v1/messages"
    provider = "anthropic"

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        bearer = headers.get("authorization", "")
        key = headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip()
        if key != self.api_key:
            raise _Refusal(401, "invalid x-api-key")
        if not headers.get("anthropic-version"):
            raise _Refusal(400, "anthropic-version: header is required")

    def _error(self, status: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        request_id = self._next_id("req_fake")
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "error")
        headers = {"request-id": request_id}
        if status == 429:
            headers["retry-after"] = "1"
        payload = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }
        return status, payload, headers

    def _stream_error(self) -> bytes:
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return f"event: error\ndata: {json.dumps(error)}\n\n".encode()

    def _read(self, body: dict[str, Any]) -> tuple[str, list[Turn], list[str]]:
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _Refusal(400, "model: Field required")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
            raise _Refusal(400, "max_tokens: Field required")
        if body.get("stream") is not True:
            raise _Refusal(400, "this fake only answers stream: true requests")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Refusal(400, "messages: at least one message is required")
        tools = []
        for tool in body.get("tools") or []:
            schema = tool.get("input_schema")
            if (
                not tool.get("name")
                or not isinstance(schema, dict)
                or schema.get("type") != "object"
            ):
                raise _Refusal(400, f"tools: invalid tool {tool!r}")
            tools.append(tool["name"])
        system = body.get("system", "")
        if isinstance(system, list):
            system = "\n".join(block.get("text", "") for block in system)
        return system, self._turns(messages), tools

    def _turns(self, messages: list[Any]) -> list[Turn]:
        turns: list[Turn] = []
        names: dict[str, str] = {}
        pending: set[str] = set()  # tool_use ids the next user message must answer
        for number, message in enumerate(messages):
            role = message.get("role")
            if role not in ("user", "assistant"):
                raise _Refusal(400, f"messages.{number}.role: must be user or assistant")
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if not isinstance(blocks, list) or not blocks:
                raise _Refusal(400, f"messages.{number}: content must not be empty")
            texts, calls, outcomes, answered = [], [], [], set()
            for block in blocks:
                kind = block.get("type")
                if kind == "text":
                    if not block.get("text"):
                        raise _Refusal(
                            400, f"messages.{number}: text content blocks must be non-empty"
                        )
                    texts.append(block["text"])
                elif kind == "tool_use" and role == "assistant":
                    names[block["id"]] = block["name"]
                    calls.append(Call(block["name"], block.get("input") or {}))
                elif kind == "tool_result" and role == "user":
                    use_id = block.get("tool_use_id")
                    if use_id not in pending:
                        raise _Refusal(
                            400,
                            f"messages.{number}: unexpected tool_use_id found in tool_result "
                            f"blocks: {use_id}. Each tool_result block must have a "
                            "corresponding tool_use block in the previous message.",
                        )
                    answered.add(use_id)
                    outcomes.append(Outcome(names[use_id], _maybe_json(block.get("content"))))
                else:
                    raise _Refusal(400, f"messages.{number}: unexpected {kind} block for {role}")
            if pending - answered:
                raise _Refusal(
                    400,
                    f"messages.{number}: tool_use ids were found without tool_result blocks "
                    f"immediately after: {', '.join(sorted(pending - answered))}",
                )
            pending = {b["id"] for b in blocks if b.get("type") == "tool_use"}
            if outcomes:
                turns.append(Turn("tool", results=tuple(outcomes)))
            if texts or calls:
                turns.append(Turn(role, " ".join(texts), tuple(calls)))
        if pending:
            raise _Refusal(400, "the last message calls tools whose results are missing")
        return turns

    def _frames(self, body: dict[str, Any], outputs: list[Output]) -> Iterator[tuple[bytes, bool]]:
        def frame(data: dict[str, Any], delta: bool = False) -> tuple[bytes, bool]:
            return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode(), delta

        yield frame(
            {
                "type": "message_start",
                "message": {
                    "id": self._next_id("msg_fake"),
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": body["model"],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": len(json.dumps(body)) // 4, "output_tokens": 1},
                },
            }
        )
        yield frame({"type": "ping"})
        produced = 0
        for index, output in enumerate(outputs):
            if isinstance(output, Text):
                block: dict[str, Any] = {"type": "text", "text": ""}
                pieces = [
                    {"type": "text_delta", "text": piece} for piece in _text_pieces(output.text)
                ]
            else:
                block = {
                    "type": "tool_use",
                    "id": self._next_id("toolu_fake"),
                    "name": output.name,
                    "input": {},
                }
                pieces = [
                    {"type": "input_json_delta", "partial_json": piece}
                    for piece in _json_pieces(output.arguments)
                ]
            yield frame({"type": "content_block_start", "index": index, "content_block": block})
            for delta in pieces:
                produced += 1
                yield frame({"type": "content_block_delta", "index": index, "delta": delta}, True)
            yield frame({"type": "content_block_stop", "index": index})
        stop = "tool_use" if any(isinstance(o, Call) for o in outputs) else "end_turn"
        yield frame(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": max(produced, 1)},
            }
        )
        yield frame({"type": "message_stop"})


# -- OpenAI ----------------------------------------------------------------------------------------

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class FakeOpenAI(FakeLLMServer):
    """``POST /v1/chat/completions`` with ``stream: true``.

    Point ``AsyncOpenAI(base_url=url + "/v1")`` here (the SDK's base URL includes ``/v1``).
    """

    path = "/v1/chat/completions"
    provider = "openai"

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        if headers.get("authorization", "") != f"Bearer {self.api_key}":
            raise _Refusal(401, "Incorrect API key provided. You can find your API key online.")

    def _error(self, status: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
        error = {"message": message, "type": kind, "param": None, "code": code}
        return status, {"error": error}, {"x-request-id": self._next_id("req_fake")}

    def _stream_error(self) -> bytes:
        error = {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        return f"data: {json.dumps({'error': error})}\n\n".encode()

    def _read(self, body: dict[str, Any]) -> tuple[str, list[Turn], list[str]]:
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _Refusal(400, "you must provide a model parameter")
        if body.get("stream") is not True:
            raise _Refusal(400, "this fake only answers stream: true requests")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Refusal(400, "'messages' must contain at least one message")
        tools = []
        for tool in body.get("tools") or []:
            function = tool.get("function") or {}
            if tool.get("type") != "function" or not function.get("name"):
                raise _Refusal(400, f"Invalid value for 'tools': {tool!r}")
            tools.append(function["name"])
        system: list[str] = []
        turns: list[Turn] = []
        names: dict[str, str] = {}
        pending: set[str] = set()
        outcomes: list[Outcome] = []
        for number, message in enumerate(messages):
            role = message.get("role")
            if role != "tool" and pending:
                raise _Refusal(
                    400,
                    "An assistant message with 'tool_calls' must be followed by tool messages "
                    "responding to each 'tool_call_id'. The following tool_call_ids did not "
                    f"have response messages: {', '.join(sorted(pending))}",
                )
            if role != "tool" and outcomes:
                turns.append(Turn("tool", results=tuple(outcomes)))
                outcomes = []
            content = message.get("content")
            text = content if isinstance(content, str) else ""
            if role in ("system", "developer"):
                system.append(text)
            elif role == "user":
                if not text:
                    raise _Refusal(400, f"messages[{number}].content must not be empty")
                turns.append(Turn("user", text))
            elif role == "assistant":
                calls = []
                for call in message.get("tool_calls") or []:
                    function = call["function"]
                    names[call["id"]] = function["name"]
                    pending.add(call["id"])
                    calls.append(Call(function["name"], json.loads(function["arguments"] or "{}")))
                if not text and not calls:
                    raise _Refusal(
                        400, f"messages[{number}]: an assistant message needs content or tool_calls"
                    )
                turns.append(Turn("assistant", text, tuple(calls)))
            elif role == "tool":
                call_id = message.get("tool_call_id")
                if call_id not in pending:
                    raise _Refusal(
                        400,
                        "Invalid parameter: messages with role 'tool' must be a response to a "
                        "preceeding message with 'tool_calls'.",
                    )
                pending.discard(call_id)
                outcomes.append(Outcome(names[call_id], _maybe_json(content)))
            else:
                raise _Refusal(400, f"messages[{number}].role: invalid value {role!r}")
        if pending:
            raise _Refusal(400, "the last message calls tools whose results are missing")
        if outcomes:
            turns.append(Turn("tool", results=tuple(outcomes)))
        return "\n".join(system), turns, tools

    def _frames(self, body: dict[str, Any], outputs: list[Output]) -> Iterator[tuple[bytes, bool]]:
        completion_id = self._next_id("chatcmpl-fake")
        created = int(time.time())

        def chunk(
            delta: dict[str, Any], finish: str | None = None, is_delta: bool = False
        ) -> tuple[bytes, bool]:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "system_fingerprint": None,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            return f"data: {json.dumps(data)}\n\n".encode(), is_delta

        yield chunk({"role": "assistant", "content": ""})
        calls = 0
        for output in outputs:
            if isinstance(output, Text):
                for piece in _text_pieces(output.text):
                    yield chunk({"content": piece}, is_delta=True)
                continue
            index, calls = calls, calls + 1
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": self._next_id("call_fake"),
                            "type": "function",
                            "function": {"name": output.name, "arguments": ""},
                        }
                    ]
                }
            )
            for piece in _json_pieces(output.arguments):
                fragment = {"index": index, "function": {"arguments": piece}}
                yield chunk({"tool_calls": [fragment]}, is_delta=True)
        yield chunk({}, "tool_calls" if calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            yield f"data: {json.dumps(data)}\n\n".encode(), False
        yield b"data: [DONE]\n\n", False


# -- wire helpers ----------------------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed an idle keep-alive connection
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return _Request(method, path, headers, body)


def _reason(status: int) -> str:
    if status == 529:
        return "Site Overloaded"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _send_json(
    writer: asyncio.StreamWriter, status: int, payload: object, headers: Mapping[str, str]
) -> None:
    body = json.dumps(payload).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(
        f"HTTP/1.1 {status} {_reason(status)}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n".encode()
        + body
    )
    await writer.drain()


async def _start_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    await writer.drain()


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def _end_stream(writer: asyncio.StreamWriter) -> None:
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def _default_message(status: int) -> str:
    return {
        401: "invalid x-api-key",
        429: "Number of requests has exceeded your rate limit. Please try again later.",
        500: "Internal server error",
        503: "The server is overloaded, please try again later.",
        529: "Overloaded",
    }.get(status, _reason(status))


def _text_pieces(text: str) -> list[str]:
    """Word-sized deltas (each with its trailing space), as models stream."""
    return re.findall(r"\S+\s*|\s+", text) or [text]


def _json_pieces(arguments: Mapping[str, Any]) -> list[str]:
    """The arguments' JSON cut into a few arbitrary pieces, as models stream it."""
    text = json.dumps(dict(arguments), ensure_ascii=False)
    size = max(1, len(text) // 3 + 1)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _maybe_json(content: Any) -> Any:
    if isinstance(content, list):  # Anthropic tool_result content blocks
        content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
    if isinstance(content, str):
        with contextlib.suppress(ValueError):
            return json.loads(content)
    return content


# -- a rule-based receptionist for whole-call tests ------------------------------------------------


@dataclass(frozen=True)
class _Words:
    booking: tuple[str, ...]
    yes: tuple[str, ...]
    goodbye: tuple[str, ...]
    human: tuple[str, ...]
    pet: str  # regex with one group: the name
    reasons: Mapping[str, str]  # keyword -> reason passed to the tool
    days: tuple[str, ...]  # longest first
    time_of_day: str  # regex removed before looking for a day ("de la mañana")
    numbers: Mapping[str, int]
    afternoon: tuple[str, ...]
    lines: Mapping[str, str]


def _numbers(words: str) -> dict[str, int]:
    return {word: number for number, word in enumerate(words.split(), start=1)}


_SPANISH = _Words(
    booking=("cita", "agendar", "reservar", "consulta"),
    yes=("sí", "si", "claro", "correcto", "de acuerdo", "perfecto"),
    goodbye=("adiós", "adios", "eso es todo", "nada más", "nada mas", "hasta luego"),
    human=("persona", "humano", "alguien del equipo"),
    pet=r"(?:se llama|llamad[oa]|nombre es)\s+([a-záéíóúñ]+)",
    reasons={"vacuna": "vacuna", "consulta": "consulta", "revisión": "consulta", "baño": "baño"},
    days=("pasado mañana", "mañana", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"),
    time_of_day=r"de la (?:mañana|tarde|noche)",
    numbers=_numbers("una dos tres cuatro cinco seis siete ocho nueve diez once doce"),
    afternoon=("de la tarde", "de la noche"),
    lines={
        "help": "¿En qué le puedo ayudar?",
        "pet": "Claro. ¿Cómo se llama su mascota?",
        "reason": "¿Cuál es el motivo de la visita de {pet}?",
        "day": "¿Qué día le gustaría venir?",
        "time": "¿A qué hora le acomoda?",
        "checking": "Permítame revisar.",
        "confirm": "Para confirmar: {reason} para {pet} el {day} a las {time}. ¿Agendo la cita?",
        "taken": "Lo siento, a esa hora no hay lugar. ¿Qué otra hora le acomoda?",
        "booking": "Perfecto, la agendo.",
        "booked": "Listo, {pet} ya tiene su cita. ¿Algo más?",
        "failed": "Lo siento, no pude agendar la cita.",
        "bye": "Gracias por llamar. ¡Hasta luego!",
        "transfer": "Le comunico con alguien del equipo.",
    },
)

_ENGLISH = _Words(
    booking=("appointment", "book", "schedule"),
    yes=("yes", "yeah", "sure", "correct", "please do"),
    goodbye=("goodbye", "bye", "that's all", "nothing else"),
    human=("human", "person", "someone"),
    pet=r"(?:name is|named|called)\s+([a-z]+)",
    reasons={"vaccin": "vaccination", "check": "checkup", "groom": "grooming"},
    days=("tomorrow", *(f"{d}day" for d in ("mon", "tues", "wednes", "thurs", "fri", "satur"))),
    time_of_day=r"in the (?:morning|afternoon|evening)",
    numbers=_numbers("one two three four five six seven eight nine ten eleven twelve"),
    afternoon=("pm", "p.m.", "in the afternoon", "in the evening"),
    lines={
        "help": "How can I help you?",
        "pet": "Sure. What is your pet's name?",
        "reason": "What is the reason for {pet}'s visit?",
        "day": "What day would you like to come in?",
        "time": "What time works for you?",
        "checking": "Let me check.",
        "confirm": "Let me confirm: {reason} for {pet} on {day} at {time}. Shall I book it?",
        "taken": "Sorry, that time is not available. What other time works for you?",
        "booking": "Great, booking it now.",
        "booked": "Done, {pet} is booked. Anything else?",
        "failed": "Sorry, I couldn't book it.",
        "bye": "Thanks for calling. Goodbye!",
        "transfer": "I'll put you through to a person.",
    },
)


@dataclass
class _Details:
    wants_booking: bool = False
    pet: str | None = None
    reason: str | None = None
    day: str | None = None
    time: str | None = None

    @property
    def complete(self) -> bool:
        return None not in (self.pet, self.reason, self.day, self.time)


def booking_policy(lang: str = "es") -> Policy:
    """A receptionist that books one appointment, deterministically.

    It collects the pet's name, the reason, the day and the time from everything the caller
    said (later words win), asks for what is missing, calls ``check_availability`` once all
    are known, reads the booking back, calls ``book_appointment`` on a yes, and on goodbye
    says goodbye and calls ``end_call``. A request for a person calls ``transfer_to_human``.
    """
    words = _SPANISH if lang == "es" else _ENGLISH

    def policy(turns: list[Turn], tools: list[str]) -> Sequence[Output]:
        details = _collect(turns, words)
        last = turns[-1]
        if last.role == "tool":
            return _after_tools(last, details, words)
        said = last.text.lower()
        if _has(said, words.goodbye):
            return [Text(words.lines["bye"]), Call("end_call")]
        if _has(said, words.human):
            return [Text(words.lines["transfer"]), Call("transfer_to_human")]
        asked = next((t.text for t in reversed(turns[:-1]) if t.role == "assistant"), "")
        confirm_question = words.lines["confirm"].rsplit(".", 1)[-1].strip()
        if confirm_question in asked and _has(said, words.yes) and details.complete:
            arguments = {
                "pet_name": details.pet,
                "reason": details.reason,
                "day": details.day,
                "time": details.time,
            }
            return [Text(words.lines["booking"]), Call("book_appointment", arguments)]
        if not details.wants_booking:
            return [Text(words.lines["help"])]
        for missing in ("pet", "reason", "day", "time"):
            if getattr(details, missing) is None:
                return [Text(words.lines[missing].format(pet=details.pet))]
        return [
            Text(words.lines["checking"]),
            Call("check_availability", {"day": details.day, "time": details.time}),
        ]

    return policy


def _after_tools(turn: Turn, details: _Details, words: _Words) -> Sequence[Output]:
    outcome = turn.results[-1]
    content = outcome.content if isinstance(outcome.content, dict) else {}
    if outcome.name == "check_availability":
        if content.get("available"):
            return [Text(words.lines["confirm"].format(**vars(details)))]
        return [Text(words.lines["taken"])]
    if outcome.name == "book_appointment":
        key = "booked" if content.get("ok") else "failed"
        return [Text(words.lines[key].format(pet=details.pet))]
    return [Text(words.lines["help"])]


def _collect(turns: list[Turn], words: _Words) -> _Details:
    details = _Details()
    for turn in turns:
        if turn.role != "user":
            continue
        said = turn.text.lower()
        details.wants_booking = details.wants_booking or _has(said, words.booking)
        if match := re.search(words.pet, said):
            details.pet = match.group(1).capitalize()
        for keyword, reason in words.reasons.items():
            if keyword in said:
                details.reason = reason
        without_time_of_day = re.sub(words.time_of_day, " ", said)
        for day in words.days:
            if day in without_time_of_day:
                details.day = day
                break
        if clock := _clock(said, words):
            details.time = clock
    details.wants_booking = details.wants_booking or any(
        (details.pet, details.reason, details.day, details.time)
    )
    return details


def _clock(said: str, words: _Words) -> str | None:
    """ "a las 10", "a las diez y media", "at 3 pm" → "HH:MM" (24 h)."""
    numbers = "|".join(words.numbers)
    match = re.search(rf"(?:a las|a la|at)\s+(\d{{1,2}}(?::\d{{2}})?|{numbers})\b", said)
    if match is None:
        return None
    value = match.group(1)
    if value in words.numbers:
        hour, minute = words.numbers[value], 0
    else:
        hour_text, _, minute_text = value.partition(":")
        hour, minute = int(hour_text), int(minute_text or 0)
    if "y media" in said or "thirty" in said:
        minute = 30
    if hour < 12 and _has(said, words.afternoon):
        hour += 12
    return f"{hour:02d}:{minute:02d}"


def _has(said: str, phrases: Sequence[str]) -> bool:
    """Whether any phrase occurs in ``said`` as whole words."""
    return any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", said) for p in phrases)
