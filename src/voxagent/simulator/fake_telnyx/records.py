"""What the fake received and sent, kept in order for tests to inspect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EmittedEvent", "JsonObject", "RestRequest", "WebhookDelivery"]

JsonObject = dict[str, Any]


@dataclass(slots=True)
class RestRequest:
    """One REST request the fake received, and the status it answered."""

    method: str
    path: str
    json: JsonObject
    status: int = 0
    at: float = 0.0
    raw: bytes = b""

    @property
    def action(self) -> str | None:
        """``speak`` for ``/v2/calls/{id}/actions/speak``; ``None`` for other paths."""
        parts = self.path.strip("/").split("/")
        return parts[4] if len(parts) == 5 and parts[3] == "actions" else None


@dataclass(slots=True)
class EmittedEvent:
    """A webhook event as created (each is delivered once, or more on retries/duplicates)."""

    id: str
    event_type: str
    call_control_id: str | None
    occurred_at: str
    payload: JsonObject


@dataclass(slots=True)
class WebhookDelivery:
    """One HTTP attempt at delivering an event, and what our server answered."""

    event_id: str
    event_type: str
    call_control_id: str | None
    url: str
    attempt: int
    status: int | None
    """Our server's HTTP status; ``None`` when it did not answer (timeout, refused)."""
    error: str | None
    body: JsonObject = field(repr=False)
    elapsed_ms: float = 0.0
    duplicate: bool = False
