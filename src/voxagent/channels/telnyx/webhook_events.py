"""The typed Telnyx webhook events: the :class:`WebhookEvent` envelope, the :class:`CallRef`
every call event carries, and one small immutable payload class per event type we handle.

:func:`~voxagent.channels.telnyx.webhooks.parse_webhook` builds them, and
:mod:`~voxagent.channels.telnyx.webhooks` exports them; they live apart so that what an event
holds reads without how a body is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "CallAnswered",
    "CallHangup",
    "CallInitiated",
    "CallRef",
    "DtmfReceived",
    "EventData",
    "JsonObject",
    "MachineDetectionEnded",
    "MalformedWebhook",
    "PlaybackEnded",
    "PlaybackStarted",
    "SpeakEnded",
    "SpeakStarted",
    "StreamingFailed",
    "StreamingStarted",
    "StreamingStopped",
    "Transcription",
    "UnknownEvent",
    "WebhookEvent",
]

JsonObject: TypeAlias = dict[str, Any]


class MalformedWebhook(ValueError):
    """A body that is not a well-formed Telnyx webhook; ``str()`` says why."""


# --- the envelope ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRef:
    """The ids every call event carries; ``client_state`` is our own base64 tag, echoed back."""

    call_control_id: str
    call_leg_id: str
    call_session_id: str
    connection_id: str
    client_state: str | None


# --- typed payloads ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallInitiated:
    """A call exists. ``direction`` is ``"incoming"`` (parked, waiting for ``answer``) or
    ``"outgoing"`` (our dial is ringing)."""

    from_number: str
    to_number: str
    direction: str
    state: str
    start_time: str | None = None
    caller_id_name: str | None = None


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """Both ends are connected; commands other than ``answer`` are accepted from now on."""

    from_number: str = ""
    to_number: str = ""
    state: str = "answered"


@dataclass(frozen=True, slots=True)
class CallHangup:
    """The call is over. ``hangup_cause`` is e.g. ``normal_clearing``, ``user_busy``,
    ``timeout``; ``hangup_source`` is ``caller``, ``callee`` or ``unknown``."""

    hangup_cause: str
    hangup_source: str
    sip_hangup_cause: str
    from_number: str = ""
    to_number: str = ""


@dataclass(frozen=True, slots=True)
class SpeakStarted:
    """Telnyx began playing text from a ``speak`` command."""


@dataclass(frozen=True, slots=True)
class SpeakEnded:
    """A ``speak`` finished; ``status`` is ``completed``, ``call_hangup`` or ``cancelled_amd``."""

    status: str


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    """Telnyx began playing audio from a ``playback_start`` command."""

    media_url: str | None = None
    media_name: str | None = None


@dataclass(frozen=True, slots=True)
class PlaybackEnded:
    """A playback finished; ``status`` is ``completed``, ``call_hangup``, ``cancelled``, …"""

    status: str
    media_url: str | None = None
    media_name: str | None = None
    status_detail: str | None = None


@dataclass(frozen=True, slots=True)
class Transcription:
    """One result of Telnyx's recognizer (``transcription_start``). ``track`` is
    ``"inbound"``/``"outbound"``, or ``""`` when Telnyx leaves it out."""

    transcript: str
    is_final: bool
    confidence: float | None
    track: str


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """A keypad press on the call."""

    digit: str
    from_number: str = ""
    to_number: str = ""


@dataclass(frozen=True, slots=True)
class MachineDetectionEnded:
    """Answering-machine detection decided: ``human``, ``machine`` or ``not_sure`` (premium
    detection also reports ``human_residence``, ``human_business``, ``silence``, …)."""

    result: str


@dataclass(frozen=True, slots=True)
class StreamingStarted:
    """Telnyx connected its media WebSocket to ``stream_url``."""

    stream_url: str = ""


@dataclass(frozen=True, slots=True)
class StreamingStopped:
    """The media WebSocket to ``stream_url`` closed."""

    stream_url: str = ""


@dataclass(frozen=True, slots=True)
class StreamingFailed:
    """Telnyx could not open (or keep) the media WebSocket; the call itself goes on."""

    failure_reason: str
    stream_id: str
    stream_type: str = ""
    stream_url: str = ""


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event type we do not model; acknowledged and otherwise ignored."""

    event_type: str
    payload: JsonObject = field(hash=False)


EventData: TypeAlias = (
    CallInitiated
    | CallAnswered
    | CallHangup
    | SpeakStarted
    | SpeakEnded
    | PlaybackStarted
    | PlaybackEnded
    | Transcription
    | DtmfReceived
    | MachineDetectionEnded
    | StreamingStarted
    | StreamingStopped
    | StreamingFailed
    | UnknownEvent
)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One delivered webhook. ``event_id`` is unique per event (not per delivery attempt), so
    it is the de-duplication key; ``attempt`` counts Telnyx's deliveries of it."""

    event_id: str
    event_type: str
    occurred_at: str
    call: CallRef
    data: EventData
    attempt: int = 1
