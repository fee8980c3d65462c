"""The Call Control REST client against a strict in-process Telnyx (``httpx.MockTransport``).

The fake checks every request the way Telnyx would (method, path, bearer key, JSON content
type and body) and replies with scripted responses, so the tests see exact wire requests,
retries and backoff delays without a network or real waiting.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from voxagent.channels.telnyx.call_control import (
    CallControlClient,
    DialResult,
    TelnyxApiError,
    TelnyxUnavailable,
)

API_KEY = "KEY0123456789ABCDEF_secret"
BASE_URL = "https://api.telnyx.test/v2"
CALL_ID = "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
OK = {"data": {"result": "ok"}}
DIAL_OK = {
    "data": {
        "call_control_id": CALL_ID,
        "call_leg_id": "2dc6fc34-f9e0-11ea-b68e-02420a0f7768",
        "call_session_id": "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768",
        "is_alive": False,
        "record_type": "call",
    }
}

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def error_body(code: str, title: str, detail: str = "") -> dict[str, Any]:
    return {"errors": [{"code": code, "title": title, "detail": detail}]}


@dataclass
class StrictTelnyx:
    """Records requests, validates them like Telnyx, and plays back scripted replies
    (the last reply repeats once the script runs out)."""

    replies: list[Reply] = field(default_factory=lambda: [httpx.Response(200, json=OK)])
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.host == "api.telnyx.test"
        assert request.url.path.startswith("/v2/")
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["content-type"] == "application/json"
        body = json.loads(request.content)
        assert isinstance(body, dict)
        assert None not in body.values(), "None fields must be omitted"
        assert isinstance(body.get("command_id"), str) and body["command_id"]
        self.requests.append(request)
        self.bodies.append(body)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client_for(
    fake: StrictTelnyx, sleeps: Sleeps | None = None, **kwargs: Any
) -> CallControlClient:
    return CallControlClient(
        API_KEY,
        BASE_URL,
        transport=httpx.MockTransport(fake),
        sleep=sleeps or Sleeps(),
        jitter=lambda: 1.0,
        **kwargs,
    )


def without_command_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "command_id"}


# --- dial -------------------------------------------------------------------------------------


async def test_dial_minimal_body_and_result() -> None:
    fake = StrictTelnyx([httpx.Response(200, json=DIAL_OK)])
    async with client_for(fake) as client:
        result = await client.dial(
            connection_id="1234567890", to="+18005550199", from_="+18005550100"
        )
    assert result == DialResult(
        CALL_ID, "2dc6fc34-f9e0-11ea-b68e-02420a0f7768", "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768"
    )
    assert fake.paths == ["/v2/calls"]
    body = fake.bodies[0]
    uuid.UUID(body["command_id"])
    # No stream_url, so the defaulted stream_track is not sent either.
    assert without_command_id(body) == {
        "connection_id": "1234567890",
        "to": "+18005550199",
        "from": "+18005550100",
    }


async def test_dial_full_body() -> None:
    fake = StrictTelnyx([httpx.Response(200, json=DIAL_OK)])
    async with client_for(fake) as client:
        await client.dial(
            connection_id="1234567890",
            to="+18005550199",
            from_="+18005550100",
            client_state="eyJzZXNzaW9uIjoiYWJjIn0=",
            webhook_url="https://agent.example.com/telnyx/webhook",
            stream_url="wss://agent.example.com/telnyx/media",
            stream_bidirectional_mode="rtp",
            stream_bidirectional_codec="PCMU",
            stream_codec="PCMU",
            stream_auth_token="tok-123",
            timeout_secs=30,
            answering_machine_detection="detect",
            command_id="dial-1",
        )
    assert fake.bodies[0] == {
        "connection_id": "1234567890",
        "to": "+18005550199",
        "from": "+18005550100",
        "webhook_url": "https://agent.example.com/telnyx/webhook",
        "client_state": "eyJzZXNzaW9uIjoiYWJjIn0=",
        "timeout_secs": 30,
        "answering_machine_detection": "detect",
        "stream_url": "wss://agent.example.com/telnyx/media",
        "stream_track": "inbound_track",
        "stream_codec": "PCMU",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_auth_token": "tok-123",
        "command_id": "dial-1",
    }


async def test_dial_to_several_numbers_and_extra_fields() -> None:
    fake = StrictTelnyx([httpx.Response(200, json=DIAL_OK)])
    async with client_for(fake) as client:
        await client.dial(
            connection_id="1",
            to=("+18005550199", "sip:agent@example.com"),
            from_="+18005550100",
            extra={"from_display_name": "Ava", "send_silence_when_idle": True, "gone": None},
        )
    body = fake.bodies[0]
    assert body["to"] == ["+18005550199", "sip:agent@example.com"]
    assert body["from_display_name"] == "Ava"
    assert body["send_silence_when_idle"] is True
    assert "gone" not in body


async def test_dial_without_call_control_id_in_response_is_an_error() -> None:
    fake = StrictTelnyx([httpx.Response(200, json={"data": {}})])
    async with client_for(fake) as client:
        with pytest.raises(TelnyxApiError, match=r"no data\.call_control_id"):
            await client.dial(connection_id="1", to="+1", from_="+2")


# --- actions -----------------------------------------------------------------------------------


async def test_answer_with_stream_options() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        data = await client.answer(
            CALL_ID,
            client_state="YWJj",
            stream_url="wss://agent.example.com/stream/media",
            stream_bidirectional_mode="rtp",
            stream_bidirectional_codec="PCMA",
            stream_codec="PCMA",
            stream_auth_token="tok",
        )
    assert data == {"result": "ok"}
    assert fake.paths == [f"/v2/calls/{CALL_ID}/actions/answer"]
    assert without_command_id(fake.bodies[0]) == {
        "stream_url": "wss://agent.example.com/stream/media",
        "stream_track": "inbound_track",
        "stream_codec": "PCMA",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMA",
        "stream_auth_token": "tok",
        "client_state": "YWJj",
    }


async def test_answer_plain_and_with_transcription() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        await client.answer(CALL_ID)
        await client.answer(
            CALL_ID,
            transcription=True,
            transcription_config={"transcription_engine": "B", "language": "en"},
            webhook_url="https://agent.example.com/hook",
        )
    assert without_command_id(fake.bodies[0]) == {}
    assert without_command_id(fake.bodies[1]) == {
        "webhook_url": "https://agent.example.com/hook",
        "transcription": True,
        "transcription_config": {"transcription_engine": "B", "language": "en"},
    }


async def test_speak() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        await client.speak(CALL_ID, "Hello, this is Ava.", client_state="YWJj")
        await client.speak(
            CALL_ID,
            "<speak>Hi</speak>",
            voice="AWS.Polly.Joanna-Neural",
            language=None,
            payload_type="ssml",
            stop="current",
            command_id="speak-2",
        )
    assert fake.paths == [f"/v2/calls/{CALL_ID}/actions/speak"] * 2
    assert without_command_id(fake.bodies[0]) == {
        "payload": "Hello, this is Ava.",
        "voice": "female",
        "language": "en-US",
        "client_state": "YWJj",
    }
    assert fake.bodies[1] == {
        "payload": "<speak>Hi</speak>",
        "voice": "AWS.Polly.Joanna-Neural",
        "payload_type": "ssml",
        "stop": "current",
        "command_id": "speak-2",
    }


async def test_playback_start() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        await client.playback_start(CALL_ID, audio_url="https://x.example/a.mp3")
        await client.playback_start(CALL_ID, playback_content="UklGRg==", audio_type="wav")
        with pytest.raises(ValueError, match="exactly one"):
            await client.playback_start(CALL_ID)
        with pytest.raises(ValueError, match="exactly one"):
            await client.playback_start(CALL_ID, audio_url="a", media_name="b")
    assert fake.paths == [f"/v2/calls/{CALL_ID}/actions/playback_start"] * 2
    assert without_command_id(fake.bodies[0]) == {"audio_url": "https://x.example/a.mp3"}
    assert without_command_id(fake.bodies[1]) == {
        "playback_content": "UklGRg==",
        "audio_type": "wav",
    }


async def test_transcription_start_sends_the_flat_guide_body() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        await client.transcription_start(CALL_ID, language="en")
        await client.transcription_start(
            CALL_ID, language="es", engine="A", interim_results=True, tracks="both"
        )
    assert fake.paths == [f"/v2/calls/{CALL_ID}/actions/transcription_start"] * 2
    assert without_command_id(fake.bodies[0]) == {
        "language": "en",
        "transcription_engine": "B",
        "interim_results": False,
        "transcription_tracks": "inbound",
    }
    assert without_command_id(fake.bodies[1]) == {
        "language": "es",
        "transcription_engine": "A",
        "interim_results": True,
        "transcription_tracks": "both",
    }


async def test_streaming_start_and_stop() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        await client.streaming_start(
            CALL_ID,
            stream_url="wss://agent.example.com/stream/media",
            stream_bidirectional_mode="rtp",
            stream_bidirectional_codec="PCMU",
            stream_bidirectional_target_legs="self",
            custom_parameters={"session": "s-1"},
        )
        await client.streaming_stop(CALL_ID)
        await client.streaming_stop(CALL_ID, "1edb94f9-7ef0-4150-b502-e0ebadfd9491")
    assert fake.paths == [
        f"/v2/calls/{CALL_ID}/actions/streaming_start",
        f"/v2/calls/{CALL_ID}/actions/streaming_stop",
        f"/v2/calls/{CALL_ID}/actions/streaming_stop",
    ]
    assert without_command_id(fake.bodies[0]) == {
        "stream_url": "wss://agent.example.com/stream/media",
        "stream_track": "inbound_track",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_bidirectional_target_legs": "self",
        "custom_parameters": [{"name": "session", "value": "s-1"}],
    }
    assert without_command_id(fake.bodies[1]) == {}
    assert without_command_id(fake.bodies[2]) == {
        "stream_id": "1edb94f9-7ef0-4150-b502-e0ebadfd9491"
    }


async def test_hangup_transfer_send_dtmf() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        assert await client.hangup(CALL_ID, client_state="YWJj") == {"result": "ok"}
        await client.transfer(CALL_ID, "+18005550123")
        await client.transfer(CALL_ID, "sip:desk@example.com", from_="+18005550100")
        await client.send_dtmf(CALL_ID, "1234#", duration_millis=250)
    assert fake.paths == [
        f"/v2/calls/{CALL_ID}/actions/hangup",
        f"/v2/calls/{CALL_ID}/actions/transfer",
        f"/v2/calls/{CALL_ID}/actions/transfer",
        f"/v2/calls/{CALL_ID}/actions/send_dtmf",
    ]
    assert without_command_id(fake.bodies[0]) == {"client_state": "YWJj"}
    assert without_command_id(fake.bodies[1]) == {"to": "+18005550123"}
    assert without_command_id(fake.bodies[2]) == {
        "to": "sip:desk@example.com",
        "from": "+18005550100",
    }
    assert without_command_id(fake.bodies[3]) == {"digits": "1234#", "duration_millis": 250}


async def test_every_action_gets_a_fresh_command_id() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        await client.hangup(CALL_ID)
        await client.hangup(CALL_ID)
    ids = [body["command_id"] for body in fake.bodies]
    assert len(set(ids)) == 2
    for value in ids:
        assert uuid.UUID(value).version == 4


async def test_call_control_id_is_escaped_in_the_path() -> None:
    fake = StrictTelnyx()
    async with client_for(fake) as client:
        await client.hangup("v3:a/b?c")
        with pytest.raises(ValueError, match="empty"):
            await client.hangup("")
    assert fake.requests[0].url.raw_path == b"/v2/calls/v3:a%2Fb%3Fc/actions/hangup"


async def test_non_json_success_body_gives_empty_data() -> None:
    fake = StrictTelnyx([httpx.Response(200, text="")])
    async with client_for(fake) as client:
        assert await client.speak(CALL_ID, "hi") == {}


# --- errors -----------------------------------------------------------------------------------


async def test_hangup_of_an_ended_call_is_success() -> None:
    fake = StrictTelnyx(
        [
            httpx.Response(
                422,
                json=error_body(
                    "90018",
                    "Call has already ended",
                    "This call is no longer active and can't receive commands.",
                ),
            )
        ]
    )
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        assert await client.hangup(CALL_ID) == {}
    assert len(fake.requests) == 1
    assert sleeps.delays == []


async def test_other_actions_on_an_ended_call_raise() -> None:
    fake = StrictTelnyx([httpx.Response(422, json=error_body("90018", "Call has already ended"))])
    async with client_for(fake) as client:
        with pytest.raises(TelnyxApiError) as info:
            await client.speak(CALL_ID, "hello?")
    assert info.value.code == "90018"


async def test_422_with_another_code_raises_api_error() -> None:
    fake = StrictTelnyx(
        [
            httpx.Response(
                422,
                json=error_body(
                    "90034", "Call has not been answered yet", "Answer the call first."
                ),
            )
        ]
    )
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        with pytest.raises(TelnyxApiError) as info:
            await client.hangup(CALL_ID)
    error = info.value
    assert not isinstance(error, TelnyxUnavailable)
    assert (error.status, error.code) == (422, "90034")
    assert error.title == "Call has not been answered yet"
    assert error.detail == "Answer the call first."
    assert str(error) == "HTTP 422 [90034] Call has not been answered yet: Answer the call first."
    assert len(fake.requests) == 1
    assert sleeps.delays == []


async def test_401_is_not_retried() -> None:
    fake = StrictTelnyx(
        [httpx.Response(401, json=error_body("10009", "Authentication failed", "Bad key."))]
    )
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        with pytest.raises(TelnyxApiError) as info:
            await client.dial(connection_id="1", to="+1", from_="+2")
    assert (info.value.status, info.value.code) == (401, "10009")
    assert API_KEY not in str(info.value)
    assert len(fake.requests) == 1
    assert sleeps.delays == []


async def test_numeric_error_code_and_non_json_error_bodies_are_tolerated() -> None:
    fake = StrictTelnyx(
        [
            httpx.Response(400, json={"errors": [{"code": 10015, "title": "Bad Request"}]}),
            httpx.Response(403, text="<html>Forbidden by proxy</html>"),
            httpx.Response(404, json={"message": "not found"}),
        ]
    )
    async with client_for(fake) as client:
        with pytest.raises(TelnyxApiError) as first:
            await client.speak(CALL_ID, "a")
        with pytest.raises(TelnyxApiError) as second:
            await client.speak(CALL_ID, "a")
        with pytest.raises(TelnyxApiError) as third:
            await client.speak(CALL_ID, "a")
    assert (first.value.code, first.value.title) == ("10015", "Bad Request")
    assert (second.value.status, second.value.code, second.value.title) == (403, "", "Forbidden")
    assert "Forbidden by proxy" in second.value.detail
    assert (third.value.status, third.value.code, third.value.title) == (404, "", "Not Found")


# --- retries -----------------------------------------------------------------------------------


async def test_429_then_200_is_retried_with_the_same_command_id_after_retry_after() -> None:
    fake = StrictTelnyx(
        [
            httpx.Response(
                429,
                json=error_body("10011", "Too many requests"),
                headers={"Retry-After": "2"},
            ),
            httpx.Response(200, json=OK),
        ]
    )
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        assert await client.speak(CALL_ID, "hello") == {"result": "ok"}
    assert len(fake.requests) == 2
    assert fake.bodies[0] == fake.bodies[1]
    assert fake.bodies[0]["command_id"] == fake.bodies[1]["command_id"]
    assert sleeps.delays == [2.0]


async def test_x_ratelimit_reset_is_honoured_on_429_and_capped() -> None:
    fake = StrictTelnyx(
        [
            httpx.Response(429, headers={"x-ratelimit-reset": "1.5"}),
            httpx.Response(429, headers={"Retry-After": "120"}),
            httpx.Response(200, json=OK),
        ]
    )
    sleeps = Sleeps()
    async with client_for(fake, sleeps, backoff_max_s=4) as client:
        await client.hangup(CALL_ID, command_id="hang-1")
    assert sleeps.delays == [1.5, 4.0]
    assert [b["command_id"] for b in fake.bodies] == ["hang-1"] * 3


async def test_unusable_retry_after_falls_back_to_backoff() -> None:
    fake = StrictTelnyx(
        [
            httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            httpx.Response(200, json=OK),
        ]
    )
    sleeps = Sleeps()
    async with client_for(fake, sleeps, backoff_base_s=0.25) as client:
        await client.hangup(CALL_ID)
    assert sleeps.delays == [0.25]


async def test_500s_until_retries_run_out_raise_unavailable() -> None:
    fake = StrictTelnyx(
        [httpx.Response(500, json=error_body("10007", "Unexpected error", "Try again."))]
    )
    sleeps = Sleeps()
    async with client_for(
        fake, sleeps, max_retries=3, backoff_base_s=0.25, backoff_max_s=1.0
    ) as client:
        with pytest.raises(TelnyxUnavailable) as info:
            await client.speak(CALL_ID, "hello")
    assert len(fake.requests) == 4
    assert len({b["command_id"] for b in fake.bodies}) == 1
    # Full jitter with jitter()=1.0 gives the exponential ceiling, capped at backoff_max_s.
    assert sleeps.delays == [0.25, 0.5, 1.0]
    error = info.value
    assert isinstance(error, TelnyxApiError)
    assert (error.status, error.code, error.attempts) == (500, "10007", 4)
    assert "gave up after 4 attempt(s)" in str(error)


async def test_full_jitter_stays_below_the_ceiling() -> None:
    fake = StrictTelnyx([httpx.Response(502), httpx.Response(502), httpx.Response(200, json=OK)])
    sleeps = Sleeps()
    client = CallControlClient(
        API_KEY,
        BASE_URL,
        transport=httpx.MockTransport(fake),
        sleep=sleeps,
        jitter=lambda: 0.5,
        backoff_base_s=1.0,
    )
    async with client:
        await client.hangup(CALL_ID)
    assert sleeps.delays == [0.5, 1.0]


async def test_timeout_is_retried_with_the_same_command_id() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake = StrictTelnyx([timeout, httpx.Response(200, json=OK)])
    sleeps = Sleeps()
    async with client_for(fake, sleeps) as client:
        assert await client.transfer(CALL_ID, "+18005550123") == {"result": "ok"}
    assert len(fake.requests) == 2
    assert fake.bodies[0]["command_id"] == fake.bodies[1]["command_id"]
    assert len(sleeps.delays) == 1


async def test_connection_errors_exhaust_into_unavailable() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake = StrictTelnyx([refused])
    sleeps = Sleeps()
    async with client_for(fake, sleeps, max_retries=2) as client:
        with pytest.raises(TelnyxUnavailable) as info:
            await client.dial(connection_id="1", to="+1", from_="+2")
    assert len(fake.requests) == 3
    assert len(sleeps.delays) == 2
    assert info.value.status == 0
    assert "ConnectError" in str(info.value)


async def test_max_retries_zero_means_one_attempt() -> None:
    fake = StrictTelnyx([httpx.Response(503)])
    sleeps = Sleeps()
    async with client_for(fake, sleeps, max_retries=0) as client:
        with pytest.raises(TelnyxUnavailable):
            await client.hangup(CALL_ID)
    assert len(fake.requests) == 1
    assert sleeps.delays == []


async def test_hangup_does_not_swallow_unavailable() -> None:
    fake = StrictTelnyx([httpx.Response(503, json=error_body("90018", "odd"))])
    async with client_for(fake, max_retries=1) as client:
        with pytest.raises(TelnyxUnavailable):
            await client.hangup(CALL_ID)


async def test_the_api_key_is_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    fake = StrictTelnyx([httpx.Response(500), httpx.Response(200, json=OK)])
    caplog.set_level("DEBUG")
    async with client_for(fake) as client:
        assert API_KEY not in repr(client)
        await client.hangup(CALL_ID)
    assert "retry 1/3" in caplog.text
    assert API_KEY not in caplog.text


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="API key"):
        CallControlClient("")
    with pytest.raises(ValueError, match="max_retries"):
        CallControlClient(API_KEY, max_retries=-1)


async def test_close_is_idempotent() -> None:
    client = client_for(StrictTelnyx())
    await client.close()
    await client.close()
