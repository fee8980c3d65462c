"""Sans-I/O pieces both WebSocket voices share: URLs, encodings, and errors.

An HTTP status, an error code or a close reason becomes the typed error the fallback chain
acts on, the same way for every voice.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from voxagent.providers.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderQuotaError,
)

__all__ = ["RawEncoding", "classify_error", "close_error", "websocket_base"]

RawEncoding = Literal["ulaw", "alaw", "pcm_s16le"]


def websocket_base(base_url: str) -> str:
    """The SDK convention: the WebSocket API lives on the REST host with a ws(s) scheme."""
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"base URL must be http(s):// or ws(s)://host, got {base_url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


_QUOTA_HINTS = (
    "quota",
    "rate limit",
    "rate_limit",
    "too many",
    "too_many",
    "limit_exceeded",
    "concurrent",
    "credits",
)
_AUTH_HINTS = (
    "invalid_api_key",
    "invalid api key",
    "api key",
    "api_key",
    "unauthorized",
    "unauthenticated",
    "authentication",
)


def classify_error(
    provider: str, detail: str, *, status: int | None = None, code: str | None = None
) -> ProviderError:
    """Map an HTTP status, error code or text to the typed error the fallback chain acts on.

    Quota is checked first: ElevenLabs answers an exhausted quota with HTTP 401 and
    ``quota_exceeded``, and switching keys would not help there either.
    """
    text = f"{code or ''} {detail}".lower()
    described = f"HTTP {status}: {detail}" if status is not None else detail
    if status in (402, 429) or any(hint in text for hint in _QUOTA_HINTS):
        return ProviderQuotaError(provider, f"quota or rate limit reached ({described})")
    if status in (401, 403) or any(hint in text for hint in _AUTH_HINTS):
        return ProviderAuthError(provider, f"API key rejected ({described}); check the key")
    if status is not None and 400 <= status < 500:
        return ProviderError(provider, f"request rejected ({described})")
    return ProviderConnectionError(provider, described or "connection failed")


def close_error(provider: str, code: int | None, reason: str) -> ProviderError:
    """The error for a socket that ended before the end of the audio.

    ``code`` is None when the TCP connection dropped without a close frame. The reason
    text is classified too: ElevenLabs closes with 1008 and a reason for a bad key.
    """
    if code is None:
        return ProviderConnectionError(provider, "connection dropped without a close frame")
    detail = f"connection closed ({code} {reason})".replace(" )", ")")
    return classify_error(provider, f"{detail} before the end of the audio")
