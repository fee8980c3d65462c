"""The fake Telnyx against a tiny webhook receiver and a tiny media-stream server.

Both stand-ins are written here from PROTOCOLS.md alone (signature check with ``cryptography``,
frames as plain JSON), so these tests check the fake's wire formats, not our server's code.
Timings are shrunk so the whole module runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from voxagent.simulator.fake_telnyx import FakeTelnyx, serve_app

API_KEY = "KEY_TEST"
CONNECTION_ID = "1234567890"
FROM = "+15550001000"
STATE = base64.b64encode(b'{"session":"abc"}').decode()
FAST: dict[str, Any] = {
    "answer_delay_s": 0.05,
    "no_answer_after_s": 0.2,
    "speak_rate_s_per_char": 0.002,
    "playback_duration_s": 0.05,
    "callee_pause_s": 0.05,
    "callee_reply_timeout_s": 2.0,
    "callee_hangup_after_s": 0.3,
    "webhook_retry_delay_s": 0.05,
}


# --------------------------------------------------------------------------- stand-ins


@dataclass
class Hook:
    """One webhook as our server would see it."""

    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]
    verified: bool
    status: int

    @property
    def event_type(self) -> str:
        return str(self.body["data"]["event_type"])

    @property
    def id(self) -> str:
        return str(self.body["data"]["id"])

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.body["data"]["payload"])


@dataclass
class Receiver:
    """Verifies like the Telnyx SDK: both headers, int timestamp within 300 s, Ed25519."""

    public_key_b64: str = ""
    hooks: list[Hook] = field(default_factory=list)
    fail_first: set[str] = field(default_factory=set)
    url: str = ""

    def verify(self, headers: dict[str, str], raw: bytes) -> bool:
        signature = headers.get("telnyx-signature-ed25519")
        timestamp = headers.get("telnyx-timestamp")
        if not signature or not timestamp or not timestamp.isdigit():
            return False
        if abs(time.time() - int(timestamp)) > 300:
            return False
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key_b64))
        try:
            key.verify(base64.b64decode(signature), f"{timestamp}|".encode() + raw)
        except (InvalidSignature, ValueError):
            return False
        return True

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = self.verify(headers, raw)
        body = json.loads(raw)
        status = 200 if verified else 401
        event_type = body["data"]["event_type"]
        if verified and event_type in self.fail_first:
            self.fail_first.discard(event_type)
            status = 503
        self.hooks.append(Hook(headers, raw, body, verified, status))
        return Response(status_code=status)

    def events(self, call_control_id: str | None = None) -> list[str]:
        """Event types accepted (2xx), first delivery of each id only."""
        seen: set[str] = set()
        out: list[str] = []
        for hook in self.hooks:
            if hook.status != 200 or hook.id in seen:
                continue
            if call_control_id and hook.payload.get("call_control_id") != call_control_id:
                continue
            seen.add(hook.id)
            out.append(hook.event_type)
        return out

    def accepted(self, event_type: str) -> list[Hook]:
        return [h for h in self.hooks if h.status == 200 and h.event_type == event_type]

    async def wait_for(self, event_type: str, count: int = 1, within_s: float = 5.0) -> Hook:
        deadline = time.monotonic() + within_s
        while len(found := self.accepted(event_type)) < count:
            assert time.monotonic() < deadline, f"no {event_type}; got {self.events()}"
            await asyncio.sleep(0.01)
        return found[count - 1]


@dataclass
class StreamServer:
    """Our media endpoint, reduced: checks the token, sends some silence, maybe hangs up."""

    token: str = "tok-123"
    close_after_s: float | None = None
    frames_to_send: int = 5
    received: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    url: str = ""

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.auth_headers.append(ws.request.headers.get("x-telnyx-streaming-auth-token"))
        silence = base64.b64encode(b"\xff" * 160).decode()
        deadline = None if self.close_after_s is None else time.monotonic() + self.close_after_s
        with contextlib.suppress(ConnectionClosed):
            while True:
                timeout = None if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    await ws.close(1000)
                    return
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout)
                except TimeoutError:
                    continue
                frame = json.loads(raw)
                self.received.append(frame)
                if frame["event"] == "start":
                    for _ in range(self.frames_to_send):
                        await ws.send(json.dumps({"event": "media", "media": {"payload": silence}}))

    def events(self) -> list[str]:
        return [f["event"] for f in self.received]

    async def wait_for(self, event: str, within_s: float = 3.0) -> dict[str, Any]:
        """Frames can still sit in the socket's buffer after the fake has moved on."""
        deadline = time.monotonic() + within_s
        while not (found := [f for f in self.received if f["event"] == event]):
            assert time.monotonic() < deadline, f"no {event} frame; got {self.events()}"
            await asyncio.sleep(0.01)
        return found[0]


