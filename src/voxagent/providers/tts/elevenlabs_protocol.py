"""Sans-I/O pieces of the ElevenLabs stream-input protocol (``../shared/PROTOCOLS.md`` §8.2).

Kept apart from the socket code so URL building, message shapes, parsing and error
classification can be unit-tested without a server. The encoding helpers and
:func:`classify_error` are shared with the Cartesia voice, which speaks the same kind of
"JSON with base64 audio over a WebSocket" protocol.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, assert_never
from urllib.parse import quote, urlencode

from voxagent.audio.format import AudioFormat as CallFormat
from voxagent.audio.format import Encoding
from voxagent.providers.tts.cloud_protocol import (
    RawEncoding,
    websocket_base,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_VOICE_SETTINGS",
    "END_OF_INPUT",
    "KEEP_ALIVE",
    "PCM_RATES",
    "Alignment",
    "ElevenLabsEvent",
    "OutputFormat",
    "initial_message",
    "output_format_for",
    "parse_audio_format",
    "parse_message",
    "stream_input_url",
    "text_message",
]

JsonObject = dict[str, Any]


DEFAULT_BASE_URL: Final = "https://api.elevenlabs.io"
DEFAULT_VOICE_SETTINGS: Final[Mapping[str, float]] = {
    "stability": 0.5,
    "similarity_boost": 0.8,
    "speed": 1.0,
}
PCM_RATES: Final = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
MAX_INACTIVITY_TIMEOUT: Final = 180

END_OF_INPUT: Final[Mapping[str, str]] = {"text": ""}
"""End of stream: the server generates what is left, sends ``isFinal`` and closes."""
KEEP_ALIVE: Final[Mapping[str, str]] = {"text": " "}
"""Resets the server's inactivity timer without adding speech (the documented keep-alive)."""


# --- audio formats -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputFormat:
    """One ``output_format`` value, split into what decoding and passthrough need."""

    name: str
    encoding: RawEncoding
    sample_rate: int


def parse_audio_format(output_format: str) -> OutputFormat:
    """Only headerless formats: mp3/opus would need a decoder in the hot path."""
    kind, _, rate = output_format.partition("_")
    if kind in ("ulaw", "alaw") and rate == "8000":
        return OutputFormat(output_format, "ulaw" if kind == "ulaw" else "alaw", 8000)
    if kind == "pcm" and rate.isdigit() and int(rate) in PCM_RATES:
        return OutputFormat(output_format, "pcm_s16le", int(rate))
    raise ValueError(
        f"unsupported ElevenLabs output_format {output_format!r}: use ulaw_8000, alaw_8000 "
        f"or pcm_<rate> with a rate in {PCM_RATES}"
    )


def output_format_for(call: CallFormat) -> str:
    """The ``output_format`` closest to a call's own: G.711 as is, PCM at the call's rate when
    ElevenLabs has it, else the next higher rate (converted once, by the caller)."""
    match call.encoding:
        case Encoding.MULAW:
            return "ulaw_8000"
        case Encoding.ALAW:
            return "alaw_8000"
        case Encoding.PCM16:
            higher = [r for r in PCM_RATES if r >= call.sample_rate]
            return f"pcm_{higher[0] if higher else PCM_RATES[-1]}"
        case _:
            assert_never(call.encoding)


# --- requests ------------------------------------------------------------------------------


def stream_input_url(
    base_url: str,
    voice_id: str,
    *,
    model_id: str,
    output_format: str,
    inactivity_timeout: int | None = None,
) -> str:
    """The single-context stream-input endpoint with its query parameters."""
    query: dict[str, str | int] = {"model_id": model_id, "output_format": output_format}
    if inactivity_timeout is not None:
        if not 1 <= inactivity_timeout <= MAX_INACTIVITY_TIMEOUT:
            raise ValueError(f"inactivity_timeout must be 1..{MAX_INACTIVITY_TIMEOUT} s")
        query["inactivity_timeout"] = inactivity_timeout
    path = f"/v1/text-to-speech/{quote(voice_id, safe='')}/stream-input"
    return f"{websocket_base(base_url)}{path}?{urlencode(query)}"


