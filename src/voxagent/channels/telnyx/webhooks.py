"""Telnyx Call Control webhooks, parsed without any I/O.

Telnyx reports everything that happens to a call (ringing, answer, speech, hang-up, stream
state) as a signed JSON POST (``../shared/PROTOCOLS.md`` §2). This module turns one body into one
immutable :class:`WebhookEvent` whose ``data`` is a small typed payload, so the HTTP route and
the call controller stay thin. (The fake Telnyx writes its webhooks itself, so the parser is
checked against an independent writer.)

Leniency policy, as in :mod:`media_protocol`: the envelope keys we route on (``data``, its
``id``, ``event_type`` and ``payload``) and the fields an event exists to carry (a
transcript, a DTMF digit) are required; a field of the wrong type is an error
(:class:`MalformedWebhook` with a short reason); other missing fields default to ``""``
or ``None``; unknown keys are ignored. An event type we have no class for is not an error:
it becomes :class:`UnknownEvent`, so a new Telnyx event is acknowledged, not rejected.

Only JSON POST delivery is supported (``webhook_url_method: "GET"`` sends query parameters).

Layout: the parser is here; the event classes are in
:mod:`~voxagent.channels.telnyx.webhook_events` and the ``client_state`` helpers in
:mod:`~voxagent.channels.telnyx.client_state`, all exported from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from voxagent.channels.telnyx.client_state import decode_client_state, encode_client_state
from voxagent.channels.telnyx.json_shapes import describe_json
from voxagent.channels.telnyx.webhook_events import (
    CallAnswered,
    CallHangup,
    CallInitiated,
    CallRef,
    DtmfReceived,
    EventData,
    JsonObject,
    MachineDetectionEnded,
    MalformedWebhook,
    PlaybackEnded,
    PlaybackStarted,
    SpeakEnded,
    SpeakStarted,
    StreamingFailed,
    StreamingStarted,
    StreamingStopped,
    Transcription,
    UnknownEvent,
    WebhookEvent,
)

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "CallAnswered",
    "CallHangup",
    "CallInitiated",
    "CallRef",
    "DtmfReceived",
    "EventData",
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
    "decode_client_state",
    "encode_client_state",
    "parse_webhook",
]

MAX_WEBHOOK_BYTES = 256 * 1024
"""Largest webhook body we parse, checked before ``json.loads``.

