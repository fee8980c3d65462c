"""What happened in a call that is worth counting: kept in its record, summed in stats."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class CallCounters:
    turns: int = 0
    """Agent turns finished (greeting included)."""
    barge_ins: int = 0
    dropped_frames: int = 0
    """Caller audio dropped because the call could not keep up."""
    reprompts: int = 0
    """Speech long enough to be words came back with none: the agent asked to repeat."""
    no_input_prompts: int = 0
    """The caller stayed silent after the agent finished: "are you still there?"."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
