"""Deepgram live transcription (``/v1/listen``) wire format, with no I/O.

Kept apart from the socket code so the URL, the control frames and the parsing of every server
message can be tested exhaustively without a network, and so the fake server in the tests can
speak the same shapes. See ``../shared/PROTOCOLS.md`` §5.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

Encoding = Literal["mulaw", "alaw", "linear16"]
"""Deepgram's names for the raw encodings a call can be in (every one of ours)."""

KEEPALIVE = json.dumps({"type": "KeepAlive"})
"""Resets Deepgram's ~10 s idle timer (NET-0001) while the caller is silent."""
FINALIZE = json.dumps({"type": "Finalize"})
"""Flushes what the server holds as final ``Results`` (marked ``from_finalize``)."""
CLOSE_STREAM = json.dumps({"type": "CloseStream"})
"""Asks for the last results and ``Metadata``, then a 1000 close; never send empty audio."""

BYTES_PER_SAMPLE: dict[str, int] = {"mulaw": 1, "alaw": 1, "linear16": 2}


class MalformedMessage(ValueError):
    """A server frame that is not a Deepgram message; ``str()`` says why."""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def listen_url(
    base_url: str,
    *,
    model: str,
    language: str,
    encoding: Encoding,
    sample_rate: int,
    interim_results: bool = True,
    endpointing: int | Literal[False] = 300,
    utterance_end_ms: int | None = 1000,
    vad_events: bool = True,
    smart_format: bool = True,
) -> str:
    """The full WebSocket URL; raw audio needs ``encoding`` and ``sample_rate`` spelled out."""
    if encoding not in BYTES_PER_SAMPLE:
        raise ValueError(f"unsupported encoding {encoding!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if utterance_end_ms is not None and not interim_results:
        raise ValueError("utterance_end_ms requires interim_results")
    query: dict[str, str] = {
        "model": model,
        "language": language,
        "encoding": encoding,
        "sample_rate": str(sample_rate),
        "channels": "1",
        "interim_results": _flag(interim_results),
        "endpointing": "false" if endpointing is False else str(int(endpointing)),
        "vad_events": _flag(vad_events),
        "smart_format": _flag(smart_format),
    }
    if utterance_end_ms is not None:
        query["utterance_end_ms"] = str(int(utterance_end_ms))
    return f"{base_url.rstrip('/')}/v1/listen?{urlencode(query)}"


# --- events Deepgram → us ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Results:
    """A transcript of ``[start, start + duration)`` seconds of this connection's audio."""

    transcript: str
    confidence: float
    is_final: bool
    speech_final: bool
    from_finalize: bool
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    timestamp: float


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    last_word_end: float


@dataclass(frozen=True, slots=True)
class Metadata:
    """Sent once when the server closes the stream after ``CloseStream``."""

    request_id: str
    duration: float


@dataclass(frozen=True, slots=True)
class Error:
    """An error the server reports in-band before it closes."""

    description: str
    variant: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """A well-formed message of a type we do not know; skipped like the SDK does."""

    type: str


ServerEvent = Results | SpeechStarted | UtteranceEnd | Metadata | Error | Unknown


def _number(obj: dict[str, Any], key: str, default: float | None = None) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedMessage(f"{key!r} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise MalformedMessage(f"{key!r} must be finite, got {value!r}")
    return float(value)


def _bool(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise MalformedMessage(f"{key!r} must be a boolean, got {value!r}")
    return value


def _str(obj: dict[str, Any], key: str, default: str = "") -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise MalformedMessage(f"{key!r} must be a string, got {value!r}")
    return value


def _parse_results(obj: dict[str, Any]) -> Results:
    channel = obj.get("channel")
    if not isinstance(channel, dict):
        raise MalformedMessage("Results without a 'channel' object")
    alternatives = channel.get("alternatives")
    if not isinstance(alternatives, list):
        raise MalformedMessage("Results without a 'channel.alternatives' list")
    transcript, confidence = "", 0.0
    if alternatives:
        best = alternatives[0]
        if not isinstance(best, dict):
            raise MalformedMessage("Results alternative is not an object")
        transcript = _str(best, "transcript")
        confidence = _number(best, "confidence", 0.0)
    start, duration = _number(obj, "start", 0.0), _number(obj, "duration", 0.0)
    if start < 0 or duration < 0:
        raise MalformedMessage(f"negative time span start={start} duration={duration}")
    return Results(
        transcript=transcript,
        confidence=confidence,
        is_final=_bool(obj, "is_final"),
        speech_final=_bool(obj, "speech_final"),
        from_finalize=_bool(obj, "from_finalize"),
        start=start,
        duration=duration,
    )


def parse_server_message(frame: str | bytes) -> ServerEvent:
    """Decode one text frame from Deepgram; raises :class:`MalformedMessage` on garbage."""
    try:
        obj = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedMessage(f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise MalformedMessage("message without a string 'type'")
    if kind == "Results":
        return _parse_results(obj)
    if kind == "SpeechStarted":
        return SpeechStarted(timestamp=_number(obj, "timestamp", 0.0))
    if kind == "UtteranceEnd":
        return UtteranceEnd(last_word_end=_number(obj, "last_word_end", 0.0))
    if kind == "Metadata":
        return Metadata(request_id=_str(obj, "request_id"), duration=_number(obj, "duration", 0.0))
    if kind == "Error":
        description = _str(obj, "description") or _str(obj, "message") or "unspecified error"
        return Error(description=description, variant=_str(obj, "variant"))
    return Unknown(type=kind)
