"""Telnyx media-stream frames: documented examples, every malformed case, and fuzzing.

The example frames are the shapes from PROTOCOLS.md §3.2/§3.3 with placeholders filled in.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxagent.channels.telnyx.media_protocol import (
    MAX_MEDIA_PAYLOAD_BYTES,
    MAX_MESSAGE_BYTES,
    Connected,
    Dtmf,
    MalformedMessage,
    Mark,
    Media,
    MessageTooLarge,
    OutboundClear,
    OutboundMark,
    OutboundMedia,
    Start,
    Stop,
    StreamError,
    clear_message,
    connected_message,
    dtmf_message,
    error_message,
    inbound_media_message,
    mark_echo_message,
    mark_message,
    media_message,
    parse_message,
    parse_outbound,
    start_message,
    stop_message,
)

STREAM_ID = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
USER_ID = "3E6F995F-85F7-4705-9741-53B116D28237"
CALL_CONTROL_ID = "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
CALL_SESSION_ID = "ff55a038-6f7d-11ef-9692-02420aef0d1f"
SILENCE_20MS = b"\xff" * 160
SILENCE_B64 = base64.b64encode(SILENCE_20MS).decode()

CONNECTED = '{"event":"connected","version":"1.0.0"}'
START = (
    '{"event":"start","sequence_number":"1","stream_id":"' + STREAM_ID + '",'
    ' "start":{"user_id":"' + USER_ID + '","call_control_id":"' + CALL_CONTROL_ID + '",'
    '"call_session_id":"' + CALL_SESSION_ID + '",'
    '"from":"+13122010094","to":"+13122123456","tags":["TAG1"],'
    '"client_state":"aGF2ZSBhIG5pY2UgZGF5ID1d",'
    '"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}'
)
MEDIA = (
    '{"event":"media","sequence_number":"4","stream_id":"' + STREAM_ID + '",'
    ' "media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"' + SILENCE_B64 + '"}}'
)
STOP = (
    '{"event":"stop","sequence_number":"5","stream_id":"' + STREAM_ID + '",'
    ' "stop":{"user_id":"' + USER_ID + '","call_control_id":"' + CALL_CONTROL_ID + '"}}'
)
DTMF = (
    '{"event":"dtmf","stream_id":"' + STREAM_ID + '","occurred_at":"2025-06-05T08:54:19.698408Z",'
    '"sequence_number":"5","dtmf":{"digit":"1"}}'
)
MARK = (
    '{"event":"mark","stream_id":"' + STREAM_ID + '","sequence_number":"5",'
    '"mark":{"name":"some_mark_name"}}'
)
ERROR = (
    '{"event":"error","stream_id":"' + STREAM_ID + '","payload":{"code":100003,'
    '"title":"malformed_frame","detail":"Received frame was not formed correctly"}}'
)

OUT_MEDIA = '{"event":"media","media":{"payload":"' + SILENCE_B64 + '"}}'
OUT_MARK = '{"event":"mark","mark":{"name":"tts-utt-17"}}'
OUT_CLEAR = '{"event":"clear"}'


# --- documented examples ----------------------------------------------------------------


def test_parse_connected() -> None:
    assert parse_message(CONNECTED) == Connected(version="1.0.0")


def test_parse_connected_with_auth_token() -> None:
    raw = '{"event":"connected","version":"1.0.0","x-telnyx-streaming-auth-token":"s3cret"}'
    assert parse_message(raw) == Connected(version="1.0.0", auth_token="s3cret")


def test_parse_start() -> None:
    assert parse_message(START) == Start(
        stream_id=STREAM_ID,
        call_control_id=CALL_CONTROL_ID,
        call_session_id=CALL_SESSION_ID,
        from_number="+13122010094",
        to_number="+13122123456",
        client_state="aGF2ZSBhIG5pY2UgZGF5ID1d",
        encoding="PCMU",
        sample_rate=8000,
        channels=1,
        custom_parameters={},
    )


def test_parse_media() -> None:
    assert parse_message(MEDIA) == Media(
        stream_id=STREAM_ID,
        track="inbound",
        chunk=2,
        timestamp=5,
        sequence_number=4,
        payload=SILENCE_20MS,
    )


def test_parse_media_from_bytes() -> None:
    event = parse_message(MEDIA.encode())
    assert isinstance(event, Media)
    assert event.payload == SILENCE_20MS


def test_parse_stop_dtmf_mark_error() -> None:
    assert parse_message(STOP) == Stop(call_control_id=CALL_CONTROL_ID)
    assert parse_message(DTMF) == Dtmf(digit="1")
    assert parse_message(MARK) == Mark(name="some_mark_name")
    assert parse_message(ERROR) == StreamError(
        code=100003, title="malformed_frame", detail="Received frame was not formed correctly"
    )


def test_parse_outbound_examples() -> None:
    assert parse_outbound(OUT_MEDIA) == OutboundMedia(payload=SILENCE_20MS)
    assert parse_outbound(OUT_MARK) == OutboundMark(name="tts-utt-17")
    assert parse_outbound(OUT_CLEAR) == OutboundClear()
    assert parse_outbound('{"event":"clear","stream_id":"' + STREAM_ID + '"}') == OutboundClear()


# --- defaults and leniency -------------------------------------------------------------------


def test_start_defaults_when_optional_fields_are_missing() -> None:
    raw = json.dumps(
        {
            "event": "start",
            "stream_id": "s",
            "start": {"call_control_id": "c", "client_state": None},
        }
    )
    event = parse_message(raw)
    assert isinstance(event, Start)
    assert (event.encoding, event.sample_rate, event.channels) == ("PCMU", 8000, 1)
    assert (event.call_session_id, event.from_number, event.to_number) == ("", "", "")
    assert event.client_state is None
    assert event.custom_parameters == {}


def test_start_accepts_string_numbers_and_custom_parameter_shapes() -> None:
    start: dict[str, Any] = {
        "call_control_id": "c",
        "media_format": {"encoding": "PCMA", "sample_rate": "16000", "channels": "1"},
        "custom_parameters": {"campaign": "spring", "attempt": 2},
    }
    event = parse_message(json.dumps({"event": "start", "stream_id": "s", "start": start}))
    assert isinstance(event, Start)
    assert (event.encoding, event.sample_rate) == ("PCMA", 16000)
    assert event.custom_parameters == {"campaign": "spring", "attempt": "2"}

    start["custom_parameters"] = [{"name": "campaign", "value": "spring"}]
    event = parse_message(json.dumps({"event": "start", "stream_id": "s", "start": start}))
    assert isinstance(event, Start)
    assert event.custom_parameters == {"campaign": "spring"}


def test_media_defaults_and_integer_numbers() -> None:
    raw = json.dumps({"event": "media", "media": {"payload": SILENCE_B64}})
    assert parse_message(raw) == Media("", "inbound", 0, 0, 0, SILENCE_20MS)
    raw = json.dumps(
        {
            "event": "media",
            "sequence_number": 7,
            "stream_id": "s",
            "media": {"track": "outbound", "chunk": 3, "timestamp": 60, "payload": SILENCE_B64},
        }
    )
    assert parse_message(raw) == Media("s", "outbound", 3, 60, 7, SILENCE_20MS)


def test_unknown_extra_keys_are_ignored() -> None:
    raw = json.loads(MEDIA)
    raw["brand_new_field"] = {"x": [1, 2]}
    raw["media"]["extra"] = None
    assert isinstance(parse_message(json.dumps(raw)), Media)


def test_stop_without_body_and_lowercase_dtmf() -> None:
    assert parse_message('{"event":"stop"}') == Stop(call_control_id="")
    assert parse_message('{"event":"dtmf","dtmf":{"digit":"b"}}') == Dtmf(digit="B")


def test_media_payload_at_the_size_limit_is_accepted() -> None:
    payload = b"\x01" * MAX_MEDIA_PAYLOAD_BYTES
    raw = inbound_media_message("s", payload, chunk=1, timestamp=0, sequence_number=1)
    event = parse_message(raw)
    assert isinstance(event, Media)
    assert event.payload == payload


# --- malformed input -------------------------------------------------------------------


def media_with(**media: Any) -> str:
    body = {"track": "inbound", "chunk": "2", "timestamp": "5", "payload": SILENCE_B64}
    body.update(media)
    return json.dumps({"event": "media", "sequence_number": "4", "stream_id": "s", "media": body})


def start_with(**fields: Any) -> str:
    body: dict[str, Any] = {"call_control_id": "c", "media_format": {"encoding": "PCMU"}}
    body.update(fields)
    return json.dumps({"event": "start", "stream_id": "s", "start": body})


MALFORMED: list[tuple[str | bytes, str]] = [
    ("", "invalid JSON"),
    ("not json", "invalid JSON: Expecting value"),
    ('{"event":"media"', "invalid JSON: Expecting ',' delimiter"),
    (b"\xff\xfe\x00{", "invalid JSON"),
    ("[" * 50_000, "invalid JSON"),  # nesting deep enough to hit the recursion limit
    ("[1, 2]", "expected a JSON object, got array"),
    ('"media"', "expected a JSON object, got string 'media'"),
    ("null", "expected a JSON object, got null"),
    ("{}", "missing 'event'"),
    ('{"event": 5}', "'event' must be a string, got number"),
    ('{"event": "bogus"}', "unknown event 'bogus'"),
    ('{"event": "Media"}', "unknown event 'Media'"),
    ('{"event": "media"}', "media event: missing 'media' object"),
    ('{"event": "media", "media": []}', "media event: media: expected an object, got array"),
    (media_with(payload=None), "media event: missing 'payload' in media"),
    (media_with(payload=""), "media event: media.payload: empty audio payload"),
    (media_with(payload=160), "media.payload: expected a base64 string, got number"),
    (media_with(payload="!!!notbase64!!!"), "media.payload: invalid base64 (Only base64 data"),
    (media_with(payload="/w="), "media.payload: invalid base64 (Incorrect padding)"),
    (media_with(payload="é" * 8), "media.payload: invalid base64"),
    (
        media_with(payload=base64.b64encode(b"x" * 16_001).decode()),
        "media.payload: 16001 bytes of audio, limit is 16000",
    ),
    (
        media_with(payload="A" * 30_000),
        "media.payload: about 22500 bytes of audio, limit is 16000",
    ),
    (media_with(chunk="two"), "media.chunk: expected a non-negative integer, got string 'two'"),
    (media_with(chunk=-1), "media.chunk: expected a non-negative integer, got number"),
    (media_with(chunk="-1"), "media.chunk: expected a non-negative integer, got string '-1'"),
    (media_with(chunk=1.5), "media.chunk: expected a non-negative integer, got number"),
    (media_with(chunk=True), "media.chunk: expected a non-negative integer, got boolean"),
    (media_with(chunk="٣"), "media.chunk: expected a non-negative integer"),  # non-ASCII digit
    (media_with(timestamp="1" * 30), "media.timestamp: expected a non-negative integer"),
    (media_with(track=1), "media event: media.track: expected a string, got number"),
    (
        json.dumps({"event": "media", "sequence_number": "x", "media": {"payload": SILENCE_B64}}),
        "media event: sequence_number: expected a non-negative integer, got string 'x'",
    ),
    (
        json.dumps({"event": "media", "stream_id": 7, "media": {"payload": SILENCE_B64}}),
        "media event: stream_id: expected a string, got number",
    ),
    ('{"event": "start", "stream_id": "s"}', "start event: missing 'start' object"),
    ('{"event": "start", "start": {"call_control_id": "c"}}', "start event: missing 'stream_id'"),
    (
        '{"event": "start", "stream_id": "s", "start": {}}',
        "start event: missing 'call_control_id' in start",
    ),
    (start_with(media_format="PCMU"), "start.media_format: expected an object, got string"),
    (
        start_with(media_format={"sample_rate": "8k"}),
        "start.media_format.sample_rate: expected a non-negative integer, got string '8k'",
    ),
    (
        start_with(media_format={"sample_rate": 0}),
        "start.media_format.sample_rate: must be positive",
    ),
    (start_with(media_format={"channels": 0}), "start.media_format.channels: must be positive"),
    (start_with(media_format={"encoding": 711}), "start.media_format.encoding: expected a string"),
    (start_with(client_state=123), "start.client_state: expected a string or null, got number"),
    (start_with(to=["+1"]), "start.to: expected a string, got array"),
    (start_with(custom_parameters="a=b"), "start.custom_parameters: expected an object or a list"),
    (start_with(custom_parameters=[{"value": "x"}]), "start.custom_parameters: bad name null"),
    (
        start_with(custom_parameters={"a": {"b": 1}}),
        "start.custom_parameters['a']: expected a scalar, got object",
    ),
    ('{"event": "dtmf"}', "dtmf event: missing 'dtmf' object"),
    ('{"event": "dtmf", "dtmf": {}}', "dtmf event: missing 'digit' in dtmf"),
    ('{"event": "dtmf", "dtmf": {"digit": "X"}}', "dtmf.digit: expected one of 0-9 * # A-D"),
    ('{"event": "dtmf", "dtmf": {"digit": "12"}}', "dtmf.digit: expected one of 0-9 * # A-D"),
    ('{"event": "mark", "mark": {}}', "mark event: missing 'name' in mark"),
    ('{"event": "mark", "mark": {"name": ""}}', "mark event: mark.name: empty mark name"),
    ('{"event": "mark", "mark": {"name": 3}}', "mark.name: expected a string, got number"),
    ('{"event": "stop", "stop": []}', "stop event: stop: expected an object, got array"),
    ('{"event": "error"}', "error event: missing 'payload' object"),
    ('{"event": "error", "payload": {"title": "x"}}', "error event: missing 'code' in payload"),
    ('{"event": "error", "payload": {"code": "E1"}}', "payload.code: expected a non-negative"),
    ('{"event": "connected", "version": 1}', "connected event: version: expected a string"),
]


@pytest.mark.parametrize(("raw", "reason"), MALFORMED)
def test_malformed_messages_are_rejected_with_a_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage) as info:
        parse_message(raw)
    assert reason in str(info.value)
    assert isinstance(info.value, ValueError)
    assert len(str(info.value)) < 200, "reasons must stay short (never echo payloads)"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("nope", "invalid JSON"),
        ("{}", "missing 'event'"),
        ('{"event": "start"}', "unknown outbound event 'start'"),
        ('{"event": "media"}', "outbound media event: missing 'media' object"),
        ('{"event": "media", "media": {"payload": ""}}', "empty audio payload"),
        ('{"event": "media", "media": {"payload": "%%%"}}', "invalid base64"),
        ('{"event": "mark", "mark": {"name": ""}}', "empty mark name"),
        ('{"event": "mark"}', "outbound mark event: missing 'mark' object"),
        ('{"event": "clear", "stream_id": 5}', "stream_id: expected a string or null, got number"),
    ],
)
def test_malformed_outbound_messages(raw: str, reason: str) -> None:
    with pytest.raises(MalformedMessage) as info:
        parse_outbound(raw)
    assert reason in str(info.value)


def test_outbound_accepts_long_chunks() -> None:
    audio = b"\xff" * (8000 * 10)  # 10 s of μ-law: far over the inbound cap, fine outbound
    assert parse_outbound(media_message(audio)) == OutboundMedia(payload=audio)


# --- size limits -------------------------------------------------------------------------------


def test_oversized_message_is_rejected_before_parsing() -> None:
    raw = '{"event":"media","pad":"' + "x" * MAX_MESSAGE_BYTES + '"}'
    with pytest.raises(MessageTooLarge) as info:
        parse_message(raw)
    assert isinstance(info.value, MalformedMessage)
    assert info.value.limit == MAX_MESSAGE_BYTES
    assert info.value.size == len(raw)
    assert "exceeds the 65536-byte limit" in str(info.value)


def test_size_limit_counts_utf8_bytes_not_characters() -> None:
    raw = '{"event":"mark","mark":{"name":"' + "é" * 40_000 + '"}}'  # 40k chars, 80k bytes
    assert len(raw) < MAX_MESSAGE_BYTES
    with pytest.raises(MessageTooLarge):
        parse_message(raw)
    with pytest.raises(MessageTooLarge):
        parse_message(raw.encode())
    assert parse_message(raw, max_size=100_000) == Mark(name="é" * 40_000)


def test_custom_max_size() -> None:
    with pytest.raises(MessageTooLarge):
        parse_message(MEDIA, max_size=100)
    with pytest.raises(MessageTooLarge):
        parse_outbound(OUT_MEDIA, max_size=100)


# --- builders produce the documented shapes -------------------------------------------------


def test_app_side_builders_match_documented_shapes() -> None:
    assert json.loads(media_message(SILENCE_20MS)) == json.loads(OUT_MEDIA)
    assert json.loads(mark_message("tts-utt-17")) == json.loads(OUT_MARK)
    assert json.loads(clear_message()) == json.loads(OUT_CLEAR)
    assert json.loads(clear_message("s")) == {"event": "clear", "stream_id": "s"}
    assert json.loads(mark_message("m", "s")) == {
        "event": "mark",
        "stream_id": "s",
        "mark": {"name": "m"},
    }
    with_id = json.loads(media_message(b"\x00", stream_id='quote"d'))
    assert with_id == {"event": "media", "stream_id": 'quote"d', "media": {"payload": "AA=="}}


def test_app_side_builders_refuse_empty_values() -> None:
    with pytest.raises(ValueError, match="empty"):
        media_message(b"")
    with pytest.raises(ValueError, match="empty"):
        mark_message("")


def test_telnyx_side_builders_match_documented_shapes() -> None:
    assert json.loads(connected_message()) == json.loads(CONNECTED)
    built_start = start_message(
        STREAM_ID,
        CALL_CONTROL_ID,
        call_session_id=CALL_SESSION_ID,
        from_number="+13122010094",
        to_number="+13122123456",
        client_state="aGF2ZSBhIG5pY2UgZGF5ID1d",
        user_id=USER_ID,
        tags=["TAG1"],
    )
    assert json.loads(built_start) == json.loads(START)
    built_media = inbound_media_message(
        STREAM_ID, SILENCE_20MS, chunk=2, timestamp=5, sequence_number=4
    )
    assert json.loads(built_media) == json.loads(MEDIA)
    built_stop = stop_message(STREAM_ID, CALL_CONTROL_ID, sequence_number=5, user_id=USER_ID)
    assert json.loads(built_stop) == json.loads(STOP)
    built_dtmf = dtmf_message(
        STREAM_ID, "1", sequence_number=5, occurred_at="2025-06-05T08:54:19.698408Z"
    )
    assert json.loads(built_dtmf) == json.loads(DTMF)
    assert json.loads(mark_echo_message(STREAM_ID, "some_mark_name", sequence_number=5)) == (
        json.loads(MARK)
    )
    built_error = error_message(
        STREAM_ID, 100003, "malformed_frame", "Received frame was not formed correctly"
    )
    assert json.loads(built_error) == json.loads(ERROR)


def test_telnyx_side_builder_defaults() -> None:
    start = json.loads(start_message("s", "c", call_session_id="x", from_number="a", to_number="b"))
    assert start["sequence_number"] == "1"
    assert start["start"]["client_state"] is None
    assert start["start"]["media_format"] == {
        "encoding": "PCMU",
        "sample_rate": 8000,
        "channels": 1,
    }
    assert "user_id" not in start["start"]
    dtmf = json.loads(dtmf_message("s", "#", sequence_number=9))
    assert dtmf["occurred_at"].endswith("Z")
    assert parse_message(json.dumps(dtmf)) == Dtmf(digit="#")
    connected = connected_message(auth_token="tok")
    assert parse_message(connected) == Connected(version="1.0.0", auth_token="tok")


# --- properties ----------------------------------------------------------------------------------

ids = st.text(max_size=48)
counters = st.integers(min_value=0, max_value=2**63)


@given(
    stream_id=ids,
    payload=st.binary(min_size=1, max_size=1024),
    chunk=counters,
    timestamp=counters,
    sequence_number=counters,
    track=st.sampled_from(["inbound", "outbound"]),
)
def test_inbound_media_round_trips(
    stream_id: str, payload: bytes, chunk: int, timestamp: int, sequence_number: int, track: str
) -> None:
    raw = inbound_media_message(
        stream_id,
        payload,
        chunk=chunk,
        timestamp=timestamp,
        sequence_number=sequence_number,
        track=track,
    )
    assert parse_message(raw) == Media(stream_id, track, chunk, timestamp, sequence_number, payload)


@given(
    stream_id=ids,
    call_control_id=ids,
    text=ids,
    client_state=st.none() | ids,
    encoding=st.sampled_from(["PCMU", "PCMA", "L16", "G722"]),
    sample_rate=st.sampled_from([8000, 16000, 22050, 24000, 48000]),
    params=st.dictionaries(ids, ids, max_size=3),
)
def test_start_round_trips(
    stream_id: str,
    call_control_id: str,
    text: str,
    client_state: str | None,
    encoding: str,
    sample_rate: int,
    params: dict[str, str],
) -> None:
    raw = start_message(
        stream_id,
        call_control_id,
        call_session_id=text,
        from_number=text,
        to_number=text[::-1],
        encoding=encoding,
        sample_rate=sample_rate,
        client_state=client_state,
        custom_parameters=params,
    )
    assert parse_message(raw) == Start(
        stream_id,
        call_control_id,
        text,
        text,
        text[::-1],
        client_state,
        encoding,
        sample_rate,
        1,
        params,
    )


@given(payload=st.binary(min_size=1, max_size=4096), stream_id=st.none() | ids)
def test_outbound_media_round_trips(payload: bytes, stream_id: str | None) -> None:
    assert parse_outbound(media_message(payload, stream_id)) == OutboundMedia(payload)


@given(name=st.text(min_size=1, max_size=64), stream_id=st.none() | ids, seq=counters)
def test_marks_round_trip_both_ways(name: str, stream_id: str | None, seq: int) -> None:
    assert parse_outbound(mark_message(name, stream_id)) == OutboundMark(name)
    assert parse_message(mark_echo_message(stream_id or "", name, sequence_number=seq)) == Mark(
        name
    )


@given(st.text() | st.binary())
def test_arbitrary_input_only_ever_raises_malformed(raw: str | bytes) -> None:
    for parse in (parse_message, parse_outbound):
        with contextlib.suppress(MalformedMessage):
            parse(raw)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "-1", "8000", "PCMU", "AA==", SILENCE_B64, "!!", "1" * 25])
)
# Shallow containers are enough: the parsers never look more than two levels down.
json_values = (
    json_scalars
    | st.lists(json_scalars, max_size=3)
    | st.dictionaries(st.text(max_size=8), json_scalars, max_size=3)
)
EVENTS = ["connected", "start", "media", "dtmf", "mark", "stop", "error", "clear", "other"]
FIELDS = [
    "payload", "track", "chunk", "timestamp", "digit", "name", "code", "title", "detail",
    "call_control_id", "call_session_id", "from", "to", "client_state", "media_format",
    "encoding", "sample_rate", "channels", "custom_parameters",
]  # fmt: skip
BODY_KEY = {"start": "start", "media": "media", "dtmf": "dtmf", "mark": "mark", "stop": "stop"}
TOP_FIELDS = ["stream_id", "sequence_number", "version", "x-telnyx-streaming-auth-token"]


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """Messages with a real event name and plausible keys holding random JSON values."""
    event = draw(st.sampled_from(EVENTS))
    msg: dict[str, Any] = {"event": event}
    msg.update(draw(st.dictionaries(st.sampled_from(TOP_FIELDS), json_values, max_size=2)))
    body = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5) | json_values
    msg[BODY_KEY.get(event, "payload")] = draw(body)
    return msg


@settings(max_examples=150)
@given(near_valid())
def test_structured_fuzz_only_ever_raises_malformed(msg: dict[str, Any]) -> None:
    raw = json.dumps(msg)
    for parse in (parse_message, parse_outbound):
        with contextlib.suppress(MalformedMessage):
            parse(raw)
