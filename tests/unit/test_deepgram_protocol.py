"""The sans-I/O Deepgram wire format: URL, control frames and server-message parsing."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxagent.providers.stt import deepgram_protocol as dg


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def test_listen_url_for_telephony_mulaw() -> None:
    url = dg.listen_url(
        "wss://api.deepgram.com/",
        model="nova-2",
        language="en",
        encoding="mulaw",
        sample_rate=8000,
    )
    assert url.startswith("wss://api.deepgram.com/v1/listen?")
    assert query_of(url) == {
        "model": "nova-2",
        "language": "en",
        "encoding": "mulaw",
        "sample_rate": "8000",
        "channels": "1",
        "interim_results": "true",
        "endpointing": "300",
        "utterance_end_ms": "1000",
        "vad_events": "true",
        "smart_format": "true",
    }


def test_listen_url_options() -> None:
    url = dg.listen_url(
        "ws://127.0.0.1:9",
        model="nova-3",
        language="en-US",
        encoding="linear16",
        sample_rate=16000,
        interim_results=False,
        endpointing=False,
        utterance_end_ms=None,
        vad_events=False,
        smart_format=False,
    )
    query = query_of(url)
    assert query["endpointing"] == "false" and query["interim_results"] == "false"
    assert "utterance_end_ms" not in query
    assert query["vad_events"] == "false" and query["smart_format"] == "false"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"encoding": "opus"},
        {"sample_rate": 0},
        {"interim_results": False},  # utterance_end_ms needs interim results
    ],
)
def test_listen_url_rejects_bad_options(kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {
        "model": "nova-2",
        "language": "en",
        "encoding": "mulaw",
        "sample_rate": 8000,
    }
    options.update(kwargs)
    with pytest.raises(ValueError):
        dg.listen_url("wss://x", **options)


@given(
    model=st.text(min_size=1, max_size=20),
    language=st.text(min_size=1, max_size=10),
    rate=st.integers(1, 192000),
)
def test_listen_url_round_trips_any_values(model: str, language: str, rate: int) -> None:
    url = dg.listen_url(
        "wss://h", model=model, language=language, encoding="mulaw", sample_rate=rate
    )
    query = query_of(url)
    assert query["model"] == model and query["language"] == language
    assert query["sample_rate"] == str(rate)


def test_control_messages_are_exact_json() -> None:
    assert json.loads(dg.KEEPALIVE) == {"type": "KeepAlive"}
    assert json.loads(dg.FINALIZE) == {"type": "Finalize"}
    assert json.loads(dg.CLOSE_STREAM) == {"type": "CloseStream"}


RESULTS = {
    "type": "Results",
    "channel_index": [0, 1],
    "duration": 1.04,
    "start": 0.5,
    "is_final": True,
    "speech_final": True,
    "from_finalize": False,
    "channel": {
        "alternatives": [
            {
                "transcript": "another big",
                "confidence": 0.96,
                "words": [{"word": "another", "start": 0.297, "end": 0.797, "confidence": 0.959}],
            }
        ]
    },
    "metadata": {"request_id": "r", "model_info": {"name": "n"}, "model_uuid": "u"},
}


def test_parse_results() -> None:
    event = dg.parse_server_message(json.dumps(RESULTS))
    assert event == dg.Results(
        transcript="another big",
        confidence=0.96,
        is_final=True,
        speech_final=True,
        from_finalize=False,
        start=0.5,
        duration=1.04,
    )
    assert isinstance(event, dg.Results) and event.end == pytest.approx(1.54)


def test_parse_results_tolerates_missing_optional_fields() -> None:
    event = dg.parse_server_message(b'{"type":"Results","channel":{"alternatives":[]}}')
    assert event == dg.Results("", 0.0, False, False, False, 0.0, 0.0)


def test_parse_other_events() -> None:
    parse = dg.parse_server_message
    assert parse('{"type":"SpeechStarted","channel":[0,1],"timestamp":9.54}') == (
        dg.SpeechStarted(9.54)
    )
    assert parse('{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.395}') == (
        dg.UtteranceEnd(2.395)
    )
    metadata = parse(
        '{"type":"Metadata","transaction_key":"deprecated","request_id":"abc",'
        '"sha256":"x","created":"2024-08-29T22:37:55.202Z","duration":1.5,"channels":1}'
    )
    assert metadata == dg.Metadata(request_id="abc", duration=1.5)
    assert parse('{"type":"Error","description":"bad audio","variant":"DATA-0000"}') == (
        dg.Error("bad audio", "DATA-0000")
    )
    assert parse('{"type":"Shiny"}') == dg.Unknown("Shiny")


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "not json",
        b"\xff\xfe",
        "[]",
        "{}",
        '{"type": 3}',
        '{"type":"Results"}',
        '{"type":"Results","channel":{"alternatives":"x"}}',
        '{"type":"Results","channel":{"alternatives":[1]}}',
        '{"type":"Results","is_final":"yes","channel":{"alternatives":[]}}',
        '{"type":"Results","start":-1,"channel":{"alternatives":[]}}',
        '{"type":"Results","duration":true,"channel":{"alternatives":[]}}',
        '{"type":"Results","channel":{"alternatives":[{"transcript":5}]}}',
        '{"type":"SpeechStarted","timestamp":"soon"}',
        '{"type":"Results","start":NaN,"channel":{"alternatives":[]}}',
        '{"type":"UtteranceEnd","last_word_end":Infinity}',
    ],
)
def test_garbage_is_malformed(frame: str | bytes) -> None:
    with pytest.raises(dg.MalformedMessage):
        dg.parse_server_message(frame)


@given(st.one_of(st.text(), st.binary()))
def test_parser_never_raises_anything_but_malformed(frame: str | bytes) -> None:
    with contextlib.suppress(dg.MalformedMessage):
        dg.parse_server_message(frame)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    kind=st.sampled_from(["Results", "SpeechStarted", "UtteranceEnd", "Metadata", "Error"]),
    fields=st.dictionaries(
        st.sampled_from(
            ["channel", "start", "duration", "is_final", "timestamp", "request_id", "description"]
        ),
        JSON,
    ),
)
def test_any_shaped_json_parses_or_is_malformed(kind: str, fields: dict[str, Any]) -> None:
    with contextlib.suppress(dg.MalformedMessage):
        dg.parse_server_message(json.dumps({"type": kind, **fields}))


@given(
    transcript=st.text(),
    confidence=st.floats(0, 1),
    start=st.floats(0, 1e6),
    duration=st.floats(0, 1e3),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_results_round_trip(
    transcript: str,
    confidence: float,
    start: float,
    duration: float,
    flags: tuple[bool, bool, bool],
) -> None:
    message = {
        "type": "Results",
        "start": start,
        "duration": duration,
        "is_final": flags[0],
        "speech_final": flags[1],
        "from_finalize": flags[2],
        "channel": {"alternatives": [{"transcript": transcript, "confidence": confidence}]},
    }
    event = dg.parse_server_message(json.dumps(message))
    assert event == dg.Results(transcript, confidence, *flags, start=start, duration=duration)
