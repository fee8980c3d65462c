"""The sans-I/O half of the Cartesia voice: URL, request JSON, parsing, error types."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxagent.providers.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderQuotaError,
)
from voxagent.providers.tts.cartesia_protocol import (
    ENCODINGS,
    CartesiaEvent,
    WordTimestamps,
    auth_headers,
    cancel_message,
    error_for,
    generation_request,
    output_format,
    parse_message,
    websocket_url,
)


def test_websocket_url() -> None:
    assert websocket_url("https://api.cartesia.ai") == "wss://api.cartesia.ai/tts/websocket"
    assert websocket_url("http://127.0.0.1:5/") == "ws://127.0.0.1:5/tts/websocket"


def test_auth_headers_use_bearer_and_version() -> None:
    assert auth_headers("sk-1", "2025-04-16") == {
        "Authorization": "Bearer sk-1",
        "Cartesia-Version": "2025-04-16",
    }


def test_output_format_and_raw_encodings() -> None:
    assert output_format("pcm_mulaw", 8000) == {
        "container": "raw",
        "encoding": "pcm_mulaw",
        "sample_rate": 8000,
    }
    assert ENCODINGS == {"pcm_s16le": "pcm_s16le", "pcm_mulaw": "ulaw", "pcm_alaw": "alaw"}


@pytest.mark.parametrize(("encoding", "rate"), [("pcm_f32le", 8000), ("mp3", 8000),
                                                ("pcm_s16le", 11025)])  # fmt: skip
def test_output_format_rejects_what_we_cannot_use(encoding: str, rate: int) -> None:
    with pytest.raises(ValueError):
        output_format(encoding, rate)


def test_generation_request_continuing_a_context() -> None:
    request = generation_request(
        model_id="sonic-2",
        voice_id="a0e99841",
        transcript="Hello there. ",
        context_id="turn-17",
        encoding="pcm_mulaw",
        sample_rate=8000,
        more=True,
        language="en",
    )
    assert request == {
        "model_id": "sonic-2",
        "transcript": "Hello there. ",
        "voice": {"mode": "id", "id": "a0e99841"},
        "output_format": {"container": "raw", "encoding": "pcm_mulaw", "sample_rate": 8000},
        "context_id": "turn-17",
        "continue": True,
        "language": "en",
    }
    assert json.loads(json.dumps(request)) == request


def test_generation_request_ending_a_context_with_timestamps() -> None:
    request = generation_request(
        model_id="sonic-2",
        voice_id="v",
        transcript="",
        context_id="c",
        encoding="pcm_s16le",
        sample_rate=16000,
        more=False,
        add_timestamps=True,
    )
    assert request["continue"] is False and request["transcript"] == ""
    assert request["add_timestamps"] is True
    assert "language" not in request


def test_cancel_message() -> None:
    assert cancel_message("turn-17") == {"context_id": "turn-17", "cancel": True}


def test_parse_chunk() -> None:
    event = parse_message(
        json.dumps(
            {
                "type": "chunk",
                "context_id": "turn-17",
                "data": base64.b64encode(b"\x01\x02").decode(),
                "done": False,
                "status_code": 206,
                "step_time": 12.3,
                "flush_id": 1,
            }
        )
    )
    assert event == CartesiaEvent("chunk", "turn-17", audio=b"\x01\x02", status_code=206)


def test_parse_done_and_flush_done() -> None:
    done = parse_message('{"type":"done","context_id":"c","done":true,"status_code":200}')
    assert done == CartesiaEvent("done", "c", done=True, status_code=200)
    flush = parse_message(
        '{"type":"flush_done","context_id":"c","done":false,"flush_done":true,"flush_id":1,'
        '"status_code":206}'
    )
    assert flush == CartesiaEvent("flush_done", "c", status_code=206)


def test_parse_timestamps() -> None:
    event = parse_message(
        json.dumps(
            {
                "type": "timestamps",
                "context_id": "c",
                "done": False,
                "status_code": 206,
                "word_timestamps": {"words": ["Hello", "there"], "start": [0, 0.4],
                                    "end": [0.4, 0.9]},
            }
        )
    )  # fmt: skip
    assert event.word_timestamps == WordTimestamps(("Hello", "there"), (0.0, 0.4), (0.4, 0.9))
    broken = parse_message(
        '{"type":"timestamps","context_id":"c","word_timestamps":{"words":["a"],"start":[]}}'
    )
    assert broken.type == "timestamps" and broken.word_timestamps is None


def test_parse_error_in_the_sdk_shape() -> None:
    event = parse_message(
        '{"type":"error","context_id":"c","done":true,"status_code":400,"error":"bad voice"}'
    )
    assert event == CartesiaEvent(
        "error", "c", done=True, status_code=400, error="bad voice", error_code=None
    )


def test_parse_error_in_the_newer_shape() -> None:
    event = parse_message(
        json.dumps(
            {
                "type": "error",
                "context_id": "c",
                "done": True,
                "status_code": 429,
                "title": "Too Many Requests",
                "message": "slow down",
                "error_code": "rate_limited",
                "request_id": "r1",
            }
        )
    )
    assert event.error == "Too Many Requests: slow down"
    assert event.error_code == "rate_limited" and event.status_code == 429 and event.done


def test_an_error_ends_the_context_unless_it_says_otherwise() -> None:
    assert parse_message('{"type":"error","error":"x","status_code":500}').done is True
    assert parse_message('{"type":"error","error":"x","done":false}').done is False


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("{", "unreadable message from Cartesia"),
        ('"chunk"', "unexpected message from Cartesia"),
        ('{"type":"chunk","context_id":"c","data":"@@"}', "audio chunk is not valid base64"),
    ],
)
def test_parse_garbage_is_an_error_event(raw: str, error: str) -> None:
    event = parse_message(raw)
    assert event.type == "error" and event.error == error and event.done


def test_parse_without_context_id() -> None:
    event = parse_message('{"type":"error","status_code":401,"error":"Invalid API key"}')
    assert event.context_id is None
    assert parse_message('{"type":"chunk","context_id":"","data":""}').context_id is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (402, ProviderQuotaError),
        (429, ProviderQuotaError),
        (500, ProviderConnectionError),
        (None, ProviderConnectionError),
    ],
)
def test_error_for_status(status: int | None, kind: type[ProviderError]) -> None:
    error = error_for("cartesia", CartesiaEvent("error", "c", status_code=status, error="boom"))
    assert type(error) is kind and error.provider == "cartesia"


def test_error_for_a_bad_request_is_a_plain_provider_error() -> None:
    event = CartesiaEvent("error", "c", status_code=400, error="voice not found")
    assert type(error_for("cartesia", event)) is ProviderError


@given(st.binary(max_size=2000), st.text(min_size=1, max_size=40))
def test_chunk_audio_round_trips(audio: bytes, context_id: str) -> None:
    raw = json.dumps(
        {"type": "chunk", "context_id": context_id, "data": base64.b64encode(audio).decode()}
    )
    event = parse_message(raw)
    assert event.audio == audio and event.context_id == context_id and event.error is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60)
@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "context_id", "data", "done", "status_code", "error", "title", "message",
             "error_code", "word_timestamps"]
        ),
        json_values,
    ),
    st.sampled_from(["chunk", "done", "error", "timestamps", "flush_done", "new"]),
)  # fmt: skip
def test_parse_never_raises(data: dict[str, object], kind: str) -> None:
    data.setdefault("type", kind)
    assert isinstance(parse_message(json.dumps(data)), CartesiaEvent)


@given(st.one_of(st.text(), st.binary()))
def test_parse_never_raises_on_arbitrary_frames(raw: str | bytes) -> None:
    assert isinstance(parse_message(raw), CartesiaEvent)
