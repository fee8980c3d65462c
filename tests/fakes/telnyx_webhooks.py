"""Telnyx webhook bodies for tests: the exact §2.1 envelope, built from parts.

Written out here rather than in the product: the server only ever parses webhooks, and the
fake Telnyx builds its own (so the parser is checked against an independent writer).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from voxagent.channels.telnyx.webhooks import CallRef

JsonObject = dict[str, Any]


def _now_iso() -> str:
    """Telnyx's timestamp style: microseconds, UTC, trailing ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def call_payload(call: CallRef, fields: Mapping[str, Any] | None = None) -> JsonObject:
    """A payload with the common call keys first, then the event's own ``fields``."""
    payload: JsonObject = {
        "call_control_id": call.call_control_id,
        "call_leg_id": call.call_leg_id,
        "call_session_id": call.call_session_id,
        "connection_id": call.connection_id,
        "client_state": call.client_state,
    }
    if fields:
        payload.update(fields)
    return payload


def build_webhook(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: str | None = None,
    attempt: int = 1,
    delivered_to: str = "",
) -> bytes:
    """The exact body Telnyx POSTs (§2.1 envelope). Sign these bytes, then send them as-is.

    ``event_id`` defaults to a fresh UUID; pass the same id with ``attempt=2`` to model a
    redelivery. ``occurred_at`` defaults to now.
    """
    envelope = {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": event_id if event_id is not None else str(uuid.uuid4()),
            "occurred_at": occurred_at if occurred_at is not None else _now_iso(),
            "payload": dict(payload),
        },
        "meta": {"attempt": attempt, "delivered_to": delivered_to},
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
