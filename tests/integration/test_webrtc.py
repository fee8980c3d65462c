"""WebRTC audio for browser sessions, with aiortc as the page's peer in the test's own process,
on loopback only (both ICE agents offer 127.0.0.1 and no STUN). The server is the real app on
the offline default; what is checked is the transport, not what a recognizer heard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from fakes.live_server import LiveServer, live_server
from voxagent.settings import load_settings
from voxagent.simulator.browser import BrowserCaller, get_token
from voxagent.simulator.webrtc_peer import PagePeer

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

SECRET = "w" * 40
MAX_PEERS = 3


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("webrtc")
    settings = load_settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
        media_dir=str(tmp / "media"),
        jwt_secret=SECRET,
        browser_persona="maria",
        tokens_per_minute_per_ip=0,
        stun_servers="",
        webrtc_host_addresses="127.0.0.1",
        webrtc_max_peers=MAX_PEERS,
        webrtc_connect_timeout_s=3,
        stt_workers=1,
        tts_workers=1,
    )
    async with live_server(settings) as running:
        yield running


async def session(server: LiveServer, user: str) -> tuple[BrowserCaller, str]:
    token = await get_token(server.url, user)
    caller = BrowserCaller(server.url, token)
    await caller.connect()
    await caller.start()
    assert caller.session_id
    return caller, token


async def talking(server: LiveServer, user: str) -> tuple[BrowserCaller, PagePeer]:
    caller, token = await session(server, user)
    peer = PagePeer(server.url, token, caller.session_id or "")
    await peer.connect()
    await peer.wait_channel_open()
    await caller.wait_for("webrtc_state", predicate=lambda d: d.get("state") == "connected")
    return caller, peer


async def hang_up(caller: BrowserCaller, peer: PagePeer | None = None) -> None:
    if peer is not None:
        await peer.close()
    await caller.close()


def peers(server: LiveServer) -> int:
    webrtc = server.services.webrtc
    assert webrtc is not None
    return len(webrtc.peers)


async def until(condition: object, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# -- the happy path --------------------------------------------------------------------------------


async def test_a_peer_connects_fast_and_the_agent_speaks_over_it(server: LiveServer) -> None:
    caller, peer = await talking(server, "rtc-1")
    try:
        assert peer.connected_after_s is not None and peer.connected_after_s < 2.0
        await caller.wait_for("audio_end", within_s=20)  # the greeting (it began on Socket.IO)
        await asyncio.sleep(0.5)
        socket_audio = caller.count("audio")
        asked = time.monotonic()
        peer.send("text", {"text": "what are your opening hours"})
        await peer.wait_for("transcript_final")
        await peer.wait_for("agent_text")
        heard = await peer.wait_loud(after=asked, within_s=20)
        assert heard > asked
        states = {data["state"] for name, data, _ in peer.events if name == "state"}
        assert {"thinking", "speaking"} <= states, "state events come over the data channel"
        await until(lambda: caller.count("audio_end") >= 2, 20)
        assert caller.count("audio") == socket_audio, "agent audio left on the track only"
        assert caller.count("transcript_final") >= 1, "Socket.IO stays the event channel"
    finally:
        await hang_up(caller, peer)


async def test_the_microphone_over_webrtc_reaches_the_listener(server: LiveServer) -> None:
    from voxagent.providers.tts.piper import PiperVoiceSynthesizer
    from voxagent.simulator.browser import render_line

    voice = PiperVoiceSynthesizer(workers=1)
    try:
        line = render_line(voice, "i would like to book an appointment for my dog")
    finally:
        await voice.close()
    caller, peer = await talking(server, "rtc-2")
    try:
        await caller.wait_for("audio_end", within_s=20)
        mark = len(peer.events)
        await peer.mic.queue(line).wait()
        await peer.wait_for("state", after=mark, within_s=10)
        said = [d["state"] for n, d, _ in peer.events[mark:] if n == "state"]
        assert "user_speaking" in said, said
        metrics = server.services.browser.namespace.metrics
        assert metrics.audio_in_s > 2.0
    finally:
        await hang_up(caller, peer)


async def test_a_barge_in_on_the_data_channel_silences_the_track(server: LiveServer) -> None:
    caller, peer = await talking(server, "rtc-3")
    try:
        await caller.wait_for("audio_end", within_s=20)
        asked = time.monotonic()
        peer.send("text", {"text": "what are your prices"})
        await peer.wait_loud(after=asked, within_s=20)
        await asyncio.sleep(0.4)  # the agent is mid-sentence
        mark = len(peer.events)
        sent = time.monotonic()
        peer.send("barge_in", {})
        await peer.wait_for("barge_in_ack", after=mark, within_s=2)
        acked = next(t for n, _, t in peer.events[mark:] if n == "barge_in_ack")
        assert acked - sent < 0.3
        await asyncio.sleep(1.0)
        late = [t for t in peer.loud_frames if t > sent + 0.3]
        assert not late, f"agent audio {len(late)} frames after the barge-in"
    finally:
        await hang_up(caller, peer)


async def test_a_killed_peer_is_rebuilt_and_the_conversation_goes_on(server: LiveServer) -> None:
    caller, peer = await talking(server, "rtc-4")
    second: PagePeer | None = None
    try:
        await caller.wait_for("audio_end", within_s=20)
        webrtc = server.services.webrtc
        assert webrtc is not None
        mark = len(caller.events)
        await webrtc.peers[peer.pc_id].close("killed")
        await caller.wait_for(
            "webrtc_state", after=mark, predicate=lambda d: d.get("state") == "closed"
        )
        # Until a new peer is up, the agent's audio comes over Socket.IO.
        caller.played.clear()
        await caller.emit("text", {"text": "what is your address"})
        await caller.wait_for("audio", after=mark, within_s=20)
        await until(lambda: caller.count("audio_end") >= 2, 20)
        second = PagePeer(server.url, caller.token, caller.session_id or "")
        await second.connect(restart_of=peer.pc_id)
        await second.wait_channel_open()
        asked = time.monotonic()
        second.send("text", {"text": "what are your opening hours"})
        await second.wait_loud(after=asked, within_s=20)
        history = server.services.browser.namespace.live[caller.session_id or ""].call
        assert history is not None and len(history.history) >= 4, "the same conversation"
    finally:
        if second is not None:
            await second.close()
        await hang_up(caller, peer)


# -- doors and limits ------------------------------------------------------------------------------


def offer_sdp() -> str:
    return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


async def test_signaling_refuses_bad_input_with_clear_4xx_and_lives_on(server: LiveServer) -> None:
    caller, token = await session(server, "rtc-5")
    good = {"Authorization": f"Bearer {token}"}
    expired = server.services.browser.issuer.issue("rtc-5", now=time.time() - 3600)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            body = {"sdp": offer_sdp(), "type": "offer", "session_id": caller.session_id}
            for headers in (
                {},
                {"Authorization": "Bearer forged"},
                {"Authorization": f"Bearer {expired}"},
            ):
                refused = await http.post("/api/webrtc/offer", json=body, headers=headers)
                assert refused.status_code == 401, refused.text
            not_sdp = await http.post(
                "/api/webrtc/offer", json=body | {"sdp": "hello"}, headers=good
            )
            assert not_sdp.status_code == 422 and "v=0" in not_sdp.text
            broken = await http.post("/api/webrtc/offer", json=body, headers=good)
            assert broken.status_code == 400 and broken.json()["code"] == "bad_payload"
            unknown = await http.post(
                "/api/webrtc/offer", json=body | {"session_id": "nope"}, headers=good
            )
            assert unknown.status_code == 404
            other_token = await get_token(server.url, "rtc-someone-else")
            theirs = await http.post(
                "/api/webrtc/offer", json=body, headers={"Authorization": f"Bearer {other_token}"}
            )
            assert theirs.status_code == 403
            ice = await http.post(
                "/api/webrtc/ice",
                json={"pc_id": "pc-" + "0" * 32, "candidates": [{"candidate": ""}]},
                headers=good,
            )
            assert ice.status_code == 404
            bad_line = await http.post(
                "/api/webrtc/ice",
                json={"pc_id": "pc-" + "0" * 32, "candidates": [{"candidate": "rubbish"}]},
                headers=good,
            )
            assert bad_line.status_code == 422
            config = await http.get("/api/webrtc/config", headers=good)
            assert config.status_code == 200 and config.json()["iceServers"] == []
            health = await http.get("/health")
            assert health.status_code == 200
        assert peers(server) == 0, "a refused offer leaves no peer behind"
    finally:
        await caller.close()


async def test_too_many_peers_are_refused_and_a_silent_one_times_out(server: LiveServer) -> None:
    """Peers that offer and never connect hold their place until the connect timeout (3 s)."""
    callers = [await session(server, f"rtc-full-{i}") for i in range(MAX_PEERS + 1)]
    webrtc = server.services.webrtc
    assert webrtc is not None
    before = webrtc.counters["closed_connect_timeout"]
    waiting: list[PagePeer] = []
    try:
        for caller, token in callers[:MAX_PEERS]:
            page = PagePeer(server.url, token, caller.session_id or "")
            await page.pc.setLocalDescription(await page.pc.createOffer())
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
                made = await http.post(
                    "/api/webrtc/offer",
                    json={
                        "sdp": page.pc.localDescription.sdp,
                        "type": "offer",
                        "session_id": caller.session_id,
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
            assert made.status_code == 200, made.text
            waiting.append(page)  # never takes the answer: never connects
        caller, token = callers[-1]
        over = PagePeer(server.url, token, caller.session_id or "")
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await over.connect()
        assert refused.value.response.status_code == 503
        assert "WEBRTC_MAX_PEERS" in refused.value.response.text
        await over.close()
        await until(lambda: peers(server) == 0, 8)
        assert webrtc.counters["closed_connect_timeout"] - before == MAX_PEERS
    finally:
        for page in waiting:
            await page.close()
        for caller, _ in callers:
            await caller.close()


async def test_ending_the_session_frees_its_peer(server: LiveServer) -> None:
    caller, peer = await talking(server, "rtc-6")
    try:
        assert peers(server) == 1
        await caller.emit("end", {})
        await caller.wait_for("session_ended")
        await until(lambda: peers(server) == 0, 5)
    finally:
        await hang_up(caller, peer)


async def test_signaling_also_works_over_socketio(server: LiveServer) -> None:
    caller, token = await session(server, "rtc-7")
    page = PagePeer(server.url, token, caller.session_id or "")
    try:
        await page.pc.setLocalDescription(await page.pc.createOffer())
        mark = len(caller.events)
        await caller.emit(
            "webrtc_offer",
            {"sdp": page.pc.localDescription.sdp, "type": "offer", "session_id": caller.session_id},
        )
        answer = await caller.wait_for("webrtc_answer", after=mark)
        from aiortc import RTCSessionDescription

        await page.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await caller.wait_for(
            "webrtc_state", after=mark, predicate=lambda d: d.get("state") == "connected"
        )
        await caller.emit("webrtc_ice", {"pc_id": "bad"})
        error = await caller.wait_for("error", after=mark)
        assert error["code"] == "bad_payload"
        await caller.emit("network_report", {"stun_ok": True, "candidate_types": ["host", "srflx"]})
        ack = await caller.wait_for("network_report_ack", after=mark)
        assert ack["verdict"] == "direct"
    finally:
        await page.close()
        await caller.close()


async def test_the_server_can_offer_and_candidates_can_trickle(server: LiveServer) -> None:
    """The seed's three-endpoint shape: we offer, the page answers (``/answer``), and the
    page's candidates arrive by ``/ice`` (an empty one ends them)."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    caller, token = await session(server, "rtc-8")
    page = RTCPeerConnection()
    connected = asyncio.Event()

    @page.on("connectionstatechange")
    async def _changed() -> None:
        if page.connectionState == "connected":
            connected.set()

    auth = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as http:
            offered = await http.post(
                "/api/webrtc/offer", json={"session_id": caller.session_id}, headers=auth
            )
            assert offered.status_code == 200, offered.text
            offer = offered.json()
            assert offer["type"] == "offer" and "m=audio" in offer["sdp"]
            await page.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await page.setLocalDescription(await page.createAnswer())
            sdp = page.localDescription.sdp
            answered = await http.post(
                "/api/webrtc/answer", json={"pc_id": offer["pc_id"], "sdp": sdp}, headers=auth
            )
            assert answered.status_code == 200, answered.text
            again = await http.post(
                "/api/webrtc/answer", json={"pc_id": offer["pc_id"], "sdp": sdp}, headers=auth
            )
            assert again.status_code == 400, "an answer is taken once"
            lines = [line[2:] for line in sdp.splitlines() if line.startswith("a=candidate:")]
            trickled = await http.patch(
                "/api/webrtc/offer",
                json={
                    "pc_id": offer["pc_id"],
                    "candidates": [
                        {"candidate": lines[0], "sdpMid": "0", "sdpMLineIndex": 0},
                        {"candidate": ""},
                    ],
                },
                headers=auth,
            )
            assert trickled.status_code == 200 and trickled.json()["added"] == 1, trickled.text
        await asyncio.wait_for(connected.wait(), 10)
        await caller.wait_for("webrtc_state", predicate=lambda d: d.get("state") == "connected")
    finally:
        await page.close()
        await caller.close()
