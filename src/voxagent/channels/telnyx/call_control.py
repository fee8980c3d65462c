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

Layout: :class:`CallControlClient` (here: the typed commands) derives from
:class:`~voxagent.channels.telnyx.call_control_transport.CallControlTransport` (the pooled
HTTP client, retries, ``action``); the errors, :class:`DialResult` and response reading are in
:mod:`~voxagent.channels.telnyx.call_control_wire`. The public names are all exported here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from voxagent.channels.telnyx.call_control_transport import DEFAULT_BASE_URL, CallControlTransport
from voxagent.channels.telnyx.call_control_wire import (
    CALL_ALREADY_ENDED,
    DialResult,
    JsonObject,
    TelnyxApiError,
    TelnyxUnavailable,
    _data,
    _stream_fields,
    _without_none,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "CallControlClient",
    "DialResult",
    "TelnyxApiError",
    "TelnyxUnavailable",
]

log = logging.getLogger(__name__)


class CallControlClient(CallControlTransport):
    """Telnyx Call Control commands over one pooled :class:`httpx.AsyncClient`.

    ``sleep`` and ``jitter`` (a ``random.random``-like function) are injectable so tests can
    record backoff delays instead of waiting for them. ``transport`` swaps the network for,
    e.g., :class:`httpx.MockTransport`.
    """

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
