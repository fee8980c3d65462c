"""What the server needs from a place to keep audio, and how that place fails.

Call recordings and the TTS clips played in webhook mode both end up as an object with a URL
that Telnyx (or a browser) fetches. The call code only sees :class:`Storage`, so a deployment
swaps a local directory for a bucket with a setting, not a code change.

Keys are validated the same way for every backend, so a key that works on a laptop works in
production and can never name a path outside the store.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

__all__ = [
    "MAX_KEY_LENGTH",
    "InvalidStorageKey",
    "Storage",
    "StorageError",
    "StorageNotFound",
    "content_type_for",
    "key_segment",
    "validate_key",
]

MAX_KEY_LENGTH = 512
"""Well under S3's 1024-byte limit, leaving room for the folder prefix."""

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
"""One path segment: no leading dot, so no ``.``, ``..``, hidden or temporary files."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

_CONTENT_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".webm": "audio/webm",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".ulaw": "audio/basic",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
"""Spelled out rather than taken from :mod:`mimetypes`, whose answer for ``.wav``
(``audio/x-wav`` or ``audio/wav``) depends on the machine's ``/etc/mime.types``."""


class StorageError(Exception):
    """Storing, reading or deleting failed; the message names the key and, if one is
    to blame, the setting to fix."""

    def __init__(self, reason: str, *, key: str | None = None, setting: str | None = None) -> None:
        super().__init__(f"storage key {key!r}: {reason}" if key is not None else reason)
        self.reason = reason
        self.key = key
        self.setting = setting


class StorageNotFound(StorageError):
    """No object has that key (a 404, not a broken store)."""


class InvalidStorageKey(StorageError, ValueError):
    """The key is not one the store accepts: a caller bug, never worth retrying."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative name like ``recordings/2024/call-1.wav``.

    Segments of letters, digits, ``_``, ``-`` and ``.`` (not leading) joined by single
    slashes: no absolute paths, no ``..``, no backslashes, no empty segments.
    """
    if not isinstance(key, str) or not key:
        raise InvalidStorageKey("the key is empty", key=str(key))
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey(f"longer than {MAX_KEY_LENGTH} characters", key=key[:40] + "…")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidStorageKey(
                "use segments of letters, digits, '.', '_' and '-' separated by '/', "
                "none empty or starting with '.'",
                key=key,
            )
    return key


def key_segment(value: str, *, max_length: int = 100) -> str:
    """Make an outside identifier usable as one key segment.

    Telnyx call control ids look like ``v3:AbC…``, and ``:`` is not a key character; runs of
    unsafe characters become ``-`` and leading dots go, so ``f"recordings/{key_segment(id)}.wav"``
    is always a valid key.
    """
    segment = _UNSAFE.sub("-", value).lstrip(".")[:max_length]
    return segment or "_"


def content_type_for(key: str) -> str:
    """The content type a key's extension implies (``application/octet-stream`` if unknown)."""
    dot = key.rfind(".")
    slash = key.rfind("/")
    if dot <= slash:
        return "application/octet-stream"
    return _CONTENT_TYPES.get(key[dot:].lower(), "application/octet-stream")


@runtime_checkable
class Storage(Protocol):
    """Somewhere to keep audio objects that outside parties fetch by URL."""

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key`` (replacing any object there) and return its URL."""
        ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; :class:`StorageNotFound` if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def url(self, key: str) -> str:
        """A URL Telnyx or a browser can GET the object from (it need not exist yet)."""
        ...

    async def check(self) -> None:
        """Fail now, at start-up, if the store cannot work (missing bucket, bad key, no dir)."""
        ...

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...
