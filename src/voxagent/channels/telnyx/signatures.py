"""Ed25519 signatures on Telnyx webhooks: verify what Telnyx sends, sign what our fake sends.

Anyone who learns our webhook URL can POST to it, so a webhook is trusted only when its
signature verifies against the account's public key (``../shared/PROTOCOLS.md`` §2.3). Telnyx
signs the bytes ``f"{timestamp}|".encode() + raw_body`` and sends two headers:

* ``telnyx-signature-ed25519``: base64 of the 64-byte Ed25519 signature;
* ``telnyx-timestamp``: Unix seconds, as an integer.

The body is verified exactly as received: re-serialising the JSON would change the bytes and
break every signature. The timestamp check (±300 s, like the current Telnyx SDK) bounds how
long a captured request can be replayed; a replay inside the window is caught by the event-id
de-duplication downstream.

Like the other protocol modules this one does no I/O and reads no clock: the caller passes
``now``, so tests need no time travel.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureError",
    "generate_keypair",
    "load_public_key",
    "sign_webhook",
    "verify_webhook",
]

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"

DEFAULT_TOLERANCE_S = 300.0
"""Largest accepted distance between ``telnyx-timestamp`` and our clock, in either direction.

Five minutes absorbs clock skew and Telnyx's own retry delays while keeping the replay
window short. Future timestamps are rejected too (the legacy SDK only rejected old ones):
a timestamp from the future is either a badly skewed clock or a forgery."""

_PUBLIC_KEY_BYTES = 32
_SIGNATURE_BYTES = 64
_MAX_TIMESTAMP_DIGITS = 15  # Unix seconds fit in 11 digits until the year 5000
_KEY_SETTING = "TELNYX_PUBLIC_KEY"


class SignatureError(ValueError):
    """A webhook that must not be trusted (or a public key that cannot be used); ``str()``
    says why, without echoing the signature or the body."""


def _b64decode(value: str) -> bytes:
    """Strict standard base64: surrounding whitespace is forgiven, nothing else is."""
    return base64.b64decode(value.strip(), validate=True)


def load_public_key(b64: str) -> Ed25519PublicKey:
    """Decode ``TELNYX_PUBLIC_KEY`` (base64 of the raw 32-byte key) once, at start-up.

    A bad key would otherwise surface only as every webhook failing to verify, so settings
    call this early and report the reason, prefixed with the setting's name.
    """
    if not b64.strip():
        raise SignatureError(f"{_KEY_SETTING}: empty public key")
    try:
        raw = _b64decode(b64)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{_KEY_SETTING}: not valid base64 ({exc})") from None
    if len(raw) != _PUBLIC_KEY_BYTES:
        raise SignatureError(
            f"{_KEY_SETTING}: decodes to {len(raw)} bytes, an Ed25519 public key is "
            f"{_PUBLIC_KEY_BYTES} (copy the public key from the Telnyx portal, not the API key)"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


@functools.lru_cache(maxsize=8)
def _cached_public_key(b64: str) -> Ed25519PublicKey:
    """The key is the same on every request; decode it once per process (errors are not
    cached, so they are re-raised with their reason each time)."""
    return load_public_key(b64)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that also works on a plain ``dict``.

    Starlette's and httpx's header objects are already case-insensitive, so the direct
    ``get`` usually answers; the scan covers plain mappings with ``Telnyx-Timestamp``-style keys.
    """
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                value = candidate
                break
    if value is None or not value.strip():
        return None
    return value


def _timestamp(value: str) -> int:
    text = value.strip()
    # int() alone would also take "+5", " 1_000" and other spellings Telnyx never sends.
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_TIMESTAMP_DIGITS):
        preview = text if len(text) <= 24 else text[:21] + "..."
        raise SignatureError(f"{TIMESTAMP_HEADER} is not an integer: {preview!r}")
    return int(text)


def _signature(value: str) -> bytes:
    try:
        raw = _b64decode(value)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} is not valid base64") from None
    if len(raw) != _SIGNATURE_BYTES:
        raise SignatureError(
            f"{SIGNATURE_HEADER} decodes to {len(raw)} bytes, "
            f"an Ed25519 signature is {_SIGNATURE_BYTES}"
        )
    return raw


def verify_webhook(
    raw_body: bytes,
    headers: Mapping[str, str],
    public_key_b64: str,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Return quietly if Telnyx signed ``raw_body``; raise :class:`SignatureError` otherwise.

    ``raw_body`` must be the request body exactly as received. ``now`` is Unix time
    (``time.time()``). Checks run cheapest first, and the key is checked before the request
    so that a misconfigured key is reported as such rather than as a bad request.
    """
    key = _cached_public_key(public_key_b64)
    signature_text = _header(headers, SIGNATURE_HEADER)
    timestamp_text = _header(headers, TIMESTAMP_HEADER)
    if signature_text is None or timestamp_text is None:
        pairs = ((SIGNATURE_HEADER, signature_text), (TIMESTAMP_HEADER, timestamp_text))
        missing = ", ".join(name for name, value in pairs if value is None)
        raise SignatureError(f"missing header(s): {missing}")
    timestamp = _timestamp(timestamp_text)
    skew = now - timestamp
    if skew > tolerance_s:
        raise SignatureError(f"stale timestamp: {skew:.0f} s old, tolerance is {tolerance_s:.0f} s")
    if -skew > tolerance_s:
        raise SignatureError(
            f"timestamp is {-skew:.0f} s in the future, tolerance is {tolerance_s:.0f} s"
        )
    signature = _signature(signature_text)
    try:
        key.verify(signature, f"{timestamp_text.strip()}|".encode() + raw_body)
    except InvalidSignature:
        raise SignatureError("signature does not match the body and timestamp") from None


# --- the signing side, for the fake Telnyx and tests -----------------------------------------


def generate_keypair() -> tuple[Ed25519PrivateKey, str]:
    """A fresh key pair: the private key signs, the base64 public key goes in
    ``TELNYX_PUBLIC_KEY`` of the server under test.

    A public tool: the fake Telnyx (``voxagent.simulator.fake_telnyx``) makes its key pair
    with it, and users' own tests can do the same."""
    private_key = Ed25519PrivateKey.generate()
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private_key, base64.b64encode(raw).decode("ascii")


def sign_webhook(raw_body: bytes, private_key: Ed25519PrivateKey, timestamp: int) -> dict[str, str]:
    """The two headers Telnyx would send with ``raw_body`` at ``timestamp`` (Unix seconds).

    A public tool: the fake Telnyx (``voxagent.simulator.fake_telnyx``) signs its webhooks
    with it, and users' own tests can sign the webhooks they post to a server under test."""
    stamp = str(int(timestamp))
    signature = private_key.sign(f"{stamp}|".encode() + raw_body)
    return {
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
        TIMESTAMP_HEADER: stamp,
    }
