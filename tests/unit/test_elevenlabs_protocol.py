"""The sans-I/O half of the ElevenLabs voice: URLs, message shapes, parsing, error types."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxagent.providers.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderQuotaError,
)
from voxagent.providers.tts.cloud_protocol import (
    classify_error,
    close_error,
    websocket_base,
)
from voxagent.providers.tts.elevenlabs_protocol import (
    DEFAULT_VOICE_SETTINGS,
    END_OF_INPUT,
    KEEP_ALIVE,
    Alignment,
    ElevenLabsEvent,
    OutputFormat,
    initial_message,
    parse_audio_format,
    parse_message,
    stream_input_url,
    text_message,
)

# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://api.elevenlabs.io", "wss://api.elevenlabs.io"),
        ("https://api.elevenlabs.io/", "wss://api.elevenlabs.io"),
        ("http://127.0.0.1:8123", "ws://127.0.0.1:8123"),
        ("wss://eu.example.com/proxy/", "wss://eu.example.com/proxy"),
        ("ws://localhost:9", "ws://localhost:9"),
    ],
)
def test_websocket_base_maps_http_schemes_to_ws(base: str, expected: str) -> None:
    assert websocket_base(base) == expected


@pytest.mark.parametrize("base", ["ftp://example.com", "api.elevenlabs.io", "https://"])
def test_websocket_base_rejects_what_cannot_be_a_websocket(base: str) -> None:
    with pytest.raises(ValueError):
        websocket_base(base)


def test_stream_input_url_for_the_real_service() -> None:
    url = stream_input_url(
        "https://api.elevenlabs.io",
        "21m00Tcm4TlvDq8ikWAM",
        model_id="eleven_flash_v2_5",
        output_format="ulaw_8000",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("wss", "api.elevenlabs.io")
    assert parts.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input"
    assert parse_qs(parts.query) == {
        "model_id": ["eleven_flash_v2_5"],
        "output_format": ["ulaw_8000"],
    }


def test_stream_input_url_carries_inactivity_timeout_and_quotes_the_voice() -> None:
    url = stream_input_url(
        "http://127.0.0.1:1/",
        "voice/with space",
        model_id="m",
        output_format="pcm_16000",
        inactivity_timeout=60,
    )
    parts = urlsplit(url)
    assert parts.path == "/v1/text-to-speech/voice%2Fwith%20space/stream-input"
    assert parse_qs(parts.query)["inactivity_timeout"] == ["60"]


@pytest.mark.parametrize("timeout", [0, 181])
def test_stream_input_url_rejects_out_of_range_inactivity_timeout(timeout: int) -> None:
    with pytest.raises(ValueError):
        stream_input_url("https://x.io", "v", model_id="m", output_format="ulaw_8000",
                         inactivity_timeout=timeout)  # fmt: skip


# --- messages we send ----------------------------------------------------------------------


def test_initial_message_is_a_space_with_settings_and_key() -> None:
    message = initial_message("sk-123", {"stability": 0.3}, [50, 120])
    assert message == {
        "text": " ",
        "voice_settings": {"stability": 0.3},
        "generation_config": {"chunk_length_schedule": [50, 120]},
        "xi_api_key": "sk-123",
    }
    json.dumps(message)  # must be serialisable as is


def test_initial_message_defaults() -> None:
    message = initial_message()
    assert message == {"text": " ", "voice_settings": dict(DEFAULT_VOICE_SETTINGS)}


def test_initial_message_rejects_a_bad_chunk_schedule() -> None:
    with pytest.raises(ValueError):
        initial_message(chunk_length_schedule=[10])


def test_text_message_ends_with_a_space_and_carries_the_trigger_flags() -> None:
    assert text_message("Hello there.") == {"text": "Hello there. "}
    assert text_message("Hi. ", flush=True) == {"text": "Hi. ", "flush": True}
    assert text_message("Hi.", try_trigger=True) == {
        "text": "Hi. ",
        "try_trigger_generation": True,
    }


@pytest.mark.parametrize("text", ["", " ", "\n"])
def test_text_message_refuses_text_that_would_end_or_ping_the_stream(text: str) -> None:
    with pytest.raises(ValueError):
        text_message(text)


def test_end_of_input_and_keep_alive_shapes() -> None:
    assert dict(END_OF_INPUT) == {"text": ""}
    assert dict(KEEP_ALIVE) == {"text": " "}


# --- audio formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("ulaw_8000", OutputFormat("ulaw_8000", "ulaw", 8000)),
        ("alaw_8000", OutputFormat("alaw_8000", "alaw", 8000)),
        ("pcm_16000", OutputFormat("pcm_16000", "pcm_s16le", 16000)),
        ("pcm_44100", OutputFormat("pcm_44100", "pcm_s16le", 44100)),
    ],
)
def test_parse_audio_format(name: str, fmt: OutputFormat) -> None:
    assert parse_audio_format(name) == fmt


@pytest.mark.parametrize(
    "name", ["mp3_44100_128", "opus_48000_64", "ulaw_16000", "pcm_12345", "pcm", ""]
)
def test_parse_audio_format_rejects_containers_and_unknown_rates(name: str) -> None:
    with pytest.raises(ValueError):
        parse_audio_format(name)


# --- messages we receive -------------------------------------------------------------------


def test_parse_audio_message_with_alignment() -> None:
    alignment = {"chars": ["H", "i"], "charStartTimesMs": [0, 30], "charDurationsMs": [30, 40]}
    event = parse_message(
        json.dumps(
            {
                "audio": base64.b64encode(b"\xff\x7f\x00").decode(),
                "isFinal": None,
                "normalizedAlignment": alignment,
                "alignment": alignment,
            }
        )
    )
    expected_alignment = Alignment(("H", "i"), (0.0, 30.0), (30.0, 40.0))
    assert event == ElevenLabsEvent(
        audio=b"\xff\x7f\x00",
        alignment=expected_alignment,
        normalized_alignment=expected_alignment,
    )


def test_parse_audio_message_drops_a_malformed_alignment_but_keeps_the_audio() -> None:
    raw = json.dumps(
        {"audio": "AAE=", "alignment": {"chars": ["a"], "charStartTimesMs": [], "x": 1}}
    )
    event = parse_message(raw)
    assert event.audio == b"\x00\x01" and event.alignment is None and event.error is None


@pytest.mark.parametrize(
    "raw", ['{"isFinal": true}', '{"isFinal": true, "audio": null}', b'{"isFinal":true}']
)
def test_parse_final_message(raw: str | bytes) -> None:
    assert parse_message(raw) == ElevenLabsEvent(final=True)


def test_parse_audio_with_is_final_false_or_absent_is_not_final() -> None:
    assert parse_message('{"audio": "AA==", "isFinal": false}').final is False
    assert parse_message('{"audio": "AA=="}').final is False


def test_parse_in_stream_error() -> None:
    event = parse_message(
        json.dumps({"message": "Invalid API key", "error": "invalid_api_key", "code": 1008})
    )
    assert event.error == "Invalid API key" and event.error_code == "invalid_api_key"
    assert event.audio == b"" and not event.final


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", "unreadable message from ElevenLabs"),
        (b"\xff\xfe", "unreadable message from ElevenLabs"),
        ("[1, 2]", "unexpected message from ElevenLabs"),
        ('{"audio": "***"}', "audio chunk is not valid base64"),
    ],
)
def test_parse_garbage_is_an_error_event(raw: str | bytes, error: str) -> None:
    assert parse_message(raw).error == error


def test_parse_empty_or_unknown_message_is_nothing() -> None:
    assert parse_message('{"audio": ""}') == ElevenLabsEvent()
    assert parse_message('{"something": "new"}') == ElevenLabsEvent()


@given(st.binary(min_size=1, max_size=2000), st.sampled_from([None, False, True]))
def test_parse_audio_round_trips_any_bytes(audio: bytes, final: bool | None) -> None:
    event = parse_message(json.dumps({"audio": base64.b64encode(audio).decode(), "isFinal": final}))
    assert event.audio == audio and event.final is (final is True) and event.error is None


@given(st.one_of(st.text(), st.binary()))
def test_parse_never_raises_on_arbitrary_frames(raw: str | bytes) -> None:
    assert isinstance(parse_message(raw), ElevenLabsEvent)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60)
@given(
    st.dictionaries(
        st.sampled_from(
            ["audio", "isFinal", "alignment", "normalizedAlignment", "message", "error"]
        ),
        json_values,
    )
)
def test_parse_never_raises_on_arbitrary_field_values(data: dict[str, object]) -> None:
    assert isinstance(parse_message(json.dumps(data)), ElevenLabsEvent)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail", "code", "kind"),
    [
        (401, '{"detail":{"status":"invalid_api_key"}}', None, ProviderAuthError),
        (403, "Forbidden", None, ProviderAuthError),
        (401, '{"detail":{"status":"quota_exceeded"}}', None, ProviderQuotaError),
        (429, "Too Many Requests", None, ProviderQuotaError),
        (402, "Payment Required", None, ProviderQuotaError),
        (None, "Invalid API key", "invalid_api_key", ProviderAuthError),
        (None, "too many concurrent requests", None, ProviderQuotaError),
        (None, "Have not received a new text input within the timeout", None,
         ProviderConnectionError),
        (500, "Internal Server Error", None, ProviderConnectionError),
    ],
)  # fmt: skip
def test_classify_error(
    status: int | None, detail: str, code: str | None, kind: type[ProviderError]
) -> None:
    error = classify_error("elevenlabs", detail, status=status, code=code)
    assert type(error) is kind
    assert error.provider == "elevenlabs"


def test_a_rejected_request_is_a_plain_provider_error() -> None:
    error = classify_error("elevenlabs", "voice not found", status=422)
    assert type(error) is ProviderError


def test_close_error() -> None:
    dropped = close_error("elevenlabs", None, "")
    assert type(dropped) is ProviderConnectionError and "without a close frame" in str(dropped)
    assert type(close_error("elevenlabs", 1008, "Invalid API key")) is ProviderAuthError
    idle = close_error("elevenlabs", 1008, "Have not received a new text input within")
    assert type(idle) is ProviderConnectionError and "1008" in str(idle)
    assert type(close_error("elevenlabs", 1000, "")) is ProviderConnectionError
