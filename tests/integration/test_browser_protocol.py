"""The ``/sandra`` Socket.IO protocol against the real server, with python-socketio's client:
every event, every bad input, every limit. The offline default answers (Piper, PocketSphinx,
the scripted agent), so what is checked is the protocol, not what a recognizer heard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import pytest_asyncio
import socketio

from fakes.live_server import LiveServer, live_server
from voxagent.settings import load_settings
from voxagent.simulator.browser import BrowserCaller, get_token, render_line

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

PERSONA = "maria"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("browser")
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
        media_dir=str(tmp / "media"),
        jwt_secret="j" * 40,
        jwt_ttl_seconds=60,
        browser_persona=PERSONA,
        tokens_per_minute_per_ip=40,
        stt_workers=1,
        tts_workers=1,
    )
    async with live_server(settings) as running:
        yield running


async def connected(server: LiveServer, user: str = "guest-1") -> BrowserCaller:
    caller = BrowserCaller(server.url, await get_token(server.url, user))
    await caller.connect()
    return caller


# -- connecting ------------------------------------------------------------------------------------


async def refusal(server: LiveServer, auth: dict[str, str] | None) -> str:
    """What the server said when it refused the connection (the page's ``connect_error``)."""
    client = socketio.AsyncClient()
    said: list[str] = []
    client.on("connect_error", lambda data: said.append(str(data)), namespace="/sandra")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            server.url, namespaces=["/sandra"], transports=["websocket"], auth=auth, wait_timeout=5
        )
    return " ".join(said)


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        (None, "missing token"),
        ({"token": "not.a.jwt"}, "invalid token"),
        ({"token": "forged"}, "invalid token"),
    ],
)
async def test_a_connection_without_a_good_token_is_refused_with_a_reason(
    server: LiveServer, auth: dict[str, str] | None, reason: str
) -> None:
    assert reason in await refusal(server, auth)


async def test_an_expired_token_is_refused(server: LiveServer) -> None:
    issuer = server.services.browser.issuer
    old = issuer.issue("guest-9", now=time.time() - 3600)
    assert "expired token" in await refusal(server, {"token": old})


async def test_a_token_signed_with_another_secret_is_refused(server: LiveServer) -> None:
    from voxagent.channels.browser.auth import TokenIssuer

    forged = TokenIssuer("x" * 40, 60).issue("guest-1")
    assert "invalid token" in await refusal(server, {"token": forged})


# -- a conversation ------------------------------------------------------------------------------


async def test_a_session_greets_streams_audio_in_order_and_reports_each_turn(
    server: LiveServer,
) -> None:
    caller = await connected(server)
    try:
        await caller.start()
        assert caller.events[0][0] == "session_started", caller.event_names()
        started = caller.events[0][1]
        assert started["persona"] == PERSONA and started["sample_rate"] == 16000
        await caller.wait_for("metrics", within_s=20)
        await caller.wait_for("state", predicate=lambda d: d["state"] == "listening")
        names = [name for name, _, _ in caller.events]
        assert names.index("agent_text") < names.index("audio") < names.index("audio_end")
        states = [d["state"] for n, d, _ in caller.events if n == "state"]
        assert states.index("thinking") < states.index("speaking") < states.index("listening")
        chunks = [d for n, d, _ in caller.events if n == "audio"]
        assert [c["seq"] for c in chunks] == list(range(len(chunks)))
        assert all(isinstance(c["pcm"], bytes) and len(c["pcm"]) % 2 == 0 for c in chunks)
        pcm = np.frombuffer(b"".join(c["pcm"] for c in chunks), dtype="<i2")
        assert len(pcm) / 16000 > 1.5 and np.abs(pcm).max() > 1000, "real 16 kHz speech"

        mark = len(caller.events)
        await caller.emit("text", {"text": "what are your opening hours"})
        final = await caller.wait_for("transcript_final", after=mark)
        assert final["text"] == "what are your opening hours"
        await caller.wait_for("agent_text", after=mark)
        metrics = await caller.wait_for("metrics", after=mark, within_s=20)
        assert metrics["turn"] == final["turn"] and metrics["first_audio_sent_ms"] > 0

        await caller.emit("ping", {"t": 12.5})
        pong = await caller.wait_for("pong")
        assert pong["t"] == 12.5 and pong["server_t"] > 0

        await caller.emit("end", {})
        ended = await caller.wait_for("session_ended")
        assert ended["reason"] == "client_ended"
    finally:
        await caller.close()


