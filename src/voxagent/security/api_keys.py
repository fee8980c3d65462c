"""API keys: who may place calls, read them, and see the numbers.

Keys are kept only as SHA-256 digests and a presented key is compared against every digest in
constant time, so neither memory dumps nor timing say anything about a key. A key's *id* (the
first 12 hex digits of its digest) names it in logs and rate limits without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

__all__ = ["ApiKeys", "presented_key"]

BEARER = "bearer "


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(k) for k in (k.strip() for k in keys) if k]

    @classmethod
    def parse(cls, setting: str) -> ApiKeys:
        """``API_KEYS``: one or more keys, comma-separated."""
        return cls(setting.split(","))

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def identify(self, presented: str | None) -> str | None:
        """The id of the key presented, or None when it is no key of ours.

        Every stored digest is compared (no early exit), so the time taken does not depend on
        which key matched, or on how much of a wrong key was right.
        """
        if not presented:
            return None
        digest = _digest(presented)
        found: bytes | None = None
        for stored in self._digests:
            if hmac.compare_digest(stored, digest):
                found = stored
        return found.hex()[:12] if found is not None else None


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in ``Authorization: Bearer <key>``, else in ``X-API-Key``."""
    authorization = headers.get("authorization", "")
    if authorization[: len(BEARER)].lower() == BEARER:
        return authorization[len(BEARER) :].strip() or None
    return headers.get("x-api-key", "").strip() or None