Real call events are one to a few KiB (``call.hangup`` with ``call_quality_stats`` and SIP
headers is the largest); 256 KiB leaves ample headroom while bounding what an unauthenticated
POST can make us spend (the size check runs before the JSON parser)."""


# --- field helpers ---------------------------------------------------------------------------


_describe = describe_json


def _wrong(where: str, key: str, expected: str, value: object) -> MalformedWebhook:
    return MalformedWebhook(f"{where}.{key}: expected {expected}, got {_describe(value)}")


def _object(obj: JsonObject, key: str, where: str) -> JsonObject:
    value = obj.get(key)
    if value is None:
        raise MalformedWebhook(f"missing {key!r} object in {where}")
    if not isinstance(value, dict):
        raise _wrong(where, key, "an object", value)
    return value


def _str(obj: JsonObject, key: str, where: str, default: str | None = None) -> str:
    """A string field; required when ``default`` is None. JSON null counts as missing."""
    value = obj.get(key)
    if value is None:
        if default is None:
            raise MalformedWebhook(f"missing {key!r} in {where}")
        return default
    if not isinstance(value, str):
        raise _wrong(where, key, "a string", value)
    return value


def _optional_str(obj: JsonObject, key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _wrong(where, key, "a string or null", value)


def _bool(obj: JsonObject, key: str, where: str) -> bool:
    value = obj.get(key)
    if value is None:
        raise MalformedWebhook(f"missing {key!r} in {where}")
    if not isinstance(value, bool):
        raise _wrong(where, key, "a boolean", value)
    return value


def _optional_number(obj: JsonObject, key: str, where: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(where, key, "a number or null", value)
    return float(value)


# --- payload parsers (``p`` is ``data.payload``) -------------------------------------------------

_P = "payload"


def _call_initiated(p: JsonObject) -> CallInitiated:
    return CallInitiated(
        from_number=_str(p, "from", _P, ""),
        to_number=_str(p, "to", _P, ""),
        direction=_str(p, "direction", _P, ""),
        state=_str(p, "state", _P, ""),
        start_time=_optional_str(p, "start_time", _P),
        caller_id_name=_optional_str(p, "caller_id_name", _P),
    )


def _call_answered(p: JsonObject) -> CallAnswered:
    return CallAnswered(
        from_number=_str(p, "from", _P, ""),
        to_number=_str(p, "to", _P, ""),
        state=_str(p, "state", _P, "answered"),
    )


def _call_hangup(p: JsonObject) -> CallHangup:
    return CallHangup(
        hangup_cause=_str(p, "hangup_cause", _P, "unspecified"),
        hangup_source=_str(p, "hangup_source", _P, "unknown"),
        sip_hangup_cause=_str(p, "sip_hangup_cause", _P, "unspecified"),
        from_number=_str(p, "from", _P, ""),
        to_number=_str(p, "to", _P, ""),
    )


def _speak_started(p: JsonObject) -> SpeakStarted:
    return SpeakStarted()


def _speak_ended(p: JsonObject) -> SpeakEnded:
    return SpeakEnded(status=_str(p, "status", _P, ""))


def _playback_started(p: JsonObject) -> PlaybackStarted:
    return PlaybackStarted(
        media_url=_optional_str(p, "media_url", _P),
        media_name=_optional_str(p, "media_name", _P),
    )


def _playback_ended(p: JsonObject) -> PlaybackEnded:
    return PlaybackEnded(
        status=_str(p, "status", _P, ""),
        media_url=_optional_str(p, "media_url", _P),
        media_name=_optional_str(p, "media_name", _P),
        status_detail=_optional_str(p, "status_detail", _P),
    )


def _transcription(p: JsonObject) -> Transcription:
    where = "payload.transcription_data"
    data = _object(p, "transcription_data", _P)
    return Transcription(
        transcript=_str(data, "transcript", where),
        is_final=_bool(data, "is_final", where),
        confidence=_optional_number(data, "confidence", where),
        track=_str(data, "transcription_track", where, ""),
    )


def _dtmf_received(p: JsonObject) -> DtmfReceived:
    digit = _str(p, "digit", _P)
    if not digit:
        raise MalformedWebhook("payload.digit: empty digit")
    return DtmfReceived(
        digit=digit, from_number=_str(p, "from", _P, ""), to_number=_str(p, "to", _P, "")
    )


def _machine_detection_ended(p: JsonObject) -> MachineDetectionEnded:
    return MachineDetectionEnded(result=_str(p, "result", _P))


def _streaming_started(p: JsonObject) -> StreamingStarted:
    return StreamingStarted(stream_url=_str(p, "stream_url", _P, ""))


def _streaming_stopped(p: JsonObject) -> StreamingStopped:
    return StreamingStopped(stream_url=_str(p, "stream_url", _P, ""))


def _streaming_failed(p: JsonObject) -> StreamingFailed:
    params = p.get("stream_params")
    if params is not None and not isinstance(params, dict):
        raise _wrong(_P, "stream_params", "an object", params)
    return StreamingFailed(
        failure_reason=_str(p, "failure_reason", _P, ""),
        stream_id=_str(p, "stream_id", _P, ""),
        stream_type=_str(p, "stream_type", _P, ""),
        stream_url=_str(params or {}, "stream_url", "payload.stream_params", ""),
    )


_PARSERS: dict[str, Callable[[JsonObject], EventData]] = {
    "call.initiated": _call_initiated,
    "call.answered": _call_answered,
    "call.hangup": _call_hangup,
    "call.speak.started": _speak_started,
    "call.speak.ended": _speak_ended,
    "call.playback.started": _playback_started,
    "call.playback.ended": _playback_ended,
    "call.transcription": _transcription,
    "call.dtmf.received": _dtmf_received,
    "call.machine.detection.ended": _machine_detection_ended,
    # Same question, answered by the premium detector with finer results ("human_business"…).
    "call.machine.premium.detection.ended": _machine_detection_ended,
    # Stream events carry no "call." prefix (``../shared/PROTOCOLS.md`` §2.2).
    "streaming.started": _streaming_started,
    "streaming.stopped": _streaming_stopped,
    "streaming.failed": _streaming_failed,
}


# --- parsing entry point -------------------------------------------------------------------------


def _load(raw: bytes | str) -> JsonObject:
    size = len(raw)
    if isinstance(raw, str) and not raw.isascii():
        size = len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_WEBHOOK_BYTES:
        raise MalformedWebhook(f"body of {size} bytes exceeds the {MAX_WEBHOOK_BYTES}-byte limit")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise MalformedWebhook(f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedWebhook(f"expected a JSON object, got {_describe(body)}")
    return body


def _attempt(body: JsonObject) -> int:
    meta = body.get("meta")
    if not isinstance(meta, dict):
        return 1
    value = meta.get("attempt")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return 1  # delivery bookkeeping only: never worth rejecting an event over


def _call_ref(p: JsonObject) -> CallRef:
    return CallRef(
        call_control_id=_str(p, "call_control_id", _P, ""),
        call_leg_id=_str(p, "call_leg_id", _P, ""),
        call_session_id=_str(p, "call_session_id", _P, ""),
        connection_id=_str(p, "connection_id", _P, ""),
        client_state=_optional_str(p, "client_state", _P),
    )


def parse_webhook(raw: bytes | str) -> WebhookEvent:
    """Parse one webhook body (verify its signature first, on the same raw bytes).

    Raises :class:`MalformedWebhook` for an oversized body, invalid JSON, a missing
    ``data``/``id``/``event_type``/``payload``, or a known event with a field of the wrong type.
    """
    body = _load(raw)
    data = _object(body, "data", "the body")
    event_type = _str(data, "event_type", "data")
    event_id = _str(data, "id", "data")
    if not event_type:
        raise MalformedWebhook("data.event_type: empty")
    if not event_id:
        raise MalformedWebhook("data.id: empty")
    occurred_at = _str(data, "occurred_at", "data", "")
    payload = _object(data, "payload", "data")
    parser = _PARSERS.get(event_type)
    try:
        call = _call_ref(payload)
        event_data = UnknownEvent(event_type, payload) if parser is None else parser(payload)
    except MalformedWebhook as exc:
        raise MalformedWebhook(f"{event_type[:40]} event: {exc}") from None
    return WebhookEvent(
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        call=call,
        data=event_data,
        attempt=_attempt(body),
    )
