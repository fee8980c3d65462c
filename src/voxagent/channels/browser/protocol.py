"""The ``/sandra`` Socket.IO protocol as data: event names, and every payload validated.

No I/O here: the namespace hands a payload to :func:`parse_client_event` and gets a typed
event or a :class:`ProtocolError` with a code the client can act on; what the server sends is
built by the ``*_message`` helpers. The README's tables ("Talk to it in the browser") document
the same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CLIENT_EVENTS",
    "MAX_CHUNK_BYTES",
    "NAMESPACE",
    "SAMPLE_RATE",
    "SERVER_EVENTS",
    "SIGNALING_EVENTS",
    "AudioChunk",
    "BargeIn",
    "ClientEvent",
    "End",
    "LatencyReport",
    "Ping",
    "PlaybackReport",
    "ProtocolError",
    "Resume",
    "Signaling",
    "Start",
    "TypedText",
    "parse_client_event",
]

NAMESPACE = "/sandra"
SAMPLE_RATE = 16000
MAX_CHUNK_BYTES = 8192
"""256 ms of 16 kHz 16-bit audio; the console sends 40 ms (1280 bytes)."""
MAX_TEXT_CHARS = 500

ErrorCode = Literal[
    "bad_event",
    "bad_payload",
    "too_large",
    "too_fast",
    "rate_limited",
    "no_session",
    "unknown_session",
    "busy",
    "forbidden",
    "unavailable",
]


class ProtocolError(ValueError):
    """A client event the server refuses; ``code`` goes back in the ``error`` event."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Start(_Payload):
    """Start a conversation; the agent greets. Defaults come from the token."""

    persona: Annotated[str | None, Field(max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")] = None
    language: Literal["en", "es"] | None = None
    sample_rate: Literal[16000] = 16000


class AudioChunk(_Payload):
    """Microphone audio: Int16 little-endian mono at 16 kHz, any length up to 8 KiB."""

    seq: Annotated[int, Field(ge=0, lt=2**53)]
    pcm: Annotated[bytes, Field(max_length=MAX_CHUNK_BYTES)]


class End(_Payload):
    """End the conversation."""


class BargeIn(_Payload):
    """The user talked over the agent (the page's own VAD): stop speaking now."""

    played_ms: Annotated[float | None, Field(ge=0, le=3_600_000)] = None


class TypedText(_Payload):
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]


class Ping(_Payload):
    t: Annotated[float, Field(ge=0)] = 0.0


class PlaybackReport(_Payload):
    """The page has played agent audio up to and including chunk ``chunk``."""

    chunk: Annotated[int, Field(ge=0, lt=2**53)]


class LatencyReport(_Payload):
    """One of the page's own timings, in milliseconds."""

    name: Literal["token", "connect", "first_audio", "underrun", "response", "network_check"]
    ms: Annotated[float, Field(ge=0, le=600_000)]


class Resume(_Payload):
    """After a reconnect: restore the session (and its history) of this id."""

    session_id: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Signaling(_Payload):
    """A WebRTC signaling message (``webrtc_offer``, ``webrtc_answer``, ``webrtc_ice``) or a
    pre-call ``network_report``: checked by the WebRTC service, which owns their shapes."""

    kind: Literal["webrtc_offer", "webrtc_answer", "webrtc_ice", "network_report"]
    payload: dict[str, Any]


SIGNALING_EVENTS = ("webrtc_offer", "webrtc_answer", "webrtc_ice", "network_report")

ClientEvent = (
    Start
    | AudioChunk
    | End
    | BargeIn
    | TypedText
    | Ping
    | PlaybackReport
    | LatencyReport
    | Resume
    | Signaling
)

CLIENT_EVENTS: Mapping[str, type[_Payload]] = {
    "start": Start,
    "audio": AudioChunk,
    "end": End,
    "barge_in": BargeIn,
    "text": TypedText,
    "ping": Ping,
    "playback": PlaybackReport,
    "latency": LatencyReport,
    "resume": Resume,
}

SERVER_EVENTS = (
    "session_started",
    "session_resumed",
    "state",
    "transcript_interim",
    "transcript_final",
    "agent_text",
    "audio",
    "audio_end",
    "barge_in_ack",
    "tool_call",
    "tool_result",
    "metrics",
    "session_ended",
    "pong",
    "error",
    "webrtc_answer",
    "webrtc_offer",
    "webrtc_ice_ack",
    "webrtc_state",
    "network_report_ack",
)


def parse_client_event(name: str, data: Any) -> ClientEvent:
    """The typed event for ``name`` with payload ``data`` (a dict, or nothing)."""
    if name in SIGNALING_EVENTS:
        if not isinstance(data, dict):
            raise ProtocolError("bad_payload", f"{name}: the payload must be an object")
        return Signaling(kind=name, payload=data)  # type: ignore[arg-type]
    model = CLIENT_EVENTS.get(name)
    if model is None:
        raise ProtocolError("bad_event", f"unknown event {name!r}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProtocolError("bad_payload", f"{name}: the payload must be an object")
    if name == "audio":
        pcm = data.get("pcm")
        if isinstance(pcm, bytes | bytearray) and len(pcm) > MAX_CHUNK_BYTES:
            raise ProtocolError("too_large", f"audio chunks are at most {MAX_CHUNK_BYTES} bytes")
        if isinstance(pcm, bytes | bytearray) and len(pcm) % 2:
            raise ProtocolError("bad_payload", "audio: pcm must hold whole 16-bit samples")
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise ProtocolError("bad_payload", f"{name}.{where}: {first.get('msg')}") from None
