"""OpenAI-compatible chat models through the official ``openai`` SDK.

Wire format: ``../shared/PROTOCOLS.md`` §7.

The same client serves OpenAI itself and the local servers that copy its Chat Completions
API (Ollama at ``http://localhost:11434/v1``, vLLM, llama.cpp), which accept any API key.
Tool calls stream as fragments keyed by index and are only handed to the agent once the
stream has finished, when their JSON arguments are complete. As with Claude, the SDK's
retries are off and the agent applies its own quick retry.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)

from voxagent.providers.errors import ProviderConnectionError, ProviderError
from voxagent.providers.llm.base import (
    BrainEvent,
    Message,
    Stop,
    StopReason,
    TextDelta,
    ToolCall,
    ToolSchema,
    decode_arguments,
    error_for_status,
)

DEFAULT_MODEL = "gpt-4o-mini"

_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
}


class OpenAIBrain:
    """Chat Completions with function tools, streamed."""

    name = "openai"

    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> None:
        """``api_key`` may be any non-empty string for local servers; ``max_tokens`` is sent
        as ``max_tokens`` (what the compatible servers understand) only when set."""
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "unused", base_url=base_url, timeout=timeout, max_retries=0
        )

    async def close(self) -> None:
        await self._client.close()

    async def stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> AsyncGenerator[BrainEvent, None]:
        request: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}]
        request.extend(to_openai_messages(messages))
        options: dict[str, Any] = {}
        if tools:
            options["tools"] = [to_openai_tool(t) for t in tools]
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            options["temperature"] = self.temperature
        calls: dict[int, _PartialCall] = {}
        finish: str | None = None
        try:
            response = await self._client.chat.completions.create(
                model=self.model, messages=request, stream=True, **options
            )
            async with response:
                async for chunk in response:
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue  # only one completion is ever asked for
                        delta = choice.delta
                        if delta.content:
                            yield TextDelta(delta.content)
                        for fragment in delta.tool_calls or ():
                            index = (
                                fragment.index if isinstance(fragment.index, int) else len(calls)
                            )
                            call = calls.setdefault(index, _PartialCall())
                            call.id = call.id or (fragment.id or "")
                            if fragment.function is not None:
                                call.name = call.name or (fragment.function.name or "")
                                call.arguments.append(fragment.function.arguments or "")
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise classify_error(exc) from exc
        if finish is None:
            raise ProviderConnectionError(self.name, "the stream ended without a finish_reason")
        for index in sorted(calls):
            call = calls[index]
            if call.name:
                arguments = decode_arguments("".join(call.arguments))
                yield ToolCall(call.id or f"call_{index}", call.name, arguments)
        # Some compatible servers say "stop" even when they called tools.
        reason: StopReason = "tool_use" if calls else _STOP_REASONS.get(finish, "other")
        yield Stop(reason, finish)


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


def to_openai_tool(tool: ToolSchema) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.parameters),
        },
    }


def to_openai_messages(messages: Sequence[Message]) -> list[ChatCompletionMessageParam]:
    """The neutral history as chat messages: one ``tool`` message per tool result."""
    out: list[ChatCompletionMessageParam] = []
    for message in messages:
        if message.role == "user":
            if message.text.strip():
                out.append({"role": "user", "content": message.text})
        elif message.role == "assistant":
            if message.empty:
                continue
            entry: ChatCompletionAssistantMessageParam = {"role": "assistant"}
            if message.text.strip():
                entry["content"] = message.text
            if message.tool_calls:
                entry["tool_calls"] = [_tool_call(c) for c in message.tool_calls]
            out.append(entry)
        else:
            for result in message.results:
                out.append(
                    {"role": "tool", "tool_call_id": result.call_id, "content": result.content}
                )
    return out


def _tool_call(call: ToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    return {
        "id": call.id,
        "type": "function",
        "function": {
            "name": call.name,
            "arguments": json.dumps(dict(call.arguments), ensure_ascii=False),
        },
    }


def classify_error(exc: Exception, provider: str = OpenAIBrain.name) -> ProviderError:
    """The SDK's (or the socket's) exception as a provider error the agent can act on."""
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return ProviderConnectionError(provider, "timed out waiting for the model")
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return ProviderConnectionError(provider, f"connection failed: {exc}")
    if isinstance(exc, openai.APIStatusError):
        code, message = _error_fields(exc.body)
        status = exc.status_code
        detail = f"{status} {code}: {message}" if code or message else f"{status}: {exc}"
        return error_for_status(provider, status, detail)
    if isinstance(exc, openai.APIError):  # an error object inside an accepted stream
        return ProviderConnectionError(provider, f"the stream failed: {exc.message}")
    return ProviderError(provider, f"unexpected failure: {exc!r}")


def _error_fields(body: object) -> tuple[str, str]:
    """``code`` (or ``type``) and ``message`` of an error body.

    The SDK hands over the inner ``error`` object for status errors; some compatible servers
    send the whole ``{"error": {...}}`` envelope or a bare string instead.
    """
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        code = body.get("code") or body.get("type") or ""
        return str(code), str(body.get("message") or "")
    if isinstance(body, str):
        return "", body[:200]
    return "", ""
