"""The sans-I/O half of the Call Control client: its errors and dial result, the request-body
helpers, and how Telnyx's responses (``data``, JSON:API errors, retry hints) are read.

Nothing here sends anything, so every rule reads and is tested with plain data; the sending is
:mod:`~voxagent.channels.telnyx.call_control_transport`, the commands
:mod:`~voxagent.channels.telnyx.call_control` (which exports the public names).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx

__all__ = [
    "CALL_ALREADY_ENDED",
    "DialResult",
    "JsonObject",
    "TelnyxApiError",
    "TelnyxUnavailable",
]

CALL_ALREADY_ENDED = "90018"
"""Error code for a command sent to a call that has hung up (HTTP 422)."""

_MAX_ERROR_TEXT = 300  # characters of a non-JSON error body kept for the message

JsonObject: TypeAlias = dict[str, Any]


class TelnyxApiError(Exception):
    """Telnyx refused a command. ``code`` is Telnyx's error code as a string (``"90018"``),
    or ``""`` when the body was not Telnyx's JSON error shape."""

    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"HTTP {self.status}" if self.status else ""  # 0: no response at all
        if self.code:
            head += f" [{self.code}]"
        text = self.title
        if self.detail and self.detail != self.title:
            text = f"{text}: {self.detail}" if text else self.detail
        return f"{head} {text}".strip()


class TelnyxUnavailable(TelnyxApiError):
    """Telnyx kept failing transiently (429, 5xx, timeouts) until the retries ran out.

    ``status`` is that of the last response, or 0 if the last attempt got no response.
    """

    def __init__(self, status: int, code: str, title: str, detail: str, attempts: int) -> None:
        self.attempts = attempts
        summary = f"gave up after {attempts} attempt(s)"
        super().__init__(status, code, title, f"{summary}: {detail}" if detail else summary)


@dataclass(frozen=True, slots=True)
class DialResult:
    """The ids of a call Telnyx accepted to place (it is still dialing)."""

    call_control_id: str
    call_leg_id: str
    call_session_id: str


def _without_none(fields: Mapping[str, Any]) -> JsonObject:
    return {key: value for key, value in fields.items() if value is not None}


def _stream_fields(
    stream_url: str | None,
    stream_track: str | None,
    stream_codec: str | None,
    stream_bidirectional_mode: str | None,
    stream_bidirectional_codec: str | None,
    stream_bidirectional_sampling_rate: int | None,
    stream_bidirectional_target_legs: str | None,
    stream_auth_token: str | None,
) -> JsonObject:
    """The media-stream options shared by dial, answer and streaming_start.

    ``stream_track`` has a default, so it is sent only with a ``stream_url``; everything else
    the caller set is sent as given, and Telnyx judges it.
    """
    return _without_none(
        {
            "stream_url": stream_url,
            "stream_track": stream_track if stream_url is not None else None,
            "stream_codec": stream_codec,
            "stream_bidirectional_mode": stream_bidirectional_mode,
            "stream_bidirectional_codec": stream_bidirectional_codec,
            "stream_bidirectional_sampling_rate": stream_bidirectional_sampling_rate,
            "stream_bidirectional_target_legs": stream_bidirectional_target_legs,
            "stream_auth_token": stream_auth_token,
        }
    )


def _retry_hint(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait: ``Retry-After`` (seconds form), or on a 429 the
    ``x-ratelimit-reset`` countdown. The HTTP-date form of ``Retry-After`` is ignored."""
    names = ["retry-after"]
    if response.status_code == 429:
        names.append("x-ratelimit-reset")
    for name in names:
        value = response.headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value.strip())
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _api_error(response: httpx.Response) -> TelnyxApiError:
    """Read ``{"errors":[{"code","title","detail"}]}``; tolerate any other body."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:  # not JSON (a proxy's HTML page, an empty body, …)
        text = response.text.strip()[:_MAX_ERROR_TEXT]
        return TelnyxApiError(status, "", response.reason_phrase, text)
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, dict):
        return TelnyxApiError(status, "", response.reason_phrase, "")
    code = first.get("code")
    title = first.get("title")
    detail = first.get("detail")
    return TelnyxApiError(
        status,
        str(code) if isinstance(code, str | int) and not isinstance(code, bool) else "",
        title if isinstance(title, str) else response.reason_phrase,
        detail if isinstance(detail, str) else "",
    )


def _data(response: httpx.Response) -> JsonObject:
    """The ``data`` object of a success response; ``{}`` if Telnyx sent none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}
