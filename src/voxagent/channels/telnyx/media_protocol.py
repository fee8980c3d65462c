"""The Telnyx media-streaming WebSocket wire format, parsed and built without any I/O.

Telnyx opens a WebSocket to us and exchanges JSON text frames (docs: "Media Streaming over
Websockets"; shapes in ``../shared/PROTOCOLS.md`` §3). This module turns one frame into one small
immutable event and builds the frames we send back. It never touches a socket, a clock
loop or a logger, so the WebSocket handler around it stays thin and every rule here is
tested with plain data.

Both directions are exported here because our simulator plays Telnyx's side: ``parse_message``
and the ``*_message`` builders for the app's side (defined here); ``start_message``/
``inbound_media_message`` and friends plus ``parse_outbound`` for the fake Telnyx (defined in
:mod:`~voxagent.channels.telnyx.media_telnyx_side`). The errors, field readers and JSON framing
both sides use are in :mod:`~voxagent.channels.telnyx.media_wire`.

Leniency policy: a field we need but cannot interpret is an error (:class:`MalformedMessage`
with a short reason), while a *missing* optional field gets the default Telnyx documents
(``media_format`` → PCMU/8000/1, ``track`` → ``"inbound"``) and unknown extra keys are
ignored, so a harmless Telnyx addition never drops a call. Numbers arrive as strings in
Telnyx examples (``"sequence_number":"4"``); both strings and integers are accepted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from voxagent.channels.telnyx.media_telnyx_side import (
    MAX_OUTBOUND_MESSAGE_BYTES,
    MAX_OUTBOUND_PAYLOAD_BYTES,
    OutboundClear,
    OutboundMark,
    OutboundMedia,
    OutboundMessage,
    connected_message,
    dtmf_message,
    error_message,
    inbound_media_message,
    mark_echo_message,
    parse_outbound,
    start_message,
    stop_message,
)
from voxagent.channels.telnyx.media_wire import (
    JsonObject,
    MalformedMessage,
    MessageTooLarge,
    _audio,
    _b64,
    _describe,
    _dumps,
    _event_name,
    _int,
    _load,
    _mark_name,
    _object,
    _optional_str,
    _positive_int,
    _str,
    _wrong,
)

__all__ = [
    "MAX_MEDIA_PAYLOAD_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_OUTBOUND_MESSAGE_BYTES",
    "MAX_OUTBOUND_PAYLOAD_BYTES",
    "Connected",
    "Dtmf",
    "MalformedMessage",
    "Mark",
    "Media",
    "MessageTooLarge",
    "OutboundClear",
    "OutboundMark",
    "OutboundMedia",
    "OutboundMessage",
    "Start",
    "Stop",
    "StreamError",
    "TelnyxEvent",
    "clear_message",
    "connected_message",
    "dtmf_message",
    "error_message",
    "inbound_media_message",
    "mark_echo_message",
    "mark_message",
    "media_message",
    "parse_message",
    "parse_outbound",
    "start_message",
    "stop_message",
]

MAX_MEDIA_PAYLOAD_BYTES = 16_000
"""Largest decoded audio payload we accept from Telnyx in one ``media`` frame.

Frames are normally 20 ms (160 bytes of G.711, 640 of L16 at 16 kHz); 16 000 bytes is a
full second of G.711 or half a second of L16, far above anything real, yet small enough
that a broken peer cannot make one frame cost us much to decode and buffer."""

MAX_MESSAGE_BYTES = 64 * 1024
"""Default size cap for one inbound frame, checked *before* JSON parsing.

