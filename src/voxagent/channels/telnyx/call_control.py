"""An async client for Telnyx Call Control (Voice API v2): dial, answer, speak, hang up, ….

Every command is a ``POST`` with a JSON body (``../shared/PROTOCOLS.md`` §1). Telnyx answers
at once and reports the outcome later by webhook, so a command's result is only "accepted"
(``data``).

Failures are split the way a caller can act on them:

* 429, 408, 5xx, timeouts and dropped connections are transient: retried with full-jitter
  exponential backoff, honouring ``Retry-After`` (or ``x-ratelimit-reset`` on a 429), and
  reported as :class:`TelnyxUnavailable` once ``max_retries`` retries are spent;
* any other 4xx is our mistake or the call's state (e.g. 422 "call has not been answered
  yet") and is raised at once as :class:`TelnyxApiError` with Telnyx's error code.

A retried POST may have reached Telnyx the first time (a read timeout does not say), so every
request carries a ``command_id`` that stays the same across its retries: Telnyx ignores a
repeated ``command_id``, which makes the retry safe.

The API key is only ever placed in the ``Authorization`` header of the underlying
:class:`httpx.AsyncClient`; it is never logged or included in an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeAlias
from urllib.parse import quote

import httpx

__all__ = [
    "DEFAULT_BASE_URL",
    "CallControlClient",
    "DialResult",
    "TelnyxApiError",
    "TelnyxUnavailable",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"
CALL_ALREADY_ENDED = "90018"
"""Error code for a command sent to a call that has hung up (HTTP 422)."""

_RETRY_STATUSES = frozenset({408, 429})
_MAX_ERROR_TEXT = 300  # characters of a non-JSON error body kept for the message

JsonObject: TypeAlias = dict[str, Any]
Sleep: TypeAlias = Callable[[float], Awaitable[None]]


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


class CallControlClient:
    """Telnyx Call Control commands over one pooled :class:`httpx.AsyncClient`.

    ``sleep`` and ``jitter`` (a ``random.random``-like function) are injectable so tests can
    record backoff delays instead of waiting for them. ``transport`` swaps the network for,
    e.g., :class:`httpx.MockTransport`.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = 10,
        max_retries: int = 3,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not api_key:
            raise ValueError("a Telnyx API key is required")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "voxagent",
            },
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"CallControlClient(base_url={self.base_url!r})"  # never the key

    async def close(self) -> None:
        """Close pooled connections; safe to call twice."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- transport ------------------------------------------------------------------------

    def _backoff(self, retry: int, hint: float | None) -> float:
        """Delay before retry number ``retry`` (0-based): the server's hint if it gave one,
        else full jitter, uniform in [0, min(max, base·2^retry)]; both capped by the max."""
        if hint is not None:
            return min(hint, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry)
        return ceiling * self._jitter()

    async def _post(self, path: str, body: JsonObject) -> httpx.Response:
        """POST ``body`` with retries; return the 2xx response or raise."""
        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            hint: float | None = None
            try:
                response = await self._http.post(path, content=content)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = TelnyxUnavailable(0, "", type(exc).__name__, str(exc), attempt + 1)
                reason = type(exc).__name__
            else:
                status = response.status_code
                if status < 300:
                    return response
                error = _api_error(response)
                if status not in _RETRY_STATUSES and status < 500:
                    raise error
                failure = TelnyxUnavailable(
                    status, error.code, error.title, error.detail, attempt + 1
                )
                reason = f"HTTP {status}"
                hint = _retry_hint(response)
            if attempt == attempts - 1:
                raise failure
            delay = self._backoff(attempt, hint)
            log.warning(
                "telnyx POST /%s: %s, retry %d/%d in %.2f s",
                path,
                reason,
                attempt + 1,
                self.max_retries,
                delay,
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def action(
        self,
        call_control_id: str,
        name: str,
        body: Mapping[str, Any] | None = None,
        *,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Send any call command (``POST /calls/{id}/actions/{name}``); the named methods
        below are typed shortcuts. ``None`` values in ``body`` are dropped."""
        if not call_control_id:
            raise ValueError("call_control_id is empty")
        payload = _without_none(body or {})
        if client_state is not None:
            payload["client_state"] = client_state
        payload["command_id"] = command_id or str(uuid.uuid4())
        path = f"calls/{quote(call_control_id, safe=':')}/actions/{quote(name, safe='')}"
        return _data(await self._post(path, payload))

    # --- commands --------------------------------------------------------------------------

    async def dial(
        self,
        *,
        connection_id: str,
        to: str | Sequence[str],
        from_: str,
        client_state: str | None = None,
        webhook_url: str | None = None,
        stream_url: str | None = None,
        stream_track: str = "inbound_track",
        stream_bidirectional_mode: str | None = None,
        stream_bidirectional_codec: str | None = None,
        stream_bidirectional_sampling_rate: int | None = None,
        stream_codec: str | None = None,
        stream_auth_token: str | None = None,
        timeout_secs: int | None = None,
        time_limit_secs: int | None = None,
        answering_machine_detection: str | None = None,
        answering_machine_detection_config: Mapping[str, Any] | None = None,
        command_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> DialResult:
        """Place an outbound call (``POST /calls``); progress arrives as webhooks.

        ``to`` is an E.164 number or SIP URI (or a list, to ring several at once); ``extra``
        carries any other documented dial field verbatim.
        """
        body = _without_none(
            {
                "connection_id": connection_id,
                "to": to if isinstance(to, str) else list(to),
                "from": from_,
                "webhook_url": webhook_url,
                "client_state": client_state,
                "timeout_secs": timeout_secs,
                "time_limit_secs": time_limit_secs,
                "answering_machine_detection": answering_machine_detection,
                "answering_machine_detection_config": (
                    dict(answering_machine_detection_config)
                    if answering_machine_detection_config is not None
                    else None
                ),
            }
        )
        body.update(
            _stream_fields(
                stream_url,
                stream_track,
                stream_codec,
                stream_bidirectional_mode,
                stream_bidirectional_codec,
                stream_bidirectional_sampling_rate,
                None,
                stream_auth_token,
            )
        )
        body.update(_without_none(extra or {}))
        body["command_id"] = command_id or str(uuid.uuid4())
        data = _data(await self._post("calls", body))
        ids = [data.get(k) for k in ("call_control_id", "call_leg_id", "call_session_id")]
        if not isinstance(ids[0], str) or not ids[0]:
            raise TelnyxApiError(200, "", "Unexpected dial response", "no data.call_control_id")
        return DialResult(*(value if isinstance(value, str) else "" for value in ids))

    async def answer(
        self,
        call_control_id: str,
        *,
        client_state: str | None = None,
        command_id: str | None = None,
        webhook_url: str | None = None,
        stream_url: str | None = None,
        stream_track: str = "inbound_track",
        stream_bidirectional_mode: str | None = None,
        stream_bidirectional_codec: str | None = None,
        stream_bidirectional_sampling_rate: int | None = None,
        stream_codec: str | None = None,
        stream_auth_token: str | None = None,
        transcription: bool | None = None,
        transcription_config: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> JsonObject:
        """Answer a parked inbound call, optionally starting a media stream or Telnyx STT."""
        body = _stream_fields(
            stream_url,
            stream_track,
            stream_codec,
            stream_bidirectional_mode,
            stream_bidirectional_codec,
            stream_bidirectional_sampling_rate,
            None,
            stream_auth_token,
        )
        body.update(
            _without_none(
                {
                    "webhook_url": webhook_url,
                    "transcription": transcription,
                    "transcription_config": (
                        dict(transcription_config) if transcription_config is not None else None
                    ),
                }
            )
        )
        body.update(extra or {})
        return await self.action(
            call_control_id, "answer", body, client_state=client_state, command_id=command_id
        )

    async def speak(
        self,
        call_control_id: str,
        payload: str,
        *,
        voice: str = "female",
        language: str | None = "en-US",
        payload_type: str | None = None,
        service_level: str | None = None,
        stop: str | None = None,
        target_legs: str | None = None,
        voice_settings: Mapping[str, Any] | None = None,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Have Telnyx say ``payload`` (text, or SSML with ``payload_type="ssml"``).

        ``stop="current"`` cuts off whatever is being spoken first (barge-in in webhook mode).
        """
        body = {
            "payload": payload,
            "voice": voice,
            "language": language,
            "payload_type": payload_type,
            "service_level": service_level,
            "stop": stop,
            "target_legs": target_legs,
            "voice_settings": dict(voice_settings) if voice_settings is not None else None,
        }
        return await self.action(
            call_control_id, "speak", body, client_state=client_state, command_id=command_id
        )

    async def playback_start(
        self,
        call_control_id: str,
        *,
        audio_url: str | None = None,
        playback_content: str | None = None,
        media_name: str | None = None,
        audio_type: str | None = None,
        loop: int | str | None = None,
        overlay: bool | None = None,
        stop: str | None = None,
        target_legs: str | None = None,
        cache_audio: bool | None = None,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Play a WAV/MP3 from a URL, an uploaded media name, or base64 ``playback_content``.

        Exactly one source must be given; that is checked here, before a round trip.
        """
        sources = [s for s in (audio_url, playback_content, media_name) if s is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of audio_url, playback_content, media_name")
        body = {
            "audio_url": audio_url,
            "playback_content": playback_content,
            "media_name": media_name,
            "audio_type": audio_type,
            "loop": loop,
            "overlay": overlay,
            "stop": stop,
            "target_legs": target_legs,
            "cache_audio": cache_audio,
        }
        return await self.action(
            call_control_id,
            "playback_start",
            body,
            client_state=client_state,
            command_id=command_id,
        )

    async def transcription_start(
        self,
        call_control_id: str,
        *,
        language: str,
        engine: str = "B",
        interim_results: bool = False,
        tracks: str = "inbound",
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Start Telnyx's recognizer; results arrive as ``call.transcription`` webhooks.

        Sends the flat body of the Telnyx guide (``language`` at the top level) rather than
        the newer ``transcription_engine_config`` object. ``engine`` ``"A"`` is Google,
        ``"B"`` Telnyx.
        """
        body = {
            "language": language,
            "transcription_engine": engine,
            "interim_results": interim_results,
            "transcription_tracks": tracks,
        }
        return await self.action(
            call_control_id,
            "transcription_start",
            body,
            client_state=client_state,
            command_id=command_id,
        )

    async def streaming_start(
        self,
        call_control_id: str,
        *,
        stream_url: str,
        stream_track: str = "inbound_track",
        stream_codec: str | None = None,
        stream_bidirectional_mode: str | None = None,
        stream_bidirectional_codec: str | None = None,
        stream_bidirectional_sampling_rate: int | None = None,
        stream_bidirectional_target_legs: str | None = None,
        stream_auth_token: str | None = None,
        custom_parameters: Mapping[str, str] | None = None,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Fork the call's audio to our WebSocket on an answered call (one stream per call).

        ``custom_parameters`` is sent as Telnyx's ``[{"name":…,"value":…}]`` list.
        """
        body = _stream_fields(
            stream_url,
            stream_track,
            stream_codec,
            stream_bidirectional_mode,
            stream_bidirectional_codec,
            stream_bidirectional_sampling_rate,
            stream_bidirectional_target_legs,
            stream_auth_token,
        )
        if custom_parameters is not None:
            body["custom_parameters"] = [
                {"name": name, "value": value} for name, value in custom_parameters.items()
            ]
        return await self.action(
            call_control_id,
            "streaming_start",
            body,
            client_state=client_state,
            command_id=command_id,
        )

    async def streaming_stop(
        self,
        call_control_id: str,
        stream_id: str | None = None,
        *,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Stop one stream, or every stream on the call when ``stream_id`` is None."""
        return await self.action(
            call_control_id,
            "streaming_stop",
            {"stream_id": stream_id},
            client_state=client_state,
            command_id=command_id,
        )

    async def hangup(
        self,
        call_control_id: str,
        *,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """End the call. A call that already ended (error 90018) counts as success and
        returns ``{}``: hanging up races the caller's own hang-up all the time."""
        try:
            return await self.action(
                call_control_id, "hangup", client_state=client_state, command_id=command_id
            )
        except TelnyxApiError as exc:
            if isinstance(exc, TelnyxUnavailable) or exc.code != CALL_ALREADY_ENDED:
                raise
            log.debug("call %s: already ended before hangup", call_control_id)
            return {}

    async def transfer(
        self,
        call_control_id: str,
        to: str,
        *,
        from_: str | None = None,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Hand the caller to ``to`` (E.164 or SIP URI); our leg leaves the call."""
        return await self.action(
            call_control_id,
            "transfer",
            {"to": to, "from": from_},
            client_state=client_state,
            command_id=command_id,
        )

    async def send_dtmf(
        self,
        call_control_id: str,
        digits: str,
        *,
        duration_millis: int | None = None,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Press keys on the call (``0-9 * # A-D``, ``w``/``W`` for pauses), e.g. for IVRs."""
        return await self.action(
            call_control_id,
            "send_dtmf",
            {"digits": digits, "duration_millis": duration_millis},
            client_state=client_state,
            command_id=command_id,
        )
