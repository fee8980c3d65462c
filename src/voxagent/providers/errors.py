"""How a provider fails, in terms the engine can act on.

The engine does not care whether Deepgram, Claude or ElevenLabs broke; it cares whether
retrying could help (a dropped socket, a 429) or not (a rejected key), because that decides
between "try again" and "switch to the next provider in the chain for the rest of the call".
"""

from __future__ import annotations

__all__ = [
    "ProviderAuthError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderQuotaError",
    "ProviderUnavailable",
]


class ProviderError(Exception):
    """A provider could not do its job; a fallback provider may."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderAuthError(ProviderError):
    """The credentials were rejected: retrying cannot help until the key is fixed."""


class ProviderQuotaError(ProviderError):
    """Rate limit, quota or overload (429/529): the account works but not right now."""


class ProviderConnectionError(ProviderError):
    """The connection dropped or timed out mid-stream."""


class ProviderUnavailable(ProviderError):
    """The provider stayed unreachable through every retry."""
