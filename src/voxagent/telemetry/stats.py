"""Process-wide counters shown by the health endpoint (Prometheus export comes later)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ServerStats:
    calls_started: int = 0
    calls_ended: int = 0
    turns: int = 0
    barge_ins: int = 0
    malformed_messages: int = 0
    dropped_frames: int = 0
    webhooks_rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
