"""The media-stream edge under bad input, both codecs, and shutdown, against a real server."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
import websockets
from server_process import Server, start_server, stop_server

from voxagent.audio.g711 import codec_for
from voxagent.audio.resample import resample
from voxagent.channels.telnyx import media_protocol as proto


def get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def open_stream(url: str, encoding: str = "PCMU") -> tuple[websockets.ClientConnection, str]:
    ws = await websockets.connect(url, max_size=2**22)
    stream_id = str(uuid.uuid4())
    await ws.send(proto.connected_message())
    await ws.send(
        proto.start_message(
            stream_id,
            f"v3:{uuid.uuid4().hex}",
            call_session_id=str(uuid.uuid4()),
            from_number="+15550001111",
            to_number="+15550002222",
            encoding=encoding,
        )
    )
    return ws, stream_id


async def collect_agent_audio(ws: websockets.ClientConnection, seconds: float) -> list[bytes]:
    payloads: list[bytes] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except (TimeoutError, websockets.ConnectionClosed):
            break
        message = proto.parse_outbound(raw)
        if isinstance(message, proto.OutboundMedia):
            payloads.append(message.payload)
    return payloads


def recognize(pcm8k: np.ndarray) -> str:
    from pocketsphinx import Config, Decoder

    decoder = Decoder(Config(samprate=16000, loglevel="FATAL"))
    decoder.start_utt()
    decoder.process_raw(resample(pcm8k, 8000, 16000).tobytes(), False, True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


async def test_malformed_messages_are_dropped_and_the_call_goes_on(server: Server) -> None:
    _, before = get_json(f"{server.http}/health")
    ws, stream_id = await open_stream(server.ws)
    bad: list[str | bytes] = [
        "{not json",
        "[1, 2, 3]",
        json.dumps({"event": "teleport"}),
        json.dumps({"event": "media", "media": {"payload": "%%%not-base64%%%"}}),
        json.dumps({"event": "media", "media": {"payload": ""}}),
        "x" * (100 * 1024),  # oversized
        b"\x00\xff binary junk",
    ]
    for message in bad:
        await ws.send(message)
    # A good frame after the garbage is still accepted, and the greeting still plays.
    silence = bytes([0xFF]) * 160
    await ws.send(
        proto.inbound_media_message(stream_id, silence, chunk=1, timestamp=0, sequence_number=2)
    )
    audio = await collect_agent_audio(ws, 4.0)
    assert len(audio) > 50, "the agent still greets after malformed input"
    _, after = get_json(f"{server.http}/health")
    stats_before, stats_after = before["stats"], after["stats"]
    assert isinstance(stats_before, dict) and isinstance(stats_after, dict)
    assert stats_after["malformed_messages"] - stats_before["malformed_messages"] >= len(bad)
    assert after["active_calls"] == 1
    await ws.send(proto.stop_message(stream_id, "v3:x", sequence_number=3))
    await ws.close()


@pytest.mark.parametrize("encoding", ["PCMA", "PCMU"])
async def test_the_call_codec_is_used_in_both_directions(server: Server, encoding: str) -> None:
    ws, _stream_id = await open_stream(server.ws, encoding)
    audio = await collect_agent_audio(ws, 6.0)
    await ws.close()
    codec = codec_for(encoding)
    pcm = codec.decode(b"".join(audio))
    text = recognize(pcm)
    assert "help you" in text or "good" in text, f"{encoding} greeting recognized as {text!r}"
    other = codec_for("PCMU" if encoding == "PCMA" else "PCMA")
    wrong = recognize(other.decode(b"".join(audio)))
    assert wrong != text, "decoding with the other law must not give the same speech"


async def test_unsupported_codec_is_refused_clearly(server: Server) -> None:
    ws = await websockets.connect(server.ws)
    await ws.send(proto.connected_message())
    start = json.loads(
        proto.start_message("s", "v3:c", call_session_id="x", from_number="+1", to_number="+2")
    )
    start["start"]["media_format"]["encoding"] = "OPUS"
    await ws.send(json.dumps(start))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_shutdown_drains_calls_and_refuses_new_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path, SHUTDOWN_GRACE_SECONDS="1")
    try:
        ws, _ = await open_stream(server.ws)
        await collect_agent_audio(ws, 1.0)
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        status, health = get_json(f"{server.http}/health")
        assert status == 503 and health["status"] == "draining"
        refused = await websockets.connect(server.ws)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        # The active call hears a polite line, then the server ends it.
        polite = await collect_agent_audio(ws, 12.0)
        assert len(polite) > 25
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1000
    finally:
        code = stop_server(server)
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    assert "draining" in server.log()