The largest legitimate frame is a media frame at :data:`MAX_MEDIA_PAYLOAD_BYTES`
(≈21 KiB once base64-encoded, plus a few hundred bytes of JSON). 64 KiB leaves headroom
while bounding the CPU and memory that ``json.loads`` and base64 spend on a hostile or
buggy peer; the WebSocket layer's own limit (``websockets`` defaults to 1 MiB) is far
looser, so this is the limit that actually protects the event loop."""

_DTMF_DIGITS = frozenset("0123456789*#ABCD")


# --- events Telnyx → us ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """First frame on a new stream. ``auth_token`` echoes ``stream_auth_token`` if set."""

    version: str
    auth_token: str | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """Stream metadata; ``encoding``/``sample_rate`` describe the audio Telnyx sends us."""

    stream_id: str
    call_control_id: str
    call_session_id: str
    from_number: str
    to_number: str
    client_state: str | None
    encoding: str
    sample_rate: int
    channels: int
    custom_parameters: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Media:
    """One chunk of caller (or, with ``both_tracks``, agent) audio; ``payload`` is decoded."""

    stream_id: str
    track: str
    chunk: int
    timestamp: int
    sequence_number: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A keypad press; ``digit`` is one of ``0-9 * # A-D``."""

    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    """Echo of a mark we sent: the audio queued before it has finished playing."""

    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream ended (hang-up or ``streaming_stop``); no more frames follow."""

    call_control_id: str


@dataclass(frozen=True, slots=True)
class StreamError:
    """Telnyx rejected something we sent (e.g. 100003 malformed_frame, 100004 invalid_media)."""

    code: int
    title: str
    detail: str


TelnyxEvent: TypeAlias = Connected | Start | Media | Dtmf | Mark | Stop | StreamError


# --- field readers for the start frame ---------------------------------------------------


def _custom_parameters(start: JsonObject) -> dict[str, str]:
    """Accept ``{"name": "value"}`` or the ``[{"name":..,"value":..}]`` form used by
    ``streaming_start`` (the exact key and shape in the ``start`` frame is unconfirmed)."""
    value = start.get("custom_parameters")
    if value is None:
        return {}
    where = "start.custom_parameters"
    pairs: list[tuple[object, object]]
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
        pairs = [(item.get("name"), item.get("value")) for item in value]
    else:
        raise _wrong(
            "start", "custom_parameters", "an object or a list of name/value objects", value
        )
    params: dict[str, str] = {}
    for name, raw in pairs:
        if not isinstance(name, str):
            raise MalformedMessage(f"{where}: bad name {_describe(name)}")
        if isinstance(raw, str):
            params[name] = raw
        elif isinstance(raw, int | float | bool):
            params[name] = json.dumps(raw)  # 1 → "1", true → "true"
        else:
            raise MalformedMessage(
                f"{where}[{name!r:.30}]: expected a scalar, got {_describe(raw)}"
            )
    return params


# --- parsers Telnyx → us ---------------------------------------------------------------------


def _parse_connected(msg: JsonObject) -> Connected:
    return Connected(
        version=_str(msg, "version", default=""),
        auth_token=_optional_str(msg, "x-telnyx-streaming-auth-token"),
    )


def _parse_start(msg: JsonObject) -> Start:
    start = _object(msg, "start")
    media_format = _object(start, "media_format", "start", required=False)
    return Start(
        stream_id=_str(msg, "stream_id"),
        call_control_id=_str(start, "call_control_id", "start"),
        call_session_id=_str(start, "call_session_id", "start", default=""),
        from_number=_str(start, "from", "start", default=""),
        to_number=_str(start, "to", "start", default=""),
        client_state=_optional_str(start, "client_state", "start"),
        encoding=_str(media_format, "encoding", "start.media_format", default="PCMU"),
        sample_rate=_positive_int(media_format, "sample_rate", "start.media_format", 8000),
        channels=_positive_int(media_format, "channels", "start.media_format", 1),
        custom_parameters=_custom_parameters(start),
    )


def _parse_media(msg: JsonObject) -> Media:
    media = _object(msg, "media")
    return Media(
        stream_id=_str(msg, "stream_id", default=""),
        track=_str(media, "track", "media", default="inbound"),
        chunk=_int(media, "chunk", "media", default=0),
        timestamp=_int(media, "timestamp", "media", default=0),
        sequence_number=_int(msg, "sequence_number", default=0),
        payload=_audio(media, "media", MAX_MEDIA_PAYLOAD_BYTES),
    )


def _parse_dtmf(msg: JsonObject) -> Dtmf:
    digit = _str(_object(msg, "dtmf"), "digit", "dtmf").upper()
    if digit not in _DTMF_DIGITS:
        raise MalformedMessage(f"dtmf.digit: expected one of 0-9 * # A-D, got {digit!r:.24}")
    return Dtmf(digit=digit)


def _parse_mark(msg: JsonObject) -> Mark:
    return Mark(name=_mark_name(msg))


def _parse_stop(msg: JsonObject) -> Stop:
    stop = _object(msg, "stop", required=False)
    return Stop(call_control_id=_str(stop, "call_control_id", "stop", default=""))


def _parse_error(msg: JsonObject) -> StreamError:
    payload = _object(msg, "payload")
    return StreamError(
        code=_int(payload, "code", "payload"),
        title=_str(payload, "title", "payload", default=""),
        detail=_str(payload, "detail", "payload", default=""),
    )


_PARSERS: dict[str, Callable[[JsonObject], TelnyxEvent]] = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
    "error": _parse_error,
}


# --- public parsing entry point ----------------------------------------------------------


def parse_message(raw: str | bytes, *, max_size: int = MAX_MESSAGE_BYTES) -> TelnyxEvent:
    """Parse one frame Telnyx sent us into an event.

    Raises :class:`MessageTooLarge` above ``max_size`` bytes and :class:`MalformedMessage`
    for anything else that is not a well-formed, known Telnyx event.
    """
    msg = _load(raw, max_size)
    event = _event_name(msg)
    parser = _PARSERS.get(event)
    if parser is None:
        raise MalformedMessage(f"unknown event {event!r:.40}")
    try:
        return parser(msg)
    except MalformedMessage as exc:
        raise MalformedMessage(f"{event} event: {exc}") from None


# --- builders us → Telnyx ---------------------------------------------------------------------


def media_message(payload: bytes, stream_id: str | None = None) -> str:
    """Audio for Telnyx to play, already encoded in the stream's bidirectional codec."""
    if not payload:
        raise ValueError("refusing to send an empty media payload")
    if stream_id is None:
        # Hot path (50/s per call): base64 needs no JSON escaping, so format directly.
        return '{"event":"media","media":{"payload":"' + _b64(payload) + '"}}'
    return _dumps({"event": "media", "stream_id": stream_id, "media": {"payload": _b64(payload)}})


def mark_message(name: str, stream_id: str | None = None) -> str:
    """A marker Telnyx echoes back once the audio sent before it has played."""
    if not name:
        raise ValueError("mark name must not be empty")
    msg: JsonObject = {"event": "mark"}
    if stream_id is not None:
        msg["stream_id"] = stream_id
    msg["mark"] = {"name": name}
    return _dumps(msg)


def clear_message(stream_id: str | None = None) -> str:
    """Tell Telnyx to stop playback and drop queued audio (barge-in)."""
    msg: JsonObject = {"event": "clear"}
    if stream_id is not None:
        msg["stream_id"] = stream_id
    return _dumps(msg)
