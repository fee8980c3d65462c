"""Sans-I/O pieces of the Cartesia TTS WebSocket protocol (``../shared/PROTOCOLS.md`` §9).

Message shapes follow the official SDK: a generation request per piece of text,
``continue`` to keep a context open, an empty transcript with ``continue: false`` to end
it, ``{"context_id": …, "cancel": true}`` to drop it; responses are typed by ``type``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final, assert_never

from voxagent.audio.format import AudioFormat as CallFormat
from voxagent.audio.format import Encoding
from voxagent.providers.errors import ProviderError
from voxagent.providers.tts.cloud_protocol import RawEncoding, classify_error, websocket_base

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_VERSION",
    "ENCODINGS",
    "SAMPLE_RATES",
    "CartesiaEvent",
    "WordTimestamps",
    "auth_headers",
    "cancel_message",
    "error_for",
    "generation_request",
    "output_for",
    "output_format",
    "parse_message",
    "websocket_url",
]

JsonObject = dict[str, Any]

DEFAULT_BASE_URL: Final = "https://api.cartesia.ai"
DEFAULT_VERSION: Final = "2025-04-16"
ENCODINGS: Final[dict[str, RawEncoding]] = {
    "pcm_s16le": "pcm_s16le",
    "pcm_mulaw": "ulaw",
    "pcm_alaw": "alaw",
}
"""Cartesia ``encoding`` → the raw encoding name the phone path understands.
``pcm_f32le`` is left out: it would need converting before anything can use it."""
SAMPLE_RATES: Final = (8000, 16000, 22050, 24000, 44100, 48000)


def websocket_url(base_url: str) -> str:
    return f"{websocket_base(base_url)}/tts/websocket"


def auth_headers(api_key: str, version: str) -> dict[str, str]:
    """Header auth as the official SDK does it (keeps the key out of URLs and logs)."""
    return {"Authorization": f"Bearer {api_key}", "Cartesia-Version": version}


def output_format(encoding: str, sample_rate: int) -> JsonObject:
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported Cartesia encoding {encoding!r}: use one of {[*ENCODINGS]}")
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(
            f"unsupported Cartesia sample rate {sample_rate}: use one of {SAMPLE_RATES}"
        )
    return {"container": "raw", "encoding": encoding, "sample_rate": sample_rate}


def output_for(call: CallFormat) -> tuple[str, int]:
    """Cartesia's ``(encoding, sample_rate)`` closest to a call's format: the same one when
    Cartesia has it (it has every one a call uses), else PCM at the next higher rate."""
    match call.encoding:
        case Encoding.MULAW:
            return "pcm_mulaw", 8000
        case Encoding.ALAW:
            return "pcm_alaw", 8000
        case Encoding.PCM16:
            higher = [r for r in SAMPLE_RATES if r >= call.sample_rate]
            return "pcm_s16le", higher[0] if higher else SAMPLE_RATES[-1]
        case _:
            assert_never(call.encoding)


def generation_request(
    *,
    model_id: str,
    voice_id: str,
    transcript: str,
    context_id: str,
    encoding: str,
    sample_rate: int,
    more: bool,
    language: str | None = None,
    add_timestamps: bool = False,
) -> JsonObject:
    """One piece of text for a context; ``more`` keeps the context open for the next."""
    request: JsonObject = {
        "model_id": model_id,
        "transcript": transcript,
        "voice": {"mode": "id", "id": voice_id},
        "output_format": output_format(encoding, sample_rate),
        "context_id": context_id,
        "continue": more,
    }
    if language:
        request["language"] = language
    if add_timestamps:
        request["add_timestamps"] = True
    return request


def cancel_message(context_id: str) -> JsonObject:
    return {"context_id": context_id, "cancel": True}


@dataclass(frozen=True)
class WordTimestamps:
    words: tuple[str, ...]
    start: tuple[float, ...]
    end: tuple[float, ...]


@dataclass(frozen=True)
class CartesiaEvent:
    """A server message reduced to what routing and decoding need.

    ``type`` is one of chunk, timestamps, flush_done, done, error (or whatever the server
    sent); ``done`` means the context is finished on the server side.
    """

    type: str
    context_id: str | None
    audio: bytes = b""
    done: bool = False
    status_code: int | None = None
    error: str | None = None
    error_code: str | None = None
    word_timestamps: WordTimestamps | None = None


def _timestamps(value: object) -> WordTimestamps | None:
    if not isinstance(value, dict):
        return None
    words, start, end = value.get("words"), value.get("start"), value.get("end")
    if not (isinstance(words, list) and isinstance(start, list) and isinstance(end, list)):
        return None
    if not len(words) == len(start) == len(end):
        return None
    if not all(isinstance(w, str) for w in words) or not all(
        isinstance(t, int | float) and not isinstance(t, bool) for t in (*start, *end)
    ):
        return None
    return WordTimestamps(tuple(words), tuple(map(float, start)), tuple(map(float, end)))


def parse_message(raw: str | bytes) -> CartesiaEvent:
    """Parse a server frame; malformed input becomes an ``error`` event, never an exception."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return CartesiaEvent("error", None, done=True, error="unreadable message from Cartesia")
    if not isinstance(data, dict):
        return CartesiaEvent("error", None, done=True, error="unexpected message from Cartesia")
    kind = str(data.get("type", ""))
    raw_context = data.get("context_id")
    context = str(raw_context) if isinstance(raw_context, str | int) and raw_context != "" else None
    status = data.get("status_code")
    status_code = status if isinstance(status, int) and not isinstance(status, bool) else None
    done = data.get("done") is True
    if kind == "error":
        # The SDK's model has "error"; newer servers add title/message/error_code.
        parts = [str(data[k]) for k in ("title", "message", "error") if data.get(k)]
        code = data.get("error_code")
        return CartesiaEvent(
            kind,
            context,
            done=data.get("done") is not False,  # like the SDK: an error ends it unless told
            status_code=status_code,
            error=": ".join(dict.fromkeys(parts)) or "error",
            error_code=str(code) if code else None,
        )
    if kind == "chunk":
        encoded = data.get("data")
        try:
            audio = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            return CartesiaEvent(
                "error", context, done=True, error="audio chunk is not valid base64"
            )
        return CartesiaEvent(kind, context, audio=audio, done=done, status_code=status_code)
    if kind == "timestamps":
        return CartesiaEvent(
            kind,
            context,
            done=done,
            status_code=status_code,
            word_timestamps=_timestamps(data.get("word_timestamps")),
        )
    return CartesiaEvent(kind, context, done=done or kind == "done", status_code=status_code)


def error_for(provider: str, event: CartesiaEvent) -> ProviderError:
    """The typed error for an ``error`` event (status 401 → auth, 429/402 → quota…)."""
    detail = event.error or "error"
    return classify_error(provider, detail, status=event.status_code, code=event.error_code)
