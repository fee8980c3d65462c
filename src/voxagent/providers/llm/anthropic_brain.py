"""Claude through the official ``anthropic`` SDK, streamed (``../shared/PROTOCOLS.md`` §6).

The SDK's own retries are off (``max_retries=0``): on a phone line a retry that waits
seconds is worse than an apology, so the agent applies one quick retry itself. Everything the
SDK or the socket can throw is turned into the shared provider errors here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
from anthropic.types import (
    InputJSONDelta,
    MessageParam,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStopEvent,
    TextBlock,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
)
from anthropic.types import TextDelta as ClaudeTextDelta

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

DEFAULT_MODEL = "claude-3-5-haiku-latest"

# The call opens with the agent's greeting, but the Messages API wants a user turn first.
CALL_CONNECTED = "(The phone call has just connected.)"

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
}

Block = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam


class AnthropicBrain:
    """Claude models over the Messages API (or anything speaking it at ``base_url``)."""

    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_tokens: int = 400,
        temperature: float | None = None,
    ) -> None:
        """``timeout`` bounds connecting and every wait for the next bytes of the stream."""
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    async def close(self) -> None:
        await self._client.close()

    async def stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> AsyncGenerator[BrainEvent, None]:
        request = to_anthropic_messages(messages)
        options: dict[str, Any] = {}
        if tools:
            options["tools"] = [to_anthropic_tool(t) for t in tools]
        if self.temperature is not None:
            options["temperature"] = self.temperature
        try:
            response = await self._client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                system=system,
                messages=request,
                stream=True,
                **options,
            )
            async with response:
                reader = _StreamReader()
                async for event in response:
                    for out in reader.feed(event):
                        yield out
                        if isinstance(out, Stop):
                            return
        except (anthropic.AnthropicError, httpx2.HTTPError) as exc:
            raise classify_error(exc) from exc
        raise ProviderConnectionError(self.name, "the stream ended before message_stop")


@dataclass(slots=True)
class _PartialCall:
    id: str
    name: str
    json_parts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _StreamReader:
    """Turns raw stream events into brain events (text now, tool calls once complete)."""

    calls: dict[int, _PartialCall] = field(default_factory=dict)
    stop_reason: str | None = None

    def feed(self, event: object) -> list[BrainEvent]:
        if isinstance(event, RawContentBlockStartEvent):
            block = event.content_block
            if isinstance(block, ToolUseBlock):
                self.calls[event.index] = _PartialCall(block.id, block.name)
            elif isinstance(block, TextBlock) and block.text:
                return [TextDelta(block.text)]
        elif isinstance(event, RawContentBlockDeltaEvent):
            delta = event.delta
            if isinstance(delta, ClaudeTextDelta) and delta.text:
                return [TextDelta(delta.text)]
            if isinstance(delta, InputJSONDelta) and event.index in self.calls:
                self.calls[event.index].json_parts.append(delta.partial_json)
        elif isinstance(event, RawContentBlockStopEvent):
            call = self.calls.pop(event.index, None)
            if call is not None:
                arguments = decode_arguments("".join(call.json_parts))
                return [ToolCall(call.id, call.name, arguments)]
        elif isinstance(event, RawMessageDeltaEvent):
            self.stop_reason = event.delta.stop_reason
        elif isinstance(event, RawMessageStopEvent):
            raw = self.stop_reason or ""
            return [Stop(_STOP_REASONS.get(raw, "other"), raw)]
        return []  # message_start, ping and event types added after this was written


def to_anthropic_tool(tool: ToolSchema) -> ToolParam:
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": dict(tool.parameters),
    }


def to_anthropic_messages(messages: Sequence[Message]) -> list[MessageParam]:
    """The neutral history as Messages API turns.

    Tool results travel in a user turn; consecutive turns of one role are merged (an
    interruption can leave two user turns in a row); the first turn must be the user's.
    """
    turns: list[tuple[str, list[Block]]] = []
    for message in messages:
        blocks = _blocks(message)
        if not blocks:
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if not turns or turns[0][0] != "user":
        turns.insert(0, ("user", [{"type": "text", "text": CALL_CONNECTED}]))
    out: list[MessageParam] = []
    for role, blocks in turns:
        if role == "assistant":
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": "user", "content": blocks})
    return out


def _blocks(message: Message) -> list[Block]:
    blocks: list[Block] = []
    if message.text.strip():
        blocks.append({"type": "text", "text": message.text})
    if message.role == "assistant":
        for call in message.tool_calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": dict(call.arguments),
                }
            )
    for result in message.results:
        blocks.append(
            {
                "type": "tool_result",
                "tool_use_id": result.call_id,
                "content": result.content,
                "is_error": result.is_error,
            }
        )
    return blocks


def classify_error(exc: Exception, provider: str = AnthropicBrain.name) -> ProviderError:
    """The SDK's (or the socket's) exception as a provider error the agent can act on."""
    if isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ProviderConnectionError(provider, "timed out waiting for the model")
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
        return ProviderConnectionError(provider, f"connection failed: {exc}")
    if isinstance(exc, anthropic.APIStatusError):
        kind, message = _error_fields(exc.body)
        detail = f"{exc.status_code} {kind}: {message}" if kind else f"{exc.status_code}: {exc}"
        return error_for_status(provider, exc.status_code, detail, kind)
    return ProviderError(provider, f"unexpected failure: {exc!r}")


def _error_fields(body: object) -> tuple[str, str]:
    """``error.type`` and ``error.message`` of an error body, when it has them."""
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(text)
        except ValueError:
            return "", text[:200]
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        return str(error.get("type") or ""), str(error.get("message") or "")
    return "", ""
