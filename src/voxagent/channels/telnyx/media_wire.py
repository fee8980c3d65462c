"""What both sides of the media-stream protocol share: the errors, the field readers that
name the exact field at fault, and JSON framing (size-checked loading, compact dumping).

Split from :mod:`voxagent.channels.telnyx.media_protocol` (our side of the stream) and
:mod:`voxagent.channels.telnyx.media_telnyx_side` (Telnyx's side, for the simulator) so that
neither has to import the other. Sans-I/O, like both of them.
"""

from __future__ import annotations

import binascii
import json
from typing import Any, TypeAlias

from voxagent.channels.telnyx.json_shapes import describe_json

__all__ = ["JsonObject", "MalformedMessage", "MessageTooLarge"]

_MAX_DIGITS = 20  # longest numeric string accepted (fits any 64-bit counter)


class MalformedMessage(ValueError):
    """A frame that is not a valid Telnyx media-stream message; ``str()`` says why."""


class MessageTooLarge(MalformedMessage):
    """A frame over the size cap, rejected before any parsing work is spent on it."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


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


def _mark_name(msg: JsonObject) -> str:
    name = _str(_object(msg, "mark"), "name", "mark")
    if not name:
        raise MalformedMessage("mark.name: empty mark name")
    return name


# --- framing -----------------------------------------------------------------------------


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


def _dumps(obj: JsonObject) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _b64(payload: bytes) -> str:
    return binascii.b2a_base64(payload, newline=False).decode("ascii")
