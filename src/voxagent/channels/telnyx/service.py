"""Everything the Telnyx routes need, in one object: the call layer, and Telnyx when configured.

Without Telnyx credentials the media stream still works (the simulator phones in over it), so
this exists either way; ``controller`` is None then, and nothing can be dialled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voxagent.calls.batch import Batch
from voxagent.calls.guard import OutboundGuard
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.calls.shared_batches import SharedBatches
from voxagent.channels.telnyx.controller import TelnyxCallController
from voxagent.channels.telnyx.rescue import CallRescuer
from voxagent.settings import Settings
from voxagent.telemetry.stats import ServerStats

__all__ = ["TelnyxService"]


@dataclass
class TelnyxService:
    settings: Settings
    calls: CallLifecycle
    stats: ServerStats
    guard: OutboundGuard
    controller: TelnyxCallController | None = None
    rescuer: CallRescuer | None = None
    """With several instances: picks up the calls of an instance that died."""
    batches: dict[str, Batch] = field(default_factory=dict)
    shared_batches: SharedBatches | None = None
    """With several instances: every batch's progress, readable on any of them."""