def initial_message(
    api_key: str | None = None,
    voice_settings: Mapping[str, Any] | None = None,
    chunk_length_schedule: list[int] | None = None,
) -> JsonObject:
    """BOS: the text must be a single space; settings are only honoured here.

    The key is sent as ``xi_api_key`` (the current SDK field; older SDKs spelled it
    ``xi-api-key``). We also send it as a handshake header so a bad key fails the upgrade.
    """
    message: JsonObject = {
        "text": " ",
        "voice_settings": dict(voice_settings or DEFAULT_VOICE_SETTINGS),
    }
    if chunk_length_schedule:
        if any(not 50 <= n <= 500 for n in chunk_length_schedule):
            raise ValueError("chunk_length_schedule values must be 50..500 characters")
        message["generation_config"] = {"chunk_length_schedule": list(chunk_length_schedule)}
    if api_key is not None:
        message["xi_api_key"] = api_key
    return message


def text_message(text: str, *, flush: bool = False, try_trigger: bool = False) -> JsonObject:
    """A text chunk, ending with a space so words are not glued across chunks.

    ``flush`` makes the server speak everything buffered now (lowest latency per sentence);
    ``try_trigger`` only does so above the server's minimum buffer (better prosody).
    """
    if not text.strip():
        raise ValueError("an empty text chunk would end the stream; use END_OF_INPUT")
    if not text.endswith(" "):
        text += " "
    message: JsonObject = {"text": text}
    if try_trigger:
        message["try_trigger_generation"] = True
    if flush:
        message["flush"] = True
    return message


# --- responses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Alignment:
    """Character timing of one audio chunk, relative to that chunk's start."""

    chars: tuple[str, ...]
    start_ms: tuple[float, ...]
    duration_ms: tuple[float, ...]


@dataclass(frozen=True)
class ElevenLabsEvent:
    """One server message: some audio, the end of the synthesis, or an error."""

    audio: bytes = b""
    final: bool = False
    alignment: Alignment | None = None
    normalized_alignment: Alignment | None = None
    error: str | None = None
    error_code: str | None = None


def _alignment(value: object) -> Alignment | None:
    """Alignment is best effort: a malformed one is dropped, the audio is still good."""
    if not isinstance(value, dict):
        return None
    chars = value.get("chars")
    starts = value.get("charStartTimesMs")
    durations = value.get("charDurationsMs")
    if not (isinstance(chars, list) and isinstance(starts, list) and isinstance(durations, list)):
        return None
    if not len(chars) == len(starts) == len(durations):
        return None
    numbers = (*starts, *durations)
    if not all(isinstance(c, str) for c in chars) or not all(
        isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
    ):
        return None
    return Alignment(
        tuple(chars), tuple(float(s) for s in starts), tuple(float(d) for d in durations)
    )


def parse_message(raw: str | bytes) -> ElevenLabsEvent:
    """Parse a server frame; anything unreadable becomes an error event, never an exception."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return ElevenLabsEvent(error="unreadable message from ElevenLabs")
    if not isinstance(data, dict):
        return ElevenLabsEvent(error="unexpected message from ElevenLabs")
    final = data.get("isFinal") is True
    encoded = data.get("audio")
    if isinstance(encoded, str) and encoded:
        try:
            audio = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return ElevenLabsEvent(error="audio chunk is not valid base64")
        return ElevenLabsEvent(
            audio=audio,
            final=final,
            alignment=_alignment(data.get("alignment")),
            normalized_alignment=_alignment(data.get("normalizedAlignment")),
        )
    if not final and ("message" in data or "error" in data):
        # In-stream errors look like {"message": ..., "error": "<code>", "code": 1008};
        # the SDK likewise treats a body with "message" before the close as the error.
        code = data.get("error")
        message = data.get("message")
        return ElevenLabsEvent(
            error=str(message or code or "error"),
            error_code=str(code) if code else None,
        )
    return ElevenLabsEvent(final=final)


# --- errors --------------------------------------------------------------------------------
