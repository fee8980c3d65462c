"""The facts of one call, in one object, whatever line it arrives on.

Everything downstream (the agent, its prompt, the record, the stats) reads a call's facts from
here instead of from the transport, so a browser session and a phone call look alike to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

__all__ = ["CallInfo", "ChannelKind", "Direction"]

Direction = Literal["inbound", "outbound"]


class ChannelKind(StrEnum):
    """How the conversation is carried (stored as the record's ``mode``)."""

    MEDIA_STREAM = "media_stream"
    """Telnyx streams the audio to us; we hear, think and speak."""
    WEBHOOK = "webhook"
    """Telnyx hears and speaks; we answer each transcript."""
    BROWSER = "browser"


@dataclass(frozen=True, slots=True)
class CallInfo:
    call_id: str
    channel: ChannelKind = ChannelKind.MEDIA_STREAM
    direction: Direction = "inbound"
    caller: str = ""
    """Who is calling: the phone number, or the browser user."""
    callee: str = ""
    """Who is called: our number on inbound calls, the customer's on outbound ones."""
    persona: str = "maria"
    language: str = "en"
    name: str = ""
    """The customer's name, when we know it (an outbound call to a list)."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """Free values for the agent (extra CSV columns: the pet, the appointment…)."""
    session_id: str | None = None

    @property
    def customer_number(self) -> str:
        """The other party's number: the caller inbound, the callee outbound."""
        return self.callee if self.direction == "outbound" else self.caller
