"""Call Control commands (``POST /v2/calls/{id}/actions/<name>``): one handler per action.

Each handler validates its body as Telnyx does, then changes the call's state synchronously;
what takes time (audio, transfers, streams) runs in the call's tasks.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from voxagent.simulator.fake_telnyx.base import FakeTelnyxBase
from voxagent.simulator.fake_telnyx.call import FakeCall, _Clip
from voxagent.simulator.fake_telnyx.records import JsonObject
from voxagent.simulator.fake_telnyx.validation import (
    ApiError,
    _check_stream,
    _check_url,
    _interim_requested,
    _is_number,
    _Problems,
)

__all__ = ["MAX_SPEAK_CHARS", "CallActions"]

MAX_SPEAK_CHARS = 5000
_DTMF = re.compile(r"[0-9A-D*#wW]{1,128}")
_TAGS = re.compile(r"<[^>]+>")


def _speech_seconds(text: str, per_char: float, cap: float) -> float:
    return min(len(_TAGS.sub("", text)) * per_char, cap)


class CallActions(FakeTelnyxBase):
    """The action handlers, and the table the REST router dispatches through."""

    @staticmethod
    def _require_answered(call: FakeCall) -> None:
        if not call.answered:
            raise ApiError(
                422,
                "90034",
                "Call has not been answered yet",
                "This command requires the call to be answered.",
                pointer="/call_control_id",
            )

    def _act_answer(self, call: FakeCall, body: JsonObject) -> None:
        if call.direction != "incoming" or call.state != "parked":
            raise ApiError(
                422,
                "10015",
                "Bad Request",
                "Only a parked incoming call can be answered."
                if not call.answered
                else "The call has already been answered.",
                pointer="/call_control_id",
            )
        problems = _Problems()
        _check_url(body, "webhook_url", ("http://", "https://"), problems)
        _check_stream(body, problems)
        problems.raise_if_any()
        if isinstance(body.get("webhook_url"), str):
            call.webhook_url = body["webhook_url"]
        call.options = body
        self._cancel_tasks(call)  # the ring timeout
        self._connect(call, body)

    def _act_hangup(self, call: FakeCall, body: JsonObject) -> None:
        if call.answered or call.direction == "incoming":
            self._hangup(call, "normal_clearing", "caller", "16")
        else:  # we gave up before the far end answered
            self._hangup(call, "originator_cancel", "caller", "487")

    def _act_reject(self, call: FakeCall, body: JsonObject) -> None:
        if call.direction != "incoming" or call.state != "parked":
            raise ApiError(
                422, "10015", "Bad Request", "Only a parked incoming call can be rejected."
            )
        busy = body.get("cause") == "USER_BUSY"
        self._hangup(
            call, "user_busy" if busy else "call_rejected", "callee", "486" if busy else "603"
        )

    def _act_speak(self, call: FakeCall, body: JsonObject) -> None:
        problems = _Problems()
        payload = body.get("payload")
        if payload is None:
            problems.missing("payload")
        elif not isinstance(payload, str) or not 1 <= len(payload) <= MAX_SPEAK_CHARS:
            problems.invalid("payload", f"payload must be 1-{MAX_SPEAK_CHARS} characters.")
        if body.get("voice") is None:
            problems.missing("voice")
        elif not isinstance(body["voice"], str):
            problems.invalid("voice", "voice must be a string.")
        if body.get("payload_type") not in (None, "text", "ssml"):
            problems.invalid("payload_type", "payload_type must be 'text' or 'ssml'.")
        if body.get("stop") not in (None, "current", "all"):
            problems.invalid("stop", "stop must be 'current' or 'all'.")
        problems.raise_if_any()
        self._require_answered(call)
        text = str(payload)
        call.spoken.append(text)
        duration = _speech_seconds(text, self.speak_rate_s_per_char, self.speak_max_s)
        self._queue_clip(call, _Clip("speak", duration, {}), body.get("stop"))

    def _act_playback_start(self, call: FakeCall, body: JsonObject) -> None:
        problems = _Problems()
        if not any(body.get(k) for k in ("audio_url", "media_name", "playback_content")):
            problems.missing("audio_url")
        _check_url(body, "audio_url", ("http://", "https://"), problems)
        loop = body.get("loop", 1)
        if loop != "infinity" and (
            isinstance(loop, bool) or not isinstance(loop, int) or not 1 <= loop <= 100
        ):
            problems.invalid("loop", "loop must be 1-100 or 'infinity'.")
        if body.get("stop") not in (None, "current", "all"):
            problems.invalid("stop", "stop must be 'current' or 'all'.")
        problems.raise_if_any()
        self._require_answered(call)
        fields = {
            "media_url": body.get("audio_url"),
            "media_name": body.get("media_name"),
            "overlay": bool(body.get("overlay", False)),
        }
        call.played.append(str(body.get("audio_url") or body.get("media_name") or "(content)"))
        if body.get("audio_url"):  # Telnyx downloads the file before it can play it
            self._spawn(call, self._fetch_media(call, str(body["audio_url"])), "fetch-media")
        duration = None if loop == "infinity" else self.playback_duration_s * int(loop)
        self._queue_clip(call, _Clip("playback", duration, fields), body.get("stop"))

    def _act_playback_stop(self, call: FakeCall, body: JsonObject) -> None:
        if body.get("stop", "all") not in ("current", "all"):
            raise ApiError(422, "10015", "Bad Request", "stop must be 'current' or 'all'.")
        self._require_answered(call)
        if body.get("stop", "all") == "all":
            call._clips = deque(c for c in call._clips if c.kind != "playback")
        if call._current is not None and call._current.kind == "playback":
            call._current.stop("cancelled")

    def _act_transcription_start(self, call: FakeCall, body: JsonObject) -> None:
        tracks = body.get("transcription_tracks")
        if tracks not in (None, "inbound", "outbound", "both"):
            raise ApiError(
                422,
                "10015",
                "Bad Request",
                "transcription_tracks must be inbound, outbound or both.",
                pointer="/transcription_tracks",
            )
        self._require_answered(call)
        if call.transcribing:
            raise ApiError(
                422,
                "90054",
                "Call Transcription is already in progress",
                "Transcription has already been started on this call.",
            )
        call.transcribing = True
        call.interim_results = _interim_requested(body)

    def _act_transcription_stop(self, call: FakeCall, body: JsonObject) -> None:
        self._require_answered(call)
        call.transcribing = False

    def _act_streaming_start(self, call: FakeCall, body: JsonObject) -> None:
        problems = _Problems()
        if not body.get("stream_url"):
            problems.missing("stream_url")
        _check_stream(body, problems)
        problems.raise_if_any()
        self._require_answered(call)
        if call.streaming:
            raise ApiError(
                422, "90045", "Media Streaming is used", "A media stream is already running."
            )
        if call._party is not None:  # the party now talks over the stream instead
            call._party.cancel()
            call._party = None
        self._start_stream(call, body)

    def _act_streaming_stop(self, call: FakeCall, body: JsonObject) -> None:
        self._require_answered(call)
        if not call.streaming:
            raise ApiError(
                422, "90048", "Media Streaming is not used", "There is no media stream to stop."
            )
        self._stop_stream(call)

    def _act_transfer(self, call: FakeCall, body: JsonObject) -> None:
        to = body.get("to")
        if to is None:
            raise ApiError(
                422,
                "10004",
                "Missing required parameter",
                "The 'to' parameter is required.",
                pointer="/to",
            )
        if not _is_number(to, sip=True):
            raise ApiError(
                422,
                "10016",
                "Phone number must be in +E.164 format",
                "The 'to' parameter must be in +E.164 format (or a SIP URI).",
                pointer="/to",
            )
        call.transferred_to = str(to)
        self._spawn(call, self._transfer_flow(call), "transfer")

    def _act_send_dtmf(self, call: FakeCall, body: JsonObject) -> None:
        digits = body.get("digits")
        if not isinstance(digits, str) or _DTMF.fullmatch(digits) is None:
            raise ApiError(
                422,
                "10015",
                "Bad Request",
                "digits must be 1-128 of 0-9 A-D * # w W.",
                pointer="/digits",
            )
        self._require_answered(call)
        call.dtmf_sent.append(digits)

    def _act_client_state_update(self, call: FakeCall, body: JsonObject) -> None:
        if body.get("client_state") is None:
            raise ApiError(
                422,
                "10004",
                "Missing required parameter",
                "The 'client_state' parameter is required.",
                pointer="/client_state",
            )

    _actions: ClassVar[dict[str, Callable[[CallActions, FakeCall, JsonObject], None]]] = {
        "answer": _act_answer,
        "hangup": _act_hangup,
        "reject": _act_reject,
        "speak": _act_speak,
        "playback_start": _act_playback_start,
        "playback_stop": _act_playback_stop,
        "transcription_start": _act_transcription_start,
        "transcription_stop": _act_transcription_stop,
        "streaming_start": _act_streaming_start,
        "streaming_stop": _act_streaming_stop,
        "transfer": _act_transfer,
        "send_dtmf": _act_send_dtmf,
        "client_state_update": _act_client_state_update,
    }
