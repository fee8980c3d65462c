"""Signed, expiring URLs for stored audio (recordings, TTS clips for Telnyx playback).

``/media/{key}?exp=<unix seconds>&sig=<hex>``: the signature is an HMAC-SHA256 over the key
and the expiry, so a URL cannot be stretched in time or pointed at another file. A URL that
fails either check is answered like a missing file (404): a prober learns nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

__all__ = ["MediaSigner"]


class MediaSigner:
    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        if len(secret) < 16:
            raise ValueError("a media URL secret needs at least 16 bytes")
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def _signature(self, key: str, expires: int) -> str:
        message = f"{expires}\n{key}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def query(self, key: str, *, now: float | None = None) -> str:
        """The query string that makes ``key`` fetchable until ``now + ttl``."""
        expires = int((time.time() if now is None else now) + self.ttl_seconds)
        return urlencode({"exp": expires, "sig": self._signature(key, expires)})

    def valid(
        self, key: str, exp: str | None, sig: str | None, *, now: float | None = None
    ) -> bool:
        if not exp or not sig or not exp.isdigit():
            return False
        expires = int(exp)
        if expires < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._signature(key, expires), sig)
