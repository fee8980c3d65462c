"""Language models behind one small streaming interface (:class:`Brain`).

``make_brain`` is the one place that maps a provider name from the settings to a client,
so the runtime builds a brain once at start-up and shares it by every call.
"""

from __future__ import annotations

from voxagent.providers.llm.base import (
    Brain,
    BrainEvent,
    Message,
    Stop,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolSchema,
)

__all__ = [
    "PROVIDERS",
    "Brain",
    "BrainEvent",
    "Message",
    "Stop",
    "TextDelta",
    "ToolCall",
    "ToolResult",
    "ToolSchema",
    "make_brain",
]

# Provider name (as in LLM_PROVIDER) → the brain that serves it.
PROVIDERS = ("anthropic", "claude", "openai")


def make_brain(
    provider: str,
    *,
    api_key: str,
    model: str | None = None,
    base_url: str | None = None,
    timeout: float = 10.0,
    max_tokens: int | None = None,
) -> Brain:
    """A brain for ``provider``; ``None`` options keep that provider's defaults.

    The SDKs are imported here, not at module import, so the offline (scripted) setup never
    pays for loading them.
    """
    name = provider.strip().lower()
    if name in ("anthropic", "claude"):
        from voxagent.providers.llm.anthropic_brain import DEFAULT_MODEL, AnthropicBrain

        return AnthropicBrain(
            api_key,
            model=model or DEFAULT_MODEL,
            base_url=base_url or None,
            timeout=timeout,
            max_tokens=max_tokens or 400,
        )
    if name == "openai":
        from voxagent.providers.llm.openai_brain import DEFAULT_MODEL as OPENAI_MODEL
        from voxagent.providers.llm.openai_brain import OpenAIBrain

        return OpenAIBrain(
            api_key,
            model=model or OPENAI_MODEL,
            base_url=base_url or None,
            timeout=timeout,
            max_tokens=max_tokens,
        )
    raise ValueError(f"unknown LLM provider {provider!r}; choose from {', '.join(PROVIDERS)}")
