"""Process-wide counters shown by the health endpoint (Prometheus export comes later)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class ServerStats:
    calls_started: int = 0
    calls_ended: int = 0
    turns: int = 0
    barge_ins: int = 0
    malformed_messages: int = 0
    dropped_frames: int = 0
    webhooks_received: int = 0
    webhooks_rejected: int = 0
    handed_over: int = 0
    """Calls this instance handed to another one while draining."""
    provider_switches: Counter[str] = field(default_factory=Counter)
    """Fallbacks taken, keyed ``stage:failed->next`` (e.g. ``tts:elevenlabs->piper``)."""

    def as_dict(self) -> dict[str, object]:
        counts = asdict(self)
        counts["provider_switches"] = dict(self.provider_switches)
        return counts
