"""The Telnyx media-streaming WebSocket wire format, parsed and built without any I/O.

Telnyx opens a WebSocket to us and exchanges JSON text frames (docs: "Media Streaming over
Websockets"; shapes in ``../shared/PROTOCOLS.md`` §3). This module turns one frame into one small
immutable event and builds the frames we send back. It never touches a socket, a clock
loop or a logger, so the WebSocket handler around it stays thin and every rule here is
tested with plain data.

Both directions live here because our simulator plays Telnyx's side: ``parse_message``
and the ``*_message`` builders for the app's side; ``start_message``/``inbound_media_message``
and friends plus ``parse_outbound`` for the fake Telnyx.

Leniency policy: a field we need but cannot interpret is an error (:class:`MalformedMessage`
with a short reason), while a *missing* optional field gets the default Telnyx documents
(``media_format`` → PCMU/8000/1, ``track`` → ``"inbound"``) and unknown extra keys are
ignored, so a harmless Telnyx addition never drops a call. Numbers arrive as strings in
Telnyx examples (``"sequence_number":"4"``); both strings and integers are accepted.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from voxagent.channels.telnyx.json_shapes import describe_json

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

MAX_OUTBOUND_PAYLOAD_BYTES = 30 * 16_000 * 2
"""Largest audio chunk the app may send in one frame: 30 s of L16 at 16 kHz (Telnyx RTP
mode accepts 20 ms … 30 s per message)."""

MAX_OUTBOUND_MESSAGE_BYTES = 2 * 1024 * 1024
"""Default size cap for :func:`parse_outbound`; fits :data:`MAX_OUTBOUND_PAYLOAD_BYTES`
after base64 (4/3 growth) with room for the JSON around it."""

_DTMF_DIGITS = frozenset("0123456789*#ABCD")
_MAX_DIGITS = 20  # longest numeric string accepted (fits any 64-bit counter)


class MalformedMessage(ValueError):
    """A frame that is not a valid Telnyx media-stream message; ``str()`` says why."""


class MessageTooLarge(MalformedMessage):
    """A frame over the size cap, rejected before any parsing work is spent on it."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


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


# --- field helpers -------------------------------------------------------------------------
#
# Every helper takes ``where``: the JSON path of the object it reads from ("" for the
# message root), so a reason names the exact field, e.g. "media.payload: invalid base64".

JsonObject: TypeAlias = dict[str, Any]


_describe = describe_json


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _missing(where: str, key: str, what: str = "") -> MalformedMessage:
    return MalformedMessage(f"missing {key!r}{what}" + (f" in {where}" if where else ""))


def _wrong(where: str, key: str, expected: str, value: object) -> MalformedMessage:
    return MalformedMessage(f"{_path(where, key)}: expected {expected}, got {_describe(value)}")


def _object(msg: JsonObject, key: str, where: str = "", *, required: bool = True) -> JsonObject:
    value = msg.get(key)
    if value is None:
        if required:
            raise _missing(where, key, " object")
        return {}
    if not isinstance(value, dict):
        raise _wrong(where, key, "an object", value)
    return value


def _str(msg: JsonObject, key: str, where: str = "", default: str | None = None) -> str:
    """A string field; required when ``default`` is None. JSON null counts as missing."""
    value = msg.get(key)
    if value is None:
        if default is None:
            raise _missing(where, key)
        return default
    if not isinstance(value, str):
        raise _wrong(where, key, "a string", value)
    return value


def _optional_str(msg: JsonObject, key: str, where: str = "") -> str | None:
    value = msg.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _wrong(where, key, "a string or null", value)


def _int(msg: JsonObject, key: str, where: str = "", default: int | None = None) -> int:
    """A non-negative integer sent as a JSON number or a decimal string."""
    value = msg.get(key)
    if value is None:
        if default is None:
            raise _missing(where, key)
        return default
    if isinstance(value, str):  # the common case: Telnyx sends numbers as strings
        if value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS:
            return int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _wrong(where, key, "a non-negative integer", value)


def _positive_int(msg: JsonObject, key: str, where: str, default: int) -> int:
    value = _int(msg, key, where, default)
    if value == 0:
        raise MalformedMessage(f"{_path(where, key)}: must be positive, got 0")
    return value


def _base64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def _audio(msg: JsonObject, where: str, limit: int) -> bytes:
    """Decode ``msg["payload"]``: non-empty, strict base64, at most ``limit`` bytes."""
    value = msg.get("payload")
    at = _path(where, "payload")
    if value is None:
        raise _missing(where, "payload")
    if not isinstance(value, str):
        raise _wrong(where, "payload", "a base64 string", value)
    if not value:
        raise MalformedMessage(f"{at}: empty audio payload")
    if len(value) > _base64_len(limit):  # reject before spending time decoding
        raise MalformedMessage(
            f"{at}: about {len(value) * 3 // 4} bytes of audio, limit is {limit}"
        )
    try:
        audio = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedMessage(f"{at}: invalid base64 ({exc})") from exc
    if len(audio) > limit:
        raise MalformedMessage(f"{at}: {len(audio)} bytes of audio, limit is {limit}")
    return audio


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


def _mark_name(msg: JsonObject) -> str:
    name = _str(_object(msg, "mark"), "name", "mark")
    if not name:
        raise MalformedMessage("mark.name: empty mark name")
    return name


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


# --- public parsing entry points -------------------------------------------------------------


def _load(raw: str | bytes, max_size: int) -> JsonObject:
    """Size-check, decode JSON, and insist on an object with a string ``event``."""
    size = len(raw)
    if size > max_size:
        raise MessageTooLarge(size, max_size)
    if isinstance(raw, str) and not raw.isascii():  # isascii() is O(1) on str
        size = len(raw.encode("utf-8", "surrogatepass"))
        if size > max_size:
            raise MessageTooLarge(size, max_size)
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, deep nesting
        raise MalformedMessage(f"invalid JSON: {exc}") from exc
    if not isinstance(msg, dict):
        raise MalformedMessage(f"expected a JSON object, got {_describe(msg)}")
    return msg


def _event_name(msg: JsonObject) -> str:
    event = msg.get("event")
    if event is None:
        raise MalformedMessage("missing 'event'")
    if not isinstance(event, str):
        raise MalformedMessage(f"'event' must be a string, got {_describe(event)}")
    return event


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


# --- builders us → Telnyx ---------------------------------------------------------------------


def _dumps(obj: JsonObject) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _b64(payload: bytes) -> str:
    return binascii.b2a_base64(payload, newline=False).decode("ascii")


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
