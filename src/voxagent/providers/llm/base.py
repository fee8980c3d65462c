"""What the LLM agent needs from a language model, whichever vendor serves it.

The conversation is kept in one neutral format (:class:`Message`) and every brain converts it
to its vendor's wire shape at request time, so switching Claude for an OpenAI-compatible model
(or Ollama, vLLM) changes one constructor and nothing in the agent. A brain streams
:data:`BrainEvent` values: text as it arrives, each tool call once its arguments are complete,
and finally why the model stopped. Failures are the shared :mod:`voxagent.providers.errors`
types, so the agent can decide between "retry" and "apologise" without knowing the vendor.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from voxagent.providers.errors import ProviderAuthError, ProviderError, ProviderQuotaError

log = logging.getLogger(__name__)

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks to run a tool. Also a stream event, emitted once the arguments are whole."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned, as JSON text, answering the call with the same id."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass(slots=True)
class Message:
    """One entry of the conversation.

    ``user`` carries the caller's words; ``assistant`` what the agent said (``text``, possibly
    cut short by an interruption) and the tools it called; ``tool`` the results of those calls,
    always right after the assistant message that made them. Mutable on purpose: the agent
    rewrites an assistant message to what the caller actually heard.
    """

    role: Role
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", text)

    @classmethod
    def assistant(cls, text: str = "") -> Message:
        return cls("assistant", text)

    @classmethod
    def tool(cls) -> Message:
        return cls("tool")

    @property
    def empty(self) -> bool:
        """Nothing to send: vendors reject empty turns, so converters skip these."""
        return not self.text.strip() and not self.tool_calls and not self.results


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply text, as soon as the model produced it."""

    text: str


StopReason = Literal["end_turn", "tool_use", "max_tokens", "other"]


@dataclass(frozen=True, slots=True)
class Stop:
    """The model finished this response; ``raw`` is the vendor's own word for why."""

    reason: StopReason
    raw: str = ""


BrainEvent = TextDelta | ToolCall | Stop


class ToolSchema(Protocol):
    """A tool as a model sees it (``voxagent.agents.tools.ToolSpec`` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> Mapping[str, Any]: ...


class Brain(Protocol):
    """A streaming chat model with tools. One instance may serve many calls at once."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    def stream(
        self, system: str, messages: Sequence[Message], tools: Sequence[ToolSchema]
    ) -> AsyncGenerator[BrainEvent, None]:
        """One model response; raises :class:`~voxagent.providers.errors.ProviderError`.

        Ends with exactly one :class:`Stop`. A stream that breaks before it raises
        :class:`~voxagent.providers.errors.ProviderConnectionError`, never ends quietly.
        A generator, so that a barge-in can close it and free the connection at once.
        """
        ...

    async def close(self) -> None:
        """Release the connection pool (at server shutdown)."""
        ...


def decode_arguments(text: str) -> dict[str, Any]:
    """A tool call's streamed JSON arguments as a dict.

    Broken or non-object JSON becomes ``{}``: the tool then reports the missing arguments and
    the model can try again, which beats failing the caller's turn.
    """
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        log.warning("model sent tool arguments that are not JSON: %.200r", text)
        return {}
    if not isinstance(value, dict):
        log.warning("model sent tool arguments that are not an object: %.200r", text)
        return {}
    return value


# Vendor error kinds (Anthropic ``error.type``, OpenAI ``error.code``) that mean the same as
# their status, for errors that arrive inside a stream that began with 200.
_AUTH_KINDS = frozenset({"authentication_error", "permission_error", "invalid_api_key"})
_BUSY_KINDS = frozenset(
    {"rate_limit_error", "overloaded_error", "api_error", "timeout_error", "rate_limit_exceeded"}
)


def error_for_status(provider: str, status: int, detail: str, kind: str = "") -> ProviderError:
    """An HTTP refusal as the provider error that tells the agent whether to retry."""
    if status in (401, 403) or kind in _AUTH_KINDS:
        return ProviderAuthError(provider, f"API key rejected ({detail}); check the key")
    if status == 429 or status >= 500 or kind in _BUSY_KINDS:
        return ProviderQuotaError(provider, f"busy or failing ({detail})")
    return ProviderError(provider, f"request refused ({detail})")
