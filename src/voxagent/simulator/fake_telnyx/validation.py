"""Telnyx's request validation and its JSON:API error bodies (``{"errors": [...]}``).

A Telnyx client must cope with these exact shapes: a string ``code``, a ``source.pointer``
naming the bad parameter, and every problem of a request listed in one response.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence

from voxagent.simulator.fake_telnyx.records import JsonObject

__all__ = ["ApiError"]

_CODECS = frozenset({"PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16"})
_ENUMS: dict[str, frozenset[str]] = {
    "stream_track": frozenset({"inbound_track", "outbound_track", "both_tracks"}),
    "stream_codec": _CODECS | {"default"},
    "stream_bidirectional_mode": frozenset({"mp3", "rtp"}),
    "stream_bidirectional_codec": _CODECS,
    "stream_bidirectional_target_legs": frozenset({"both", "self", "opposite"}),
    "answering_machine_detection": frozenset(
        {"premium", "detect", "detect_beep", "detect_words", "greeting_end", "disabled"}
    ),
}
_E164 = re.compile(r"\+[1-9]\d{1,14}")


def _is_base64(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_number(value: object, *, sip: bool = False) -> bool:
    if not isinstance(value, str):
        return False
    if sip and value.startswith(("sip:", "sips:")):
        return len(value) > 5
    return _E164.fullmatch(value) is not None


class ApiError(Exception):
    """A Telnyx JSON:API error response (``{"errors":[...]}``, ``code`` as a string)."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        headers: Mapping[str, str] | None = None,
        more: Sequence[JsonObject] = (),
    ) -> None:
        super().__init__(f"{status} {code} {title}: {detail}")
        self.status = status
        self.headers = dict(headers or {})
        self.errors = [_error(code, title, detail, pointer), *more]

    def body(self) -> JsonObject:
        return {"errors": self.errors}


def _error(code: str, title: str, detail: str, pointer: str | None = None) -> JsonObject:
    entry: JsonObject = {"code": code, "title": title, "detail": detail}
    if pointer is not None:
        entry["source"] = {"pointer": pointer}
    entry["meta"] = {"url": f"https://developers.telnyx.com/api/errors/{code}"}
    return entry


class _Problems:
    """Collects validation errors so one response lists them all, as Telnyx does."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str, str, str, str]] = []

    def add(self, code: str, title: str, detail: str, key: str, status: int = 422) -> None:
        self.items.append((status, code, title, detail, "/" + key))

    def missing(self, key: str) -> None:
        self.add("10004", "Missing required parameter", f"The '{key}' parameter is required.", key)

    def invalid(self, key: str, detail: str) -> None:
        self.add("10015", "Bad Request", detail, key)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        status, code, title, detail, pointer = self.items[0]
        more = [_error(c, t, d, p) for _, c, t, d, p in self.items[1:]]
        raise ApiError(status, code, title, detail, pointer=pointer, more=more)


def _check_common(body: JsonObject, problems: _Problems) -> None:
    """``client_state`` (must be base64: error 90017) and ``command_id``, on every command."""
    state = body.get("client_state")
    if state is not None and not _is_base64(state):
        problems.add(
            "90017",
            "Invalid value for client_state",
            "client_state must be a valid Base64 encoded string.",
            "client_state",
        )
    if "command_id" in body and not isinstance(body["command_id"], str | None):
        problems.invalid("command_id", "command_id must be a string.")


def _check_url(body: JsonObject, key: str, schemes: tuple[str, ...], problems: _Problems) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(schemes) or len(value) > 2000:
        problems.add("10003", "Invalid URL", f"'{key}' must be a {'/'.join(schemes)} URL.", key)


def _check_enum(body: JsonObject, key: str, problems: _Problems) -> None:
    value = body.get(key)
    if value is not None and value not in _ENUMS[key]:
        allowed = ", ".join(sorted(_ENUMS[key]))
        problems.invalid(key, f"'{key}' must be one of: {allowed}.")


def _check_stream(body: JsonObject, problems: _Problems) -> None:
    _check_url(body, "stream_url", ("ws://", "wss://"), problems)
    for key in (
        "stream_track",
        "stream_codec",
        "stream_bidirectional_mode",
        "stream_bidirectional_codec",
        "stream_bidirectional_target_legs",
    ):
        _check_enum(body, key, problems)
    token = body.get("stream_auth_token")
    if token is not None and (not isinstance(token, str) or len(token) > 4000):
        problems.invalid("stream_auth_token", "stream_auth_token must be a string ≤ 4000 chars.")


def _int_in(body: JsonObject, key: str, low: int, high: int, problems: _Problems) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.invalid(key, f"'{key}' must be an integer between {low} and {high}.")


def _interim_requested(body: JsonObject) -> bool:
    """Both the flat (guide) and nested (SDK) ``transcription_start`` shapes."""
    config = body.get("transcription_engine_config")
    if isinstance(config, dict) and config.get("interim_results") is True:
        return True
    return body.get("interim_results") is True
