"""Our ``client_state`` tag: a small JSON object, base64-encoded as Telnyx requires, that
Telnyx echoes back in every later webhook and in the media stream's ``start`` frame.

Separate from webhook parsing because the media stream reads it too; also exported by
:mod:`voxagent.channels.telnyx.webhooks`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["decode_client_state", "encode_client_state"]


def encode_client_state(obj: Mapping[str, Any]) -> str:
    """Our tag for a call (e.g. ``{"session_id": ...}``) as the base64 Telnyx requires; Telnyx
    echoes it in every later webhook, which links calls we dialed to our sessions."""
    text = json.dumps(dict(obj), separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_client_state(s: str | None) -> dict[str, Any]:
    """The object :func:`encode_client_state` made, or ``{}`` for anything else.

    ``client_state`` is attacker-influenced (anyone can dial an inbound number) and other
    tools on the same Telnyx app may set their own, so this never raises.
    """
    if not s:
        return {}
    try:
        value = json.loads(base64.b64decode(s, validate=True))
    except (binascii.Error, ValueError, RecursionError):  # incl. UnicodeDecodeError
        return {}
    return value if isinstance(value, dict) else {}
