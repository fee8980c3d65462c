"""Telnyx's side of the media-stream protocol, which only our simulator plays: reading the
frames the app sends (``parse_outbound``) and building the frames Telnyx sends (``start``,
inbound ``media``, ``dtmf``, the ``mark`` echo, ``stop``, ``error``).

Kept apart from :mod:`voxagent.channels.telnyx.media_protocol` (the app's side, which also
exports every name here) so that the server's path reads without the fake's; both share
:mod:`voxagent.channels.telnyx.media_wire`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from voxagent.channels.telnyx.media_wire import (
    JsonObject,
    MalformedMessage,
    _audio,
    _b64,
    _dumps,
    _event_name,
    _load,
    _mark_name,
    _object,
    _optional_str,
)

__all__ = [
    "MAX_OUTBOUND_MESSAGE_BYTES",
    "MAX_OUTBOUND_PAYLOAD_BYTES",
    "OutboundClear",
    "OutboundMark",
    "OutboundMedia",
    "OutboundMessage",
    "connected_message",
    "dtmf_message",
    "error_message",
    "inbound_media_message",
    "mark_echo_message",
    "parse_outbound",
    "start_message",
    "stop_message",
]

MAX_OUTBOUND_PAYLOAD_BYTES = 30 * 16_000 * 2
"""Largest audio chunk the app may send in one frame: 30 s of L16 at 16 kHz (Telnyx RTP
mode accepts 20 ms … 30 s per message)."""

MAX_OUTBOUND_MESSAGE_BYTES = 2 * 1024 * 1024
"""Default size cap for :func:`parse_outbound`; fits :data:`MAX_OUTBOUND_PAYLOAD_BYTES`
after base64 (4/3 growth) with room for the JSON around it."""


# --- messages us → Telnyx, as seen by the fake -------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    """Audio the app wants played, in the stream's bidirectional codec."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboundMark:
    """A marker to echo back once all audio sent before it has played."""

    name: str


@dataclass(frozen=True, slots=True)
class OutboundClear:
    """Stop playback now and drop queued audio (barge-in)."""


OutboundMessage: TypeAlias = OutboundMedia | OutboundMark | OutboundClear


# --- parsers us → Telnyx (for the fake) -------------------------------------------------------


def _parse_outbound_media(msg: JsonObject) -> OutboundMedia:
    _optional_str(msg, "stream_id")
    media = _object(msg, "media")
    return OutboundMedia(payload=_audio(media, "media", MAX_OUTBOUND_PAYLOAD_BYTES))


def _parse_outbound_mark(msg: JsonObject) -> OutboundMark:
    _optional_str(msg, "stream_id")
    return OutboundMark(name=_mark_name(msg))


def _parse_outbound_clear(msg: JsonObject) -> OutboundClear:
    _optional_str(msg, "stream_id")
    return OutboundClear()


_OUTBOUND_PARSERS: dict[str, Callable[[JsonObject], OutboundMessage]] = {
    "media": _parse_outbound_media,
    "mark": _parse_outbound_mark,
    "clear": _parse_outbound_clear,
}


# --- parsing entry point -----------------------------------------------------------------


def parse_outbound(
    raw: str | bytes, *, max_size: int = MAX_OUTBOUND_MESSAGE_BYTES
) -> OutboundMessage:
    """Parse one frame the app sent to Telnyx (the fake Telnyx's side of the socket)."""
    msg = _load(raw, max_size)
    event = _event_name(msg)
    parser = _OUTBOUND_PARSERS.get(event)
    if parser is None:
        raise MalformedMessage(f"unknown outbound event {event!r:.40}")
    try:
        return parser(msg)
    except MalformedMessage as exc:
        raise MalformedMessage(f"outbound {event} event: {exc}") from None


# --- builders Telnyx → us (for the simulator / fake) -------------------------------------------


def connected_message(*, version: str = "1.0.0", auth_token: str | None = None) -> str:
    """The first frame Telnyx sends; carries the stream auth token when one was configured."""
    msg: JsonObject = {"event": "connected", "version": version}
    if auth_token is not None:
        msg["x-telnyx-streaming-auth-token"] = auth_token
    return _dumps(msg)


def start_message(
    stream_id: str,
    call_control_id: str,
    *,
    call_session_id: str,
    from_number: str,
    to_number: str,
    encoding: str = "PCMU",
    sample_rate: int = 8000,
    client_state: str | None = None,
    sequence_number: int = 1,
    channels: int = 1,
    user_id: str | None = None,
    tags: Sequence[str] | None = None,
    custom_parameters: Mapping[str, str] | None = None,
) -> str:
    """The ``start`` frame: ``stream_id`` top-level, call details inside ``start``."""
    start: JsonObject = {}
    if user_id is not None:
        start["user_id"] = user_id
    start["call_control_id"] = call_control_id
    start["call_session_id"] = call_session_id
    start["from"] = from_number
    start["to"] = to_number
    if tags is not None:
        start["tags"] = list(tags)
    start["client_state"] = client_state
    start["media_format"] = {
        "encoding": encoding,
        "sample_rate": sample_rate,
        "channels": channels,
    }
    if custom_parameters is not None:
        start["custom_parameters"] = dict(custom_parameters)
    return _dumps(
        {
            "event": "start",
            "sequence_number": str(sequence_number),
            "stream_id": stream_id,
            "start": start,
        }
    )


def inbound_media_message(
    stream_id: str,
    payload: bytes,
    *,
    chunk: int,
    timestamp: int,
    sequence_number: int,
    track: str = "inbound",
) -> str:
    """A ``media`` frame of caller audio, numbers as strings like Telnyx sends them."""
    return _dumps(
        {
            "event": "media",
            "sequence_number": str(sequence_number),
            "stream_id": stream_id,
            "media": {
                "track": track,
                "chunk": str(chunk),
                "timestamp": str(timestamp),
                "payload": _b64(payload),
            },
        }
    )


def dtmf_message(
    stream_id: str, digit: str, *, sequence_number: int, occurred_at: str | None = None
) -> str:
    """A keypad press. ``occurred_at`` defaults to now (UTC, Telnyx's format)."""
    if occurred_at is None:
        occurred_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _dumps(
        {
            "event": "dtmf",
            "stream_id": stream_id,
            "occurred_at": occurred_at,
            "sequence_number": str(sequence_number),
            "dtmf": {"digit": digit},
        }
    )


def mark_echo_message(stream_id: str, name: str, *, sequence_number: int) -> str:
    """Telnyx's echo of one of our marks, sent when the audio before it finished playing."""
    return _dumps(
        {
            "event": "mark",
            "stream_id": stream_id,
            "sequence_number": str(sequence_number),
            "mark": {"name": name},
        }
    )


def stop_message(
    stream_id: str, call_control_id: str, *, sequence_number: int, user_id: str | None = None
) -> str:
    """The last frame of a stream."""
    stop: JsonObject = {}
    if user_id is not None:
        stop["user_id"] = user_id
    stop["call_control_id"] = call_control_id
    return _dumps(
        {
            "event": "stop",
            "sequence_number": str(sequence_number),
            "stream_id": stream_id,
            "stop": stop,
        }
    )


def error_message(stream_id: str, code: int, title: str, detail: str) -> str:
    """An ``error`` frame (``code`` is an integer here, unlike REST errors)."""
    return _dumps(
        {
            "event": "error",
            "stream_id": stream_id,
            "payload": {"code": code, "title": title, "detail": detail},
        }
    )