class Tone:
    """A stand-in voice: 0.2 s of a quiet tone per utterance (Piper takes seconds to load)."""

    sample_rate = 16000

    def render_blocking(self, text: str) -> npt.NDArray[np.int16]:
        t = np.arange(int(0.2 * self.sample_rate)) / self.sample_rate
        return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


@contextlib.asynccontextmanager
async def stack(**options: Any) -> AsyncIterator[tuple[FakeTelnyx, Receiver, httpx.AsyncClient]]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/webhook", receiver.endpoint, methods=["POST"])])
    async with serve_app(app) as port:
        receiver.url = f"http://127.0.0.1:{port}/webhook"
        settings = {**FAST, "tts": Tone(), **options}
        async with FakeTelnyx(webhook_url=receiver.url, api_key=API_KEY, **settings) as fake:
            receiver.public_key_b64 = fake.public_key_b64
            async with httpx.AsyncClient(
                base_url=fake.base_url,
                headers={"Authorization": f"Bearer {API_KEY}"},
                trust_env=False,
                timeout=5,
            ) as client:
                yield fake, receiver, client


@contextlib.asynccontextmanager
async def media_server(**options: Any) -> AsyncIterator[StreamServer]:
    server = StreamServer(**options)
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/stream/media"
        yield server


async def dial(client: httpx.AsyncClient, to: str = "+15557654321", **extra: Any) -> str:
    body = {"connection_id": CONNECTION_ID, "to": to, "from": FROM, **extra}
    response = await client.post("/calls", json=body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["call_control_id"].startswith("v3:")
    assert data["is_alive"] is False and data["record_type"] == "call"
    assert set(data) == {
        "call_control_id",
        "call_leg_id",
        "call_session_id",
        "is_alive",
        "record_type",
    }
    return str(data["call_control_id"])


async def action(client: httpx.AsyncClient, call_id: str, name: str, **body: Any) -> httpx.Response:
    return await client.post(f"/calls/{call_id}/actions/{name}", json=body)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


# --------------------------------------------------------------------------- REST


async def test_rest_requires_the_bearer_key_and_validates_like_telnyx() -> None:
    async with stack() as (fake, _, client):
        anonymous = await client.post("/calls", json={}, headers={"Authorization": ""})
        assert anonymous.status_code == 401
        assert anonymous.json()["errors"][0]["code"] == "10009"
        assert anonymous.json()["errors"][0]["title"] == "Authentication failed"
        wrong = await client.post("/calls", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401

        bad_json = await client.post("/calls", content=b"{not json")
        assert bad_json.status_code == 400

        missing = await client.post("/calls", json={"to": "+15557654321", "from": FROM})
        assert missing.status_code == 422 and error_code(missing) == "10004"
        assert missing.json()["errors"][0]["source"] == {"pointer": "/connection_id"}

        bad_to = await client.post(
            "/calls", json={"connection_id": CONNECTION_ID, "to": "5557654321", "from": FROM}
        )
        assert bad_to.status_code == 422 and error_code(bad_to) == "10016"

        bad_state = await client.post(
            "/calls",
            json={
                "connection_id": CONNECTION_ID,
                "to": "+15557654321",
                "from": FROM,
                "client_state": "not base64!",
            },
        )
        assert bad_state.status_code == 422 and error_code(bad_state) == "90017"

        unknown = await action(client, "v3:nope", "hangup")
        assert unknown.status_code == 422 and error_code(unknown) == "90015"

        call_id = await dial(client)
        no_such_action = await action(client, call_id, "teleport")
        assert no_such_action.status_code == 404
        status = (await client.get(f"/calls/{call_id}")).json()["data"]
        assert status["is_alive"] is True and status["call_control_id"] == call_id

        assert (await action(client, call_id, "hangup")).json() == {"data": {"result": "ok"}}
        again = await action(client, call_id, "hangup")
        assert again.status_code == 422 and error_code(again) == "90018"
        assert [r.status for r in fake.requests][-2:] == [200, 422]


async def test_fault_switches_answer_429_with_retry_after_then_500() -> None:
    async with stack() as (fake, _, client):
        fake.fail_next(2, status=429)
        fake.fail_next(1, status=500)
        body = {"connection_id": CONNECTION_ID, "to": "+15557654321", "from": FROM}
        for _ in range(2):
            limited = await client.post("/calls", json=body)
            assert limited.status_code == 429
            assert limited.headers["retry-after"] == "1"
            assert error_code(limited) == "10011"
        broken = await client.post("/calls", json=body)
        assert broken.status_code == 500 and error_code(broken) == "10007"
        await dial(client)
        assert [r.status for r in fake.requests] == [429, 429, 500, 200]
        assert len(fake.calls) == 1


# --------------------------------------------------------------------------- media streams


async def test_dial_with_a_stream_then_the_callee_hangs_up() -> None:
    async with (
        media_server() as media,
        stack(
            callee_script=["hello"],
            callee_options={"pause_s": 0.1, "reply_timeout_s": 0.4},
        ) as (fake, receiver, client),
    ):
        call_id = await dial(
            client,
            client_state=STATE,
            stream_url=media.url,
            stream_track="inbound_track",
            stream_bidirectional_mode="rtp",
            stream_bidirectional_codec="PCMU",
            stream_auth_token=media.token,
            answering_machine_detection="detect",
        )
        await fake.wait_ended(call_id, within_s=10)

        assert receiver.events(call_id) == [
            "call.initiated",
            "call.answered",
            "call.machine.detection.ended",
            "streaming.started",
            "streaming.stopped",
            "call.hangup",
        ]
        assert all(h.verified for h in receiver.hooks)
        initiated = receiver.accepted("call.initiated")[0]
        assert initiated.payload["direction"] == "outgoing"
        assert initiated.payload["state"] == "bridging"
        assert initiated.headers["user-agent"] == "telnyx-webhooks"
        assert initiated.headers["content-type"] == "application/json"
        assert initiated.body["data"]["record_type"] == "event"
        assert initiated.body["data"]["occurred_at"].endswith("Z")
        assert initiated.body["meta"]["attempt"] == 1
        assert all(h.payload["client_state"] == STATE for h in receiver.hooks)
        assert receiver.accepted("call.machine.detection.ended")[0].payload["result"] == "human"
        hangup = receiver.accepted("call.hangup")[0].payload
        assert hangup["hangup_cause"] == "normal_clearing"
        assert hangup["hangup_source"] == "callee"

        # The stream, as our server saw it: Telnyx's frames, in order, with the token.
        await media.wait_for("stop")
        assert media.auth_headers == [media.token]
        events = media.events()
        assert events[:2] == ["connected", "start"] and events[-1] == "stop"
        assert events.count("media") > 10
        assert media.received[0]["x-telnyx-streaming-auth-token"] == media.token
        start = media.received[1]
        assert start["start"]["call_control_id"] == call_id
        assert start["start"]["media_format"]["encoding"] == "PCMU"
        simulation = fake.call(call_id).simulation
        assert simulation is not None and simulation.frames_received == 5


async def test_our_hangup_sends_stop_on_the_stream_and_the_caller_hangup_webhook() -> None:
    async with (
        media_server() as media,
        stack(callee_options={"reply_timeout_s": 30.0}) as (fake, receiver, client),
    ):
        call_id = await dial(client, stream_url=media.url, stream_auth_token=media.token)
        await receiver.wait_for("streaming.started")
        await asyncio.sleep(0.2)  # some media flows
        assert (await action(client, call_id, "hangup")).status_code == 200
        late = await action(client, call_id, "speak", payload="hi", voice="female")
        assert error_code(late) == "90018"
        await fake.wait_ended(call_id, within_s=5)

        assert receiver.events(call_id)[-2:] == ["streaming.stopped", "call.hangup"]
        hangup = receiver.accepted("call.hangup")[0].payload
        assert (hangup["hangup_cause"], hangup["hangup_source"]) == ("normal_clearing", "caller")
        stop = await media.wait_for("stop")
        assert stop is media.received[-1]
        assert stop["stream_id"] == media.received[1]["stream_id"]
        assert stop["stop"]["call_control_id"] == call_id
        sequence = [int(f["sequence_number"]) for f in media.received if "sequence_number" in f]
        assert sequence == list(range(1, len(sequence) + 1))


async def test_the_fake_can_hang_up_as_the_callee_mid_stream() -> None:
    async with (
        media_server() as media,
        stack(callee_options={"reply_timeout_s": 30.0}) as (fake, receiver, client),
    ):
        call_id = await dial(client, stream_url=media.url)
        await receiver.wait_for("streaming.started")
        await fake.hangup(call_id)
        await fake.wait_ended(call_id, within_s=5)
        assert (await media.wait_for("stop"))["stop"]["call_control_id"] == call_id
        assert receiver.events(call_id)[-2:] == ["streaming.stopped", "call.hangup"]
        assert receiver.accepted("call.hangup")[0].payload["hangup_source"] == "callee"


async def test_when_our_server_closes_the_stream_the_callee_hangs_up_soon_after() -> None:
    async with (
        media_server(close_after_s=0.3) as media,
        stack(callee_options={"reply_timeout_s": 30.0}) as (fake, receiver, client),
    ):
        call_id = await dial(client, stream_url=media.url)
        await fake.wait_ended(call_id, within_s=5)
        assert receiver.events(call_id)[-3:] == [
            "streaming.started",
            "streaming.stopped",
            "call.hangup",
        ]
        assert receiver.accepted("call.hangup")[0].payload["hangup_source"] == "callee"
        assert media.events()[:2] == ["connected", "start"]


async def test_an_unreachable_stream_url_fails_and_the_call_stays_up() -> None:
    async with stack() as (fake, receiver, client):
        call_id = await dial(client, stream_url="ws://127.0.0.1:9/nothing-listens-here")
        failed = await receiver.wait_for("streaming.failed")
        assert failed.payload["failure_reason"]
        assert failed.payload["stream_type"] == "websocket"
        assert failed.payload["stream_params"]["stream_url"].endswith("/nothing-listens-here")
        assert fake.call(call_id).alive
        assert (await action(client, call_id, "hangup")).status_code == 200
        await fake.wait_ended(call_id)
        assert receiver.events(call_id) == [
            "call.initiated",
            "call.answered",
            "streaming.failed",
            "call.hangup",
        ]


# --------------------------------------------------------------------------- webhook mode


async def test_webhook_mode_speak_and_transcription_turns_until_the_callee_hangs_up() -> None:
    script = ["i need an appointment", "thanks goodbye"]
    async with stack(callee_script=script) as (fake, receiver, client):
        call_id = await dial(client, client_state=STATE)
        await receiver.wait_for("call.answered")

        no_voice = await action(client, call_id, "speak", payload="Hello")
        assert no_voice.status_code == 422 and error_code(no_voice) == "10004"
        started = await action(
            client,
            call_id,
            "transcription_start",
            transcription_engine="Telnyx",
            transcription_engine_config={"interim_results": True},
        )
        assert started.status_code == 200
        twice = await action(client, call_id, "transcription_start")
        assert twice.status_code == 422 and error_code(twice) == "90054"

        replies = ["Hello, Happy Paws, how can I help?", "Monday at three?", "Bye!"]
        for turn, reply in enumerate(replies):
            response = await action(client, call_id, "speak", payload=reply, voice="female")
            assert response.status_code == 200
            if turn < len(script):
                final = await receiver.wait_for("call.transcription", count=2 * (turn + 1))
                data = final.payload["transcription_data"]
                assert data == {
                    "transcript": script[turn],
                    "is_final": True,
                    "confidence": 0.95,
                    "transcription_track": "inbound",
                }
        await fake.wait_ended(call_id)

        turn_events = [
            "call.speak.started",
            "call.speak.ended",
            "call.transcription",
            "call.transcription",
        ]
        assert receiver.events(call_id) == [
            "call.initiated",
            "call.answered",
            *turn_events,
            *turn_events,
            "call.speak.started",
            "call.speak.ended",
            "call.hangup",
        ]
        interim = receiver.accepted("call.transcription")[0].payload["transcription_data"]
        assert interim["is_final"] is False
        assert receiver.accepted("call.speak.ended")[0].payload["status"] == "completed"
        hangup = receiver.accepted("call.hangup")[0].payload
        assert (hangup["hangup_cause"], hangup["hangup_source"]) == ("normal_clearing", "callee")
        assert fake.call(call_id).said == script
        assert fake.call(call_id).spoken == replies


async def test_playback_and_a_new_client_state_are_reflected_in_later_webhooks() -> None:
    async with stack(callee_script=[]) as (fake, receiver, client):
        call_id = await dial(client)
        await receiver.wait_for("call.answered")
        state = base64.b64encode(b"turn-2").decode()
        response = await action(
            client,
            call_id,
            "playback_start",
            audio_url="https://example.com/hold.wav",
            client_state=state,
        )
        assert response.status_code == 200
        ended = await receiver.wait_for("call.playback.ended")
        assert ended.payload["status"] == "completed"
        assert ended.payload["media_url"] == "https://example.com/hold.wav"
        assert ended.payload["client_state"] == state
        await action(client, call_id, "hangup")
        await fake.wait_ended(call_id)
        assert receiver.accepted("call.initiated")[0].payload["client_state"] is None


# --------------------------------------------------------------------------- other flows


async def test_an_inbound_call_waits_parked_until_answered() -> None:
    async with stack() as (fake, receiver, client):
        call_id = await fake.ring_inbound("+15559990000", FROM)
        initiated = await receiver.wait_for("call.initiated")
        assert initiated.payload["direction"] == "incoming"
        assert initiated.payload["state"] == "parked"
        assert initiated.payload["from"] == "+15559990000"
        # The raw body is UTF-8 (the caller's name is not ASCII): it must be verified as sent.
        assert "Zoë".encode() in initiated.raw

        early = await action(client, call_id, "speak", payload="hi", voice="female")
        assert early.status_code == 422 and error_code(early) == "90034"
        assert (await action(client, call_id, "answer", client_state=STATE)).status_code == 200
        answered = await receiver.wait_for("call.answered")
        assert answered.payload["client_state"] == STATE
        assert (await action(client, call_id, "hangup")).status_code == 200
        await fake.wait_ended(call_id)
        assert receiver.events(call_id) == ["call.initiated", "call.answered", "call.hangup"]
        assert receiver.accepted("call.hangup")[0].payload["hangup_source"] == "caller"


async def test_busy_and_unanswered_numbers() -> None:
    async with stack() as (fake, receiver, client):
        fake.behaviour["+15550000486"] = "busy"
        fake.behaviour["+15550000408"] = "no_answer"
        busy = await dial(client, to="+15550000486")
        silent = await dial(client, to="+15550000408")
        await fake.wait_ended(busy)
        await fake.wait_ended(silent)
        assert receiver.events(busy) == ["call.initiated", "call.hangup"]
        hangups = {
            h.payload["call_control_id"]: h.payload for h in receiver.accepted("call.hangup")
        }
        assert hangups[busy]["hangup_cause"] == "user_busy"
        assert hangups[busy]["sip_hangup_cause"] == "486"
        assert hangups[silent]["hangup_cause"] == "timeout"
        assert fake.max_concurrent_calls == 2 and fake.active_calls == 0


async def test_duplicate_deliveries_and_retries_keep_the_event_id() -> None:
    async with stack(duplicate_deliveries=True) as (fake, receiver, client):
        receiver.fail_first.add("call.initiated")
        call_id = await dial(client)
        await action(client, call_id, "hangup")
        await fake.wait_ended(call_id)

        initiated = [h for h in receiver.hooks if h.event_type == "call.initiated"]
        assert [h.status for h in initiated] == [503, 200, 200]
        assert len({h.id for h in initiated}) == 1
        assert [h.body["meta"]["attempt"] for h in initiated] == [1, 2, 2]
        hangups = receiver.accepted("call.hangup")
        assert len(hangups) == 2 and hangups[0].raw == hangups[1].raw


async def test_forged_and_stale_webhooks_are_refused_by_a_verifying_receiver() -> None:
    async with stack() as (fake, receiver, _):
        assert await fake.send_forged() == 401
        assert await fake.send_stale() == 401
        assert await fake.post_webhook("call.initiated") == 200
        assert [h.verified for h in receiver.hooks] == [False, False, True]
        stale = receiver.hooks[1]
        assert int(stale.headers["telnyx-timestamp"]) < time.time() - 500