async def test_speech_from_the_microphone_is_a_turn(server: LiveServer) -> None:
    caller = await connected(server, "guest-speech")
    try:
        await caller.start()
        await caller.wait_for("metrics", within_s=20)
        await asyncio.sleep(0.5)
        mark = len(caller.events)
        piper = server.services.factory.piper
        assert piper is not None
        await caller.say(await asyncio.to_thread(render_line, piper, "what are your hours"))
        await caller.silence(0.9)
        await caller.wait_for(
            "state", after=mark, predicate=lambda d: d["state"] == "user_speaking"
        )
        heard = await caller.wait_for("transcript_final", after=mark, within_s=20)
        reply = await caller.wait_for("agent_text", after=mark, within_s=20)
        assert reply["turn"] == heard["turn"], "the words heard (whatever they were) got an answer"
    finally:
        await caller.close()


# -- bad input ------------------------------------------------------------------------------------


async def test_bad_events_get_an_error_and_the_session_lives_on(server: LiveServer) -> None:
    caller = await connected(server, "guest-bad")
    try:
        await caller.emit("audio", {"seq": 0, "pcm": b"\x00\x00"})
        assert (await caller.wait_for("error"))["code"] == "no_session"
        await caller.start()
        cases = [
            ("launch_missiles", {}, "bad_event"),
            ("text", {"text": ""}, "bad_payload"),
            ("text", "not an object", "bad_payload"),
            ("audio", {"seq": -1, "pcm": b"\x00\x00"}, "bad_payload"),
            ("audio", {"seq": 1, "pcm": b"\x00"}, "bad_payload"),
            ("audio", {"seq": 2, "pcm": b"\x00" * 9000}, "too_large"),
            ("start", {}, "busy"),
            ("resume", {"session_id": "nope-nope-nope"}, "busy"),
            ("latency", {"name": "bogus", "ms": 1}, "bad_payload"),
        ]
        for event, payload, code in cases:
            mark = len(caller.events)
            await caller.emit(event, payload)
            error = await caller.wait_for("error", after=mark)
            assert error["code"] == code, (event, payload, error)
        mark = len(caller.events)
        await caller.emit("ping", {"t": 1})
        await caller.wait_for("pong", after=mark)
        metrics = server.services.browser.namespace.metrics.rejected
        assert metrics["bad_payload"] >= 4 and metrics["too_large"] >= 1
    finally:
        await caller.close()


async def test_audio_faster_than_twice_real_time_is_refused(server: LiveServer) -> None:
    caller = await connected(server, "guest-fast")
    try:
        await caller.start()
        mark = len(caller.events)
        await caller.say(bytes(16000 * 2 * 4), realtime=False)  # 4 s of audio at once
        error = await caller.wait_for("error", after=mark)
        assert error["code"] == "too_fast"
    finally:
        await caller.close()


async def test_chunks_late_or_twice_are_put_in_order_and_gaps_counted(server: LiveServer) -> None:
    caller = await connected(server, "guest-order")
    try:
        await caller.start()
        chunk = bytes(1280)
        for seq in (0, 2, 1, 1, 3, 5, 4):
            await caller.emit("audio", {"seq": seq, "pcm": chunk})
        for seq in range(15, 25):  # 6..14 never sent: a hole, given up on
            await caller.emit("audio", {"seq": seq, "pcm": chunk})
        await asyncio.sleep(0.3)
        namespace = server.services.browser.namespace
        connection = next(
            c for c in namespace.connections.values() if c.user.user_id == "guest-order"
        )
        assert connection.audio.duplicates == 1
        assert connection.audio.gaps == 9
        assert connection.audio.next_seq == 25
    finally:
        await caller.close()


async def test_more_than_100_latency_reports_a_minute_are_refused(server: LiveServer) -> None:
    caller = await connected(server, "guest-reports")
    try:
        await caller.start()
        for _ in range(101):
            await caller.emit("latency", {"name": "underrun", "ms": 3})
        error = await caller.wait_for("error", predicate=lambda d: d["code"] == "rate_limited")
        assert "100" in error["message"]
    finally:
        await caller.close()


# -- barge-in, tabs, resume ---------------------------------------------------------------------


async def test_a_barge_in_from_the_page_stops_the_agent_within_100_ms(server: LiveServer) -> None:
    caller = await connected(server, "guest-barge")
    try:
        await caller.start()
        await caller.wait_for("audio")  # the greeting is playing
        await asyncio.sleep(0.6)
        mark = len(caller.events)
        sent = await caller.barge_in()
        ack = await caller.wait_for("barge_in_ack", after=mark)
        arrived = next(t for n, _, t in caller.events[mark:] if n == "barge_in_ack")
        assert (arrived - sent) * 1000 < 300
        assert ack["reason"] == "page" and ack["turn"] == 0
        # Only what the page reported as played is kept.
        greeting = next(d["text"] for n, d, _ in caller.events if n == "agent_text")
        assert len(ack["heard"]) < len(greeting)
        await asyncio.sleep(0.3)
        late = [n for n, _, t in caller.events[mark:] if n == "audio" and t > arrived + 0.1]
        assert late == [], "no agent audio after the acknowledgement"
    finally:
        await caller.close()


