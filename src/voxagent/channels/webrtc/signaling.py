"""The WebRTC signaling messages, checked before any peer connection sees them (sans-I/O).

Two shapes are offered, both over HTTP (``/api/webrtc/*``) and over the Socket.IO events:

* the browser offers: ``offer {sdp, type: "offer", session_id, pc_id?, restart?}`` is answered
  with ``{sdp, type: "answer", pc_id}``;
* the server offers (the seed's three-endpoint shape): ``offer {session_id}`` with no ``sdp`` is
  answered with ``{sdp, type: "offer", pc_id}``, and the browser sends ``answer {pc_id, sdp}``.

Either way the browser trickles its candidates with ``ice {pc_id, candidates}``; a candidate
whose ``candidate`` is empty means end-of-candidates. ``restart`` (with the old ``pc_id``)
replaces that peer connection with a new one on the same session: aiortc's ICE restart is
unreliable, so a restart is a new connection, never a renegotiation.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_SDP_CHARS",
    "AnswerRequest",
    "Candidate",
    "IceRequest",
    "OfferRequest",
    "SignalingError",
    "parse_candidate_line",
]

MAX_SDP_CHARS = 32 * 1024
"""A browser's audio offer is 3–6 KB; ten times that is refused."""
PC_ID = r"^pc-[0-9a-f]{32}$"
_CANDIDATE = re.compile(
    r"^(?:a=)?candidate:(?P<foundation>\S+) (?P<component>\d+) (?P<protocol>udp|tcp) "
    r"(?P<priority>\d+) (?P<ip>\S+) (?P<port>\d+) typ (?P<type>host|srflx|prflx|relay)\b",
    re.IGNORECASE,
)


class SignalingError(ValueError):
    """A refused signaling message: ``status`` is the HTTP status, ``code`` a short name."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _check_sdp(sdp: str, kind: str) -> str:
    if not sdp.startswith("v=0"):
        raise ValueError(f"an SDP {kind} starts with 'v=0'")
    if "\nm=audio " not in sdp and "\nm=application " not in sdp:
        raise ValueError(f"the SDP {kind} has no audio or data section (m=audio, m=application)")
    return sdp


class OfferRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: Annotated[str, Field(min_length=1, max_length=80)]
    sdp: Annotated[str | None, Field(max_length=MAX_SDP_CHARS)] = None
    type: Literal["offer"] = "offer"
    pc_id: Annotated[str | None, Field(pattern=PC_ID)] = None
    restart: bool = False

    @field_validator("sdp")
    @classmethod
    def _sdp(cls, sdp: str | None) -> str | None:
        return None if sdp is None else _check_sdp(sdp.replace("\r\n", "\n"), "offer")


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pc_id: Annotated[str, Field(pattern=PC_ID)]
    sdp: Annotated[str, Field(min_length=1, max_length=MAX_SDP_CHARS)]
    type: Literal["answer"] = "answer"

    @field_validator("sdp")
    @classmethod
    def _sdp(cls, sdp: str) -> str:
        return _check_sdp(sdp.replace("\r\n", "\n"), "answer")


class Candidate(BaseModel):
    """One trickled candidate, as ``RTCIceCandidate.toJSON()`` gives it (snake_case also read)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    candidate: Annotated[str, Field(max_length=512)] = ""
    sdp_mid: str | None = Field(None, alias="sdpMid", max_length=32)
    sdp_mline_index: int | None = Field(None, alias="sdpMLineIndex", ge=0, le=64)

    @property
    def end_of_candidates(self) -> bool:
        return not self.candidate.strip()

    @field_validator("candidate")
    @classmethod
    def _line(cls, line: str) -> str:
        if line.strip() and _CANDIDATE.match(line.strip()) is None:
            raise ValueError("not an ICE candidate line ('candidate:… typ host|srflx|relay')")
        return line.strip()


class IceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pc_id: Annotated[str, Field(pattern=PC_ID)]
    candidates: Annotated[list[Candidate], Field(max_length=64)] = []
    candidate: Candidate | None = None
    """A single candidate (the shape some clients send) instead of ``candidates``."""

    def all(self) -> list[Candidate]:
        return [*self.candidates, *([self.candidate] if self.candidate else [])]


def parse_candidate_line(line: str) -> dict[str, str]:
    """The fields of a candidate line (``type``, ``protocol``, ``ip``, ``port``…)."""
    found = _CANDIDATE.match(line.strip())
    if found is None:
        raise ValueError(f"not an ICE candidate line: {line[:60]!r}")
    return {k: v.lower() if k in ("type", "protocol") else v for k, v in found.groupdict().items()}
