"""WebRTC's sans-I/O parts: ICE server lists and TURN credentials, signaling checks, and the
agent's outgoing track (pacing, marks, what was heard) on a controlled clock."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from voxagent.channels.webrtc.ice_servers import IcePlan, turn_rest_credentials
from voxagent.channels.webrtc.signaling import (
    AnswerRequest,
    IceRequest,
    OfferRequest,
    parse_candidate_line,
)
from voxagent.channels.webrtc.tracks import FRAME_BYTES, AgentAudioTrack
from voxagent.settings import SettingsError, load_settings

OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
HOST = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host generation 0"


# -- ICE servers -----------------------------------------------------------------------------------


def test_turn_rest_credentials_are_coturns_scheme() -> None:
    # Checked against `openssl dgst -sha1 -hmac coturn-shared-secret -binary | base64`.
    name, password = turn_rest_credentials(
        "coturn-shared-secret", "guest-42", ttl_s=3600, now=1_700_000_000.7
    )
    assert name == "1700003600:guest-42"
    assert password == "bwDic05zEGUv4qwRtj1GT89Q9A0="


def test_the_browser_gets_at_most_four_servers_and_aiortc_the_first_of_each() -> None:
    plan = IcePlan.from_settings(
        stun_servers="stun:a:1, stun:b:2,stun:c:3,stun:d:4,stun:e:5",
        turn_url="turn:t1:3478,turns:t2:5349",
        turn_secret="s3cret",
    )
    browser = plan.for_browser("u", now=1000)
    assert len(browser) == 4
    assert [s.urls for s in browser[:3]] == [("stun:a:1",), ("stun:b:2",), ("stun:c:3",)]
    turn = browser[-1]
    assert turn.urls == ("turn:t1:3478", "turns:t2:5349")
    assert turn.username == "4600:u" and turn.credential
    server = plan.for_server("u", now=1000)
    assert [s.urls for s in server] == [("stun:a:1",), ("turn:t1:3478",)]
    assert server[1].username == turn.username
    assert turn.as_browser() == {
        "urls": ["turn:t1:3478", "turns:t2:5349"],
        "username": "4600:u",
        "credential": turn.credential,
    }


def test_static_turn_credentials_and_no_servers_at_all() -> None:
    plan = IcePlan.from_settings(
        stun_servers="", turn_url="turn:t:3478", turn_username="me", turn_password="pw"
    )
    assert [s.as_browser() for s in plan.for_browser("u", now=0)] == [
        {"urls": ["turn:t:3478"], "username": "me", "credential": "pw"}
    ]
    assert IcePlan.from_settings(stun_servers="").for_browser("u", now=0) == []


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"stun_servers": "http://stun.example"}, "STUN_SERVERS"),
        ({"turn_url": "stun:wrong"}, "TURN_URL"),
        ({"turn_url": "turn:t:3478"}, "TURN_URL"),
        ({"webrtc_host_addresses": "eth0"}, "WEBRTC_HOST_ADDRESSES"),
    ],
)
def test_bad_webrtc_settings_stop_start_up_naming_the_setting(
    settings: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(_env_file=None, **settings).check()  # type: ignore[arg-type]


def test_the_seeds_turn_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REACT_APP_TURN_SERVER", "turn:seed:3478")
    monkeypatch.setenv("REACT_APP_TURN_USERNAME", "seed-user")
    monkeypatch.setenv("REACT_APP_TURN_PASSWORD", "seed-pass")
    settings = load_settings(_env_file=None)
    assert (settings.turn_url, settings.turn_username) == ("turn:seed:3478", "seed-user")
    assert "seed-pass" in settings.secrets()


# -- signaling -------------------------------------------------------------------------------------


def test_an_offer_needs_an_sdp_that_looks_like_one() -> None:
    assert OfferRequest.model_validate({"session_id": "s", "sdp": OFFER}).sdp
    assert OfferRequest.model_validate({"session_id": "s"}).sdp is None  # we offer
    for sdp in ("hello", "v=0\r\ns=-\r\n", "x" * 40_000):
        with pytest.raises(ValidationError):
            OfferRequest.model_validate({"session_id": "s", "sdp": sdp})
    with pytest.raises(ValidationError):
        OfferRequest.model_validate({"session_id": "s", "sdp": OFFER, "type": "answer"})
    with pytest.raises(ValidationError):
        OfferRequest.model_validate({"session_id": "s", "pc_id": "../../etc"})
    with pytest.raises(ValidationError):
        AnswerRequest.model_validate({"pc_id": "pc-" + "a" * 32, "sdp": "nope"})


def test_candidates_are_read_in_the_browsers_shape_and_end_of_candidates_is_empty() -> None:
    request = IceRequest.model_validate(
        {
            "pc_id": "pc-" + "a" * 32,
            "candidates": [
                {"candidate": HOST, "sdpMid": "0", "sdpMLineIndex": 0},
                {"candidate": ""},
            ],
        }
    )
    first, last = request.all()
    assert (first.sdp_mid, first.sdp_mline_index, first.end_of_candidates) == ("0", 0, False)
    assert last.end_of_candidates
    single = IceRequest.model_validate(
        {"pc_id": "pc-" + "a" * 32, "candidate": {"candidate": HOST}}
    )
    assert len(single.all()) == 1
    with pytest.raises(ValidationError):
        IceRequest.model_validate({"pc_id": "pc-" + "a" * 32, "candidates": [{"candidate": "x"}]})
    fields = parse_candidate_line("a=" + HOST.replace("host", "srflx raddr 0.0.0.0 rport 0"))
    assert (fields["type"], fields["ip"], fields["port"]) == ("srflx", "127.0.0.1", "50000")


# -- the agent's track -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(level: int) -> bytes:
    return level.to_bytes(2, "little", signed=True) * (FRAME_BYTES // 2)


async def test_the_track_sends_queued_speech_then_silence_and_counts_what_was_heard() -> None:
    clock = Clock()
    track = AgentAudioTrack(clock=clock)
    track.jitter_s = 0.05
    marks: list[str] = []
    track.on_mark = marks.append
    for _ in range(3):
        track.push(frame(1000))
    track.mark("s1")
    sent = []
    for _ in range(5):
        out = await track.recv()
        sent.append(bytes(out.planes[0])[:FRAME_BYTES])
        assert out.sample_rate == 16000 and out.samples == 320
        clock.now += 0.02
    assert sent[:3] == [frame(1000)] * 3 and sent[3:] == [bytes(FRAME_BYTES)] * 2
    # Frames left at 100.00, .02, .04; with 50 ms in the jitter buffer at 100.10, the first
    # three are heard.
    assert track.played_bytes() == 3 * FRAME_BYTES
    clock.now = 100.06
    assert track.played_bytes() == 1 * FRAME_BYTES
    await asyncio.sleep(0.08)  # the mark is told after the jitter delay
    assert marks == ["s1"]


async def test_clear_drops_queued_frames_and_their_marks_at_once() -> None:
    track = AgentAudioTrack(clock=Clock())
    marks: list[str] = []
    track.on_mark = marks.append
    for _ in range(10):
        track.push(frame(500))
    track.mark("never")
    assert track.clear() == 10 * FRAME_BYTES
    out = await track.recv()
    assert bytes(out.planes[0])[:FRAME_BYTES] == bytes(FRAME_BYTES)
    assert track.played_bytes() == 0 and marks == []
    with pytest.raises(ValueError, match="20 ms"):
        track.push(b"\0" * 10)
