"""Telnyx webhook envelopes: documented examples of every event we model, malformed bodies,
build/parse round trips and ``client_state``.

The examples are the §2.1/§2.2 shapes of PROTOCOLS.md written out by hand.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.telnyx_webhooks import build_webhook, call_payload
from voxagent.channels.telnyx.webhooks import (
    MAX_WEBHOOK_BYTES,
    CallAnswered,
    CallHangup,
    CallInitiated,
    CallRef,
    DtmfReceived,
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
    decode_client_state,
    encode_client_state,
    parse_webhook,
)

CALL_CONTROL_ID = "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
CALL_LEG_ID = "2dc6fc34-f9e0-11ea-b68e-02420a0f7768"
CALL_SESSION_ID = "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768"
CONNECTION_ID = "1240401930086254526"
CLIENT_STATE = "aGF2ZSBhIG5pY2UgZGF5ID1d"
EVENT_ID = "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
OCCURRED_AT = "2018-02-02T22:25:27.521992Z"

COMMON = (
    f'"call_control_id":"{CALL_CONTROL_ID}","call_leg_id":"{CALL_LEG_ID}",'
    f'"call_session_id":"{CALL_SESSION_ID}","connection_id":"{CONNECTION_ID}",'
    f'"client_state":"{CLIENT_STATE}"'
)


def envelope(event_type: str, extra: str, *, common: str = COMMON) -> str:
    """A body as Telnyx sends it, with ``extra`` payload fields after the common ones."""
    payload = common + ("," + extra if extra else "")
    return (
        '{"data":{"record_type":"event","event_type":"' + event_type + '",'
        f'"id":"{EVENT_ID}","occurred_at":"{OCCURRED_AT}",'
        '"payload":{' + payload + "}},"
        '"meta":{"attempt":1,"delivered_to":"https://agent.example.com/webhook/telnyx"}}'
    )


EXAMPLES: list[tuple[str, str, object]] = [
    (
        "call.initiated",
        '"from":"+12025550133","to":"+12025550131","direction":"incoming","state":"parked",'
        '"start_time":"2018-02-02T22:25:27.521992Z","caller_id_name":"+12025550133",'
        '"custom_headers":[],"offered_codecs":"PCMU,PCMA"',
        CallInitiated(
            from_number="+12025550133",
            to_number="+12025550131",
            direction="incoming",
            state="parked",
            start_time="2018-02-02T22:25:27.521992Z",
            caller_id_name="+12025550133",
        ),
    ),
    (
        "call.answered",
        '"from":"+12025550100","to":"+12025550199","state":"answered",'
        '"start_time":"2018-02-02T22:25:27.521992Z","tags":["campaign-7"]',
        CallAnswered(from_number="+12025550100", to_number="+12025550199", state="answered"),
    ),
    (
        "call.hangup",
        '"from":"+12025550133","to":"+12025550131","hangup_cause":"normal_clearing",'
        '"hangup_source":"caller","sip_hangup_cause":"16","state":"hangup",'
        '"start_time":"2018-02-02T22:25:27.521992Z",'
        '"call_quality_stats":{"inbound":{"mos":"4.45","jitter_max_variance":"0.5"}}',
        CallHangup(
            hangup_cause="normal_clearing",
            hangup_source="caller",
            sip_hangup_cause="16",
            from_number="+12025550133",
            to_number="+12025550131",
        ),
    ),
    ("call.speak.started", "", SpeakStarted()),
    ("call.speak.ended", '"status":"completed"', SpeakEnded(status="completed")),
    (
        "call.playback.started",
        '"media_url":"https://agent.example.com/hold.mp3","media_name":null,"overlay":false',
        PlaybackStarted(media_url="https://agent.example.com/hold.mp3", media_name=None),
    ),
    (
        "call.playback.ended",
        '"media_url":"https://agent.example.com/hold.mp3","overlay":false,'
        '"status":"file_not_found","status_detail":"404 from media server"',
        PlaybackEnded(
            status="file_not_found",
            media_url="https://agent.example.com/hold.mp3",
            status_detail="404 from media server",
        ),
    ),
    (
        "call.transcription",
        '"transcription_data":{"confidence":0.977219,"is_final":true,'
        '"transcript":"hello this is a test speech","transcription_track":"inbound"}',
        Transcription(
            transcript="hello this is a test speech",
            is_final=True,
            confidence=0.977219,
            track="inbound",
        ),
    ),
    (
        "call.dtmf.received",
        '"digit":"#","from":"+12025550133","to":"+12025550131"',
        DtmfReceived(digit="#", from_number="+12025550133", to_number="+12025550131"),
    ),
    (
        "call.machine.detection.ended",
        '"result":"machine","from":"+12025550100","to":"+12025550199"',
        MachineDetectionEnded(result="machine"),
    ),
    (
        "call.machine.premium.detection.ended",
        '"result":"human_business"',
        MachineDetectionEnded(result="human_business"),
    ),
    (
        "streaming.started",
        '"stream_url":"wss://agent.example.com/stream/media"',
        StreamingStarted(stream_url="wss://agent.example.com/stream/media"),
    ),
    (
        "streaming.stopped",
        '"stream_url":"wss://agent.example.com/stream/media"',
        StreamingStopped(stream_url="wss://agent.example.com/stream/media"),
    ),
    (
        "streaming.failed",
        '"failure_reason":"connection_failed",'
        '"stream_id":"1edb94f9-7ef0-4150-b502-e0ebadfd9491","stream_type":"websocket",'
        '"stream_params":{"stream_url":"wss://agent.example.com/stream/media",'
        '"track":"inbound_track"}',
        StreamingFailed(
            failure_reason="connection_failed",
            stream_id="1edb94f9-7ef0-4150-b502-e0ebadfd9491",
            stream_type="websocket",
            stream_url="wss://agent.example.com/stream/media",
        ),
    ),
]


@pytest.mark.parametrize(
    ("event_type", "extra", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES]
)
def test_documented_examples(event_type: str, extra: str, expected: object) -> None:
    body = envelope(event_type, extra)
    for raw in (body, body.encode()):
        event = parse_webhook(raw)
        assert event.event_id == EVENT_ID
        assert event.event_type == event_type
        assert event.occurred_at == OCCURRED_AT
        assert event.attempt == 1
        assert event.call == CallRef(
            CALL_CONTROL_ID, CALL_LEG_ID, CALL_SESSION_ID, CONNECTION_ID, CLIENT_STATE
        )
        assert event.data == expected


def test_transcription_example_from_protocols_with_null_client_state() -> None:
    body = (
        '{"data":{"record_type":"event","event_type":"call.transcription",'
        '"id":"9f3a5e3c-5b1a-4f7b-9c55-2b2a1f1f0c11","occurred_at":"2024-05-29T16:26:40.1Z",'
        '"payload":{"call_control_id":"v3:abc","call_leg_id":"leg","call_session_id":"sess",'
        '"client_state":null,"connection_id":"1240401930086254526",'
        '"transcription_data":{"confidence":0.977219,"is_final":true,'
        '"transcript":"hello this is a test speech"}}},'
        '"meta":{"attempt":1,"delivered_to":"https://agent.example.com/webhook/telnyx"}}'
    )
    event = parse_webhook(body)
    assert event.call.client_state is None
    assert event.data == Transcription("hello this is a test speech", True, 0.977219, "")


def test_interim_transcription_without_confidence() -> None:
    event = parse_webhook(
        envelope(
            "call.transcription",
            '"transcription_data":{"is_final":false,"transcript":"hel","confidence":null,'
            '"transcription_track":"outbound"}',
        )
    )
    assert event.data == Transcription("hel", False, None, "outbound")


def test_outgoing_call_initiated() -> None:
    event = parse_webhook(
        envelope(
            "call.initiated",
            '"from":"+18005550100","to":"+18005550199","direction":"outgoing","state":"bridging"',
        )
    )
    assert isinstance(event.data, CallInitiated)
    assert event.data.direction == "outgoing"
    assert event.data.start_time is None


def test_missing_optional_fields_default() -> None:
    event = parse_webhook(envelope("call.hangup", "", common='"call_control_id":"v3:x"'))
    assert event.call == CallRef("v3:x", "", "", "", None)
    assert event.data == CallHangup("unspecified", "unknown", "unspecified")
    assert parse_webhook(envelope("streaming.failed", "")).data == StreamingFailed("", "")


def test_unknown_event_is_not_an_error() -> None:
    event = parse_webhook(
        envelope("call.machine.greeting.ended", '"result":"beep_detected","novel":{"x":[1]}')
    )
    assert isinstance(event.data, UnknownEvent)
    assert event.data.event_type == "call.machine.greeting.ended"
    assert event.data.payload["result"] == "beep_detected"
    assert event.data.payload["novel"] == {"x": [1]}
    assert event.call.call_control_id == CALL_CONTROL_ID


def test_unknown_extra_keys_are_ignored() -> None:
    body = json.loads(envelope("call.speak.ended", '"status":"call_hangup","future":1'))
    body["data"]["something_new"] = True
    body["top_level_addition"] = [1, 2]
    assert parse_webhook(json.dumps(body)).data == SpeakEnded("call_hangup")


def test_meta_attempt_is_reported_and_never_fatal() -> None:
    body = json.loads(envelope("call.speak.started", ""))
    body["meta"]["attempt"] = 3
    assert parse_webhook(json.dumps(body)).attempt == 3
    for bad in ("3", None, -1, True):
        body["meta"]["attempt"] = bad
        assert parse_webhook(json.dumps(body)).attempt == 1
    del body["meta"]
    assert parse_webhook(json.dumps(body)).attempt == 1


def _mutated(path: list[str], value: Any, event_type: str = "call.transcription") -> str:
    extra = '"transcription_data":{"is_final":true,"transcript":"hi"}'
    body = json.loads(envelope(event_type, extra))
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(body)


_DELETE = object()

MALFORMED: list[tuple[str | bytes, str]] = [
    (b"", "invalid JSON"),
    (b"{not json", "invalid JSON"),
    (b"\xff\xfe{}", "invalid JSON"),
    (b"[1, 2]", "expected a JSON object, got array"),
    (b'"data"', "expected a JSON object, got string"),
    (b"{}", "missing 'data' object"),
    (b'{"data":[]}', "data: expected an object, got array"),
    (_mutated(["data", "event_type"], _DELETE), "missing 'event_type' in data"),
    (_mutated(["data", "event_type"], 7), "data.event_type: expected a string, got number"),
    (_mutated(["data", "event_type"], ""), "data.event_type: empty"),
    (_mutated(["data", "id"], _DELETE), "missing 'id' in data"),
    (_mutated(["data", "id"], None), "missing 'id' in data"),
    (_mutated(["data", "id"], ""), "data.id: empty"),
    (_mutated(["data", "occurred_at"], 5), "data.occurred_at: expected a string"),
    (_mutated(["data", "payload"], _DELETE), "missing 'payload' object in data"),
    (_mutated(["data", "payload"], "x"), "data.payload: expected an object, got string"),
    (
        _mutated(["data", "payload", "call_control_id"], 12),
        "call.transcription event: payload.call_control_id: expected a string, got number",
    ),
    (
        _mutated(["data", "payload", "client_state"], {"a": 1}),
        "payload.client_state: expected a string or null, got object",
    ),
    (
        _mutated(["data", "payload", "transcription_data"], _DELETE),
        "call.transcription event: missing 'transcription_data' object in payload",
    ),
    (
        _mutated(["data", "payload", "transcription_data", "transcript"], _DELETE),
        "missing 'transcript' in payload.transcription_data",
    ),
    (
        _mutated(["data", "payload", "transcription_data", "is_final"], "yes"),
        "payload.transcription_data.is_final: expected a boolean, got string 'yes'",
    ),
    (
        _mutated(["data", "payload", "transcription_data", "confidence"], "high"),
        "payload.transcription_data.confidence: expected a number or null",
    ),
    (
        _mutated(["data", "payload", "transcription_data", "confidence"], True),
        "payload.transcription_data.confidence: expected a number or null, got boolean",
    ),
    (
        envelope("call.dtmf.received", '"from":"+1"'),
        "call.dtmf.received event: missing 'digit' in payload",
    ),
    (envelope("call.dtmf.received", '"digit":""'), "payload.digit: empty digit"),
    (
        envelope("call.machine.detection.ended", '"result":1'),
        "payload.result: expected a string, got number",
    ),
    (
        envelope("call.hangup", '"hangup_cause":["x"]'),
        "payload.hangup_cause: expected a string, got array",
    ),
    (
        envelope("streaming.failed", '"stream_params":"wss://x"'),
        "payload.stream_params: expected an object, got string",
    ),
    (
        envelope("call.initiated", '"direction":false'),
        "payload.direction: expected a string, got boolean",
    ),
    (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
]


@pytest.mark.parametrize(("raw", "expected"), MALFORMED)
def test_malformed(raw: str | bytes, expected: str) -> None:
    with pytest.raises(MalformedWebhook) as info:
        parse_webhook(raw)
    assert expected in str(info.value)


def test_oversized_body_is_rejected_before_parsing() -> None:
    padding = "x" * MAX_WEBHOOK_BYTES
    body = envelope("call.speak.ended", f'"status":"completed","pad":"{padding}"')
    with pytest.raises(MalformedWebhook, match="exceeds the 262144-byte limit"):
        parse_webhook(body.encode())
    with pytest.raises(MalformedWebhook, match="exceeds"):
        parse_webhook(body)
    # Non-ASCII text is measured in UTF-8 bytes, not characters.
    wide = "é" * (MAX_WEBHOOK_BYTES // 2 + 1)
    with pytest.raises(MalformedWebhook, match="exceeds"):
        parse_webhook(wide)


def test_body_just_under_the_limit_parses() -> None:
    base = envelope("call.speak.ended", '"status":"completed","pad":""')
    pad = "x" * (MAX_WEBHOOK_BYTES - len(base))
    body = envelope("call.speak.ended", f'"status":"completed","pad":"{pad}"')
    assert len(body) == MAX_WEBHOOK_BYTES
    assert parse_webhook(body.encode()).data == SpeakEnded("completed")


# --- building ------------------------------------------------------------------------------


CALL = CallRef(CALL_CONTROL_ID, CALL_LEG_ID, CALL_SESSION_ID, CONNECTION_ID, CLIENT_STATE)


def test_build_webhook_envelope_shape() -> None:
    raw = build_webhook(
        "call.speak.ended",
        call_payload(CALL, {"status": "completed"}),
        event_id=EVENT_ID,
        occurred_at=OCCURRED_AT,
        attempt=2,
        delivered_to="https://agent.example.com/webhook/telnyx",
    )
    assert isinstance(raw, bytes)
    assert json.loads(raw) == {
        "data": {
            "record_type": "event",
            "event_type": "call.speak.ended",
            "id": EVENT_ID,
            "occurred_at": OCCURRED_AT,
            "payload": {
                "call_control_id": CALL_CONTROL_ID,
                "call_leg_id": CALL_LEG_ID,
                "call_session_id": CALL_SESSION_ID,
                "connection_id": CONNECTION_ID,
                "client_state": CLIENT_STATE,
                "status": "completed",
            },
        },
        "meta": {"attempt": 2, "delivered_to": "https://agent.example.com/webhook/telnyx"},
    }
    event = parse_webhook(raw)
    assert event.attempt == 2
    assert event.call == CALL


def test_build_webhook_defaults() -> None:
    first = json.loads(build_webhook("call.speak.started", call_payload(CALL)))
    second = json.loads(build_webhook("call.speak.started", call_payload(CALL)))
    assert first["data"]["id"] != second["data"]["id"]
    assert first["data"]["occurred_at"].endswith("Z")
    assert first["meta"] == {"attempt": 1, "delivered_to": ""}


@pytest.mark.parametrize(("event_type", "extra", "expected"), EXAMPLES)
def test_documented_examples_survive_a_rebuild(
    event_type: str, extra: str, expected: object
) -> None:
    payload = json.loads(envelope(event_type, extra))["data"]["payload"]
    rebuilt = build_webhook(event_type, payload, event_id=EVENT_ID, occurred_at=OCCURRED_AT)
    assert parse_webhook(rebuilt) == parse_webhook(envelope(event_type, extra))


ids = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(
    event_id=ids,
    call_control_id=st.text(max_size=60),
    transcript=st.text(max_size=200),
    is_final=st.booleans(),
    confidence=st.none() | st.floats(min_value=0, max_value=1),
    track=st.sampled_from(["inbound", "outbound"]),
    client_state=st.none() | st.text(max_size=40),
)
def test_transcription_round_trip(
    event_id: str,
    call_control_id: str,
    transcript: str,
    is_final: bool,
    confidence: float | None,
    track: str,
    client_state: str | None,
) -> None:
    call = CallRef(call_control_id, "leg", "session", "conn", client_state)
    data: dict[str, Any] = {
        "transcript": transcript,
        "is_final": is_final,
        "transcription_track": track,
    }
    if confidence is not None:
        data["confidence"] = confidence
    raw = build_webhook(
        "call.transcription",
        call_payload(call, {"transcription_data": data}),
        event_id=event_id,
    )
    event = parse_webhook(raw)
    assert event.event_id == event_id
    assert event.call == call
    assert event.data == Transcription(transcript, is_final, confidence, track)


@settings(max_examples=50, deadline=None)
@given(event_type=ids, payload=st.dictionaries(st.text(max_size=10), st.integers(), max_size=5))
def test_any_event_type_round_trips(event_type: str, payload: dict[str, int]) -> None:
    common = {"call_control_id", "call_leg_id", "call_session_id", "connection_id", "client_state"}
    payload = {k: v for k, v in payload.items() if k not in common}
    event = parse_webhook(build_webhook(event_type, payload))
    assert event.event_type == event_type


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=300))
def test_parse_never_raises_anything_but_malformed(raw: bytes | str) -> None:
    with contextlib.suppress(MalformedWebhook):
        parse_webhook(raw)


# --- client_state ----------------------------------------------------------------------------


def test_client_state_round_trip() -> None:
    state = {"session_id": "s-42", "attempt": 2, "tags": ["a", "é"]}
    encoded = encode_client_state(state)
    base64.b64decode(encoded, validate=True)  # Telnyx rejects non-base64 (error 90017)
    assert decode_client_state(encoded) == state


def test_client_state_is_compact_json() -> None:
    assert base64.b64decode(encode_client_state({"a": 1, "b": "x"})) == b'{"a":1,"b":"x"}'


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        "not base64 at all!",
        CLIENT_STATE,  # base64 of plain text ("have a nice day =]"): someone else's tag
        base64.b64encode(b"[1,2,3]").decode(),  # JSON, but not an object
        base64.b64encode(b"\xff\xfe\x00").decode(),  # not UTF-8
        base64.b64encode(b"[" * 50_000).decode(),
        "ünïcödé",
        "YWJj",  # "abc"
    ],
)
def test_decode_client_state_never_raises(garbage: str | None) -> None:
    assert decode_client_state(garbage) == {}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_decode_client_state_fuzz(text: str) -> None:
    assert isinstance(decode_client_state(text), dict)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=10), st.none() | st.booleans() | st.integers() | st.text(), max_size=5
    )
)
def test_client_state_round_trip_fuzz(state: dict[str, Any]) -> None:
    assert decode_client_state(encode_client_state(state)) == state