async def test_a_second_tab_of_the_user_sees_the_same_transcript(server: LiveServer) -> None:
    first = await connected(server, "guest-tabs")
    second = await connected(server, "guest-tabs")
    other = await connected(server, "guest-stranger")
    try:
        await first.start()
        await first.emit("text", {"text": "hello from tab one"})
        seen = await second.wait_for("transcript_final")
        assert seen["text"] == "hello from tab one"
        assert not second.count("audio"), "audio goes to the tab that talks only"
        await asyncio.sleep(0.3)
        assert not other.count("transcript_final"), "rooms are per user"
    finally:
        for caller in (first, second, other):
            await caller.close()


async def test_a_dropped_connection_resumes_with_its_history(server: LiveServer) -> None:
    caller = await connected(server, "guest-resume")
    await caller.start()
    await caller.emit("text", {"text": "my dog's name is luna"})
    await caller.wait_for("metrics", predicate=lambda d: d["turn"] == 1, within_s=20)
    session_id = caller.session_id
    assert session_id
    await caller.close()  # the connection drops

    again = await connected(server, "guest-resume")
    try:
        await again.resume(session_id)
        resumed = await again.wait_for("session_resumed")
        assert resumed["session_id"] == session_id
        texts = [m["text"] for m in resumed["history"]]
        assert "my dog's name is luna" in texts
        assert not again.count("audio"), "a resumed session does not greet again"
        mark = len(again.events)
        await again.emit("text", {"text": "what are your opening hours"})
        await again.wait_for("agent_text", after=mark)
    finally:
        await again.close()

    stranger = await connected(server, "guest-someone-else")
    try:
        await stranger.resume(session_id)
        assert (await stranger.wait_for("error"))["code"] == "unknown_session"
    finally:
        await stranger.close()


# -- the HTTP side -----------------------------------------------------------------------------


async def test_tokens_are_limited_per_address_and_the_seed_endpoints_report(
    server: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        bad = await client.post("/api/sandra/token", json={"user_id": "a b c"})
        assert bad.status_code == 422
        persona = await client.post("/api/sandra/token", json={"user_id": "a", "persona": "zed"})
        assert persona.status_code == 422
        limit = server.services.browser.token_limit
        try:
            statuses = [
                (await client.post("/api/sandra/token", json={"user_id": "flood"})).status_code
                for _ in range(45)
            ]
        finally:  # the other tests of this module share the address
            limit._hits.clear()
        assert 429 in statuses and statuses[0] == 200
        health = (await client.get("/api/socket-server/health")).json()
        metrics = (await client.get("/api/socket-server/metrics")).json()
    assert health["status"] == "ok" and "connected_sockets" in health and "sessions" in health
    assert metrics["events_in"]["start"] >= 1 and metrics["events_out"]["audio"] > 0
    assert metrics["audio_seconds_in"] > 0 and metrics["barge_ins"] >= 1
    stages = metrics["turn_stages_last_5_min"]["first_audio_sent_ms"]
    assert stages["p50"] is not None and stages["p95"] is not None


def played_between(caller: BrowserCaller, start: float, end: float) -> bytes:
    """The agent's audio the page played between two moments (silence where none played)."""
    out = bytearray(int((end - start) * 16000) * 2)
    for chunk in caller.played:
        samples = np.frombuffer(chunk.pcm, dtype="<i2")
        first = round((chunk.at - start) * 16000)
        for_out = samples[max(0, -first) : max(0, len(out) // 2 - first)]
        if len(for_out):
            at = max(0, first) * 2
            out[at : at + len(for_out) * 2] = for_out.tobytes()
    return bytes(out)


async def test_the_agents_own_audio_coming_back_does_not_interrupt_it(server: LiveServer) -> None:
    """Laptop speakers, no echo cancellation on this path: the microphone hears the agent.
    Fed back at full level, 100 ms late, its own voice must not make it stop or answer it."""
    caller = await connected(server, "guest-echo")
    try:
        await caller.start()
        await caller.wait_for("audio")
        loop = asyncio.get_running_loop()
        started = loop.time()
        echo = 0
        for step in range(100):  # 4 s of microphone: what played 100 ms earlier
            due = started + (step + 1) * 0.04
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = time.monotonic()
            chunk = played_between(caller, now - 0.14, now - 0.10)
            echo = max(echo, int(np.abs(np.frombuffer(chunk, dtype="<i2")).max(initial=0)))
            await caller.emit("audio", {"seq": step, "pcm": chunk})
        assert echo > 3000, "the agent's voice really came back into the microphone"
        assert not caller.count("barge_in_ack"), "the echo interrupted the agent"
        assert not caller.count("transcript_final"), "the agent heard itself as the user"
    finally:
        await caller.close()
