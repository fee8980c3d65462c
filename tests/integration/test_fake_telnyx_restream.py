"""A live call that changes media streams on the fake Telnyx: ``streaming_stop`` then
``streaming_start`` elsewhere (a planned hand-over between instances), and a stream whose
instance died, picked up by ``streaming_start`` to another one. The callee goes on with its
script where the conversation was: each line once after a hand-over, the interrupted line
again when the answer to it was cut off, the next line when it was not.

Our real server (the offline default agent, in-process) answers streams where it matters. It
runs without Telnyx credentials, so every stream is a call of its own to it, opened with a
greeting: the callee takes that as whatever the new instance says first. A dying instance (or
a quick, silent one) is a small stand-in that answers by ear with tones. What the callee said
is compared by script line (``FakeCall.lines_said``), never by what a recognizer made of
synthetic speech.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from fakes.live_server import live_server
from voxagent.audio.g711 import codec_for
from voxagent.channels.telnyx.call_control import CallControlClient, TelnyxApiError
from voxagent.conversation.call import CallState
from voxagent.providers.tts.piper import PiperVoiceSynthesizer
from voxagent.services import Services
from voxagent.settings import load_settings
from voxagent.simulator.fake_telnyx import FakeCall, FakeTelnyx

pytestmark = pytest.mark.timeout(180)

TELNYX_KEY = "KEY_FAKE"
SCRIPT = [
    "i would like to book an appointment",
    "my dog's name is charlie",
    "no thank you goodbye",
]
STREAM = {
    "stream_track": "inbound_track",
    "stream_codec": "PCMU",
    "stream_bidirectional_mode": "rtp",
    "stream_bidirectional_codec": "PCMU",
}
PCMU = codec_for("PCMU")
SPEECH_RMS = 300.0
"""Louder than this is the callee's voice (its line hiss is ±8 LSB)."""


@pytest.fixture(scope="module")
def voice() -> Iterator[PiperVoiceSynthesizer]:
    """The callee's voice, loaded once for the module (loading Piper takes a while)."""
    loaded = PiperVoiceSynthesizer(workers=1)
    yield loaded
    asyncio.run(loaded.close())


# --------------------------------------------------------------------------- the pieces


@dataclass
class Server:
    services: Services
    port: int

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream/media"


@contextlib.asynccontextmanager
async def server(tmp: Path) -> AsyncIterator[Server]:
    """One instance of our server on loopback, with its offline providers."""
    tmp.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240  (a test's tmp dir, once)
    settings = load_settings(
        _env_file=None,
        api_keys="restream-test-key",
        database_url=f"sqlite+aiosqlite:///{tmp / 'calls.db'}",
        media_dir=str(tmp / "media"),
        stt_workers=1,
        tts_workers=1,
    )
    async with live_server(settings) as running:
        yield Server(running.services, running.port)


@dataclass
class ByEar:
    """An instance reduced to its turn-taking: it says ``first_s`` of tone when a stream
    starts (0: nothing), answers each of the callee's lines with ``answer_s`` of tone once
    the callee has been quiet for 0.4 s, and if ``dies_on`` is set, it dies on that line
    (counted from 0 on its own stream): its socket drops with no ``stop``, while its answer
    still plays (``mid_answer``) or most of a second after the answer has played out."""

    first_s: float = 0.6
    answer_s: float = 0.6
    dies_on: int | None = None
    mid_answer: bool = False
    url: str = ""
    lines_heard: int = 0
    answered: list[float] = field(default_factory=list)
    """When each thing it said will have played out (the loop's clock)."""
    died: asyncio.Event = field(default_factory=asyncio.Event)

    async def handler(self, ws: ServerConnection) -> None:
        loud = quiet = 0
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                if frame["event"] == "start" and self.first_s:
                    await self.say(ws, self.first_s)
                if frame["event"] != "media":
                    continue
                pcm = PCMU.decode(base64.b64decode(frame["media"]["payload"]))
                if float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > SPEECH_RMS:
                    loud, quiet = loud + 1, 0
                elif loud:
                    quiet += 1
                if loud < 10 or quiet < 20:
                    continue
                loud = quiet = 0
                self.lines_heard += 1
                if self.lines_heard - 1 == self.dies_on:
                    await self.die(ws)
                    return
                await self.say(ws, self.answer_s)

    async def say(self, ws: ServerConnection, seconds: float) -> None:
        """A tone sent at once, as an agent's answer (Telnyx queues it and plays it out)."""
        t = np.arange(int(seconds * 8000)) / 8000
        audio = PCMU.encode((np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16))
        for at in range(0, len(audio), 160):
            payload = base64.b64encode(audio[at : at + 160]).decode()
            await ws.send(json.dumps({"event": "media", "media": {"payload": payload}}))
        self.answered.append(asyncio.get_running_loop().time() + seconds)

    async def die(self, ws: ServerConnection) -> None:
        if self.mid_answer:
            await self.say(ws, 3.0)
            await asyncio.sleep(0.5)
        else:
            await self.say(ws, self.answer_s)
            await asyncio.sleep(self.answer_s + 0.7)
        assert ws.transport is not None
        ws.transport.abort()  # the instance is gone: no stop, no close frame
        self.died.set()


@contextlib.asynccontextmanager
async def by_ear(**behaviour: object) -> AsyncIterator[ByEar]:
    instance = ByEar(**behaviour)  # type: ignore[arg-type]
    async with serve(instance.handler, "127.0.0.1", 0) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        instance.url = f"ws://127.0.0.1:{port}/stream/media"
        yield instance


@contextlib.asynccontextmanager
async def fake_telnyx(
    voice: PiperVoiceSynthesizer, script: list[str], *, pause_s: float = 0.8
) -> AsyncIterator[tuple[FakeTelnyx, CallControlClient]]:
    """The fake Telnyx, whose callee waits up to 15 s for a new stream once one ended and
    speaks after ``pause_s`` of quiet."""
    async with (
        FakeTelnyx(
            api_key=TELNYX_KEY,
            callee_script=script,
            answer_delay_s=0.05,
            callee_hangup_after_s=15.0,
            callee_options={"pause_s": pause_s, "hangup_after_s": 1.2},
            tts=voice,
        ) as fake,
        CallControlClient(TELNYX_KEY, fake.base_url) as client,
    ):
        yield fake, client


async def dial(fake: FakeTelnyx, client: CallControlClient, stream_url: str) -> FakeCall:
    dialled = await client.dial(
        connection_id="1234567890",
        to="+15557770009",
        from_="+15550001000",
        stream_url=stream_url,
        **STREAM,
    )
    return fake.call(dialled.call_control_id)


async def until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


def answered_and_quiet(instance: Server, call_id: str) -> bool:
    """The instance has answered a line of the caller's and its answer has played out: the
    moment between two turns at which an instance hands a call over."""
    live = instance.services.calls.live(call_id)
    if live is None:
        return False
    roles = [message.role for message in live.history]
    return (
        "user" in roles
        and roles[-1] == "assistant"
        and live.state is CallState.LISTENING
        and not live.speaker.busy
    )


def stream_events(call: FakeCall) -> list[str]:
    return [e for e in call.event_types if e.startswith("streaming.") or e == "call.hangup"]


TWO_STREAMS = [
    "streaming.started",
    "streaming.stopped",
    "streaming.started",
    "streaming.stopped",
    "call.hangup",
]


# --------------------------------------------------------------------------- a hand-over


async def test_a_planned_hand_over_goes_on_with_the_next_line(
    tmp_path: Path, voice: PiperVoiceSynthesizer
) -> None:
    async with (
        # A pause long enough for the test to stop the stream between two turns.
        fake_telnyx(voice, SCRIPT[:2], pause_s=1.2) as (fake, client),
        server(tmp_path / "b") as leaving,
        server(tmp_path / "a") as taking_over,
    ):
        call = await dial(fake, client, leaving.stream_url)
        await until(lambda: answered_and_quiet(leaving, call.call_control_id))
        with pytest.raises(TelnyxApiError) as busy:
            await client.streaming_start(
                call.call_control_id, stream_url=taking_over.stream_url, **STREAM
            )
        assert busy.value.code == "90045", "one stream at a time, as on Telnyx"

        await client.streaming_stop(call.call_control_id)
        assert not call.streaming, "stopped for every later command at once"
        await client.streaming_start(
            call.call_control_id, stream_url=taking_over.stream_url, **STREAM
        )
        await fake.wait_ended(call.call_control_id, within_s=90)

        assert call.lines_said() == [0, 1], "each line once, in order, across the two streams"
        first, second = call.simulations
        assert first.close_reason == "streaming_stop" and first.resume_at == 1
        assert second.frames_received > 0, "the instance taking over spoke on the new stream"
        assert second.hung_up_by == "caller" and second.resume_at == 1
        assert call.script_pos == 2
        assert call.stream is not None and call.stream["stream_url"] == taking_over.stream_url
        assert stream_events(call) == TWO_STREAMS
        assert call.hangup_source == "callee"


async def test_after_a_silent_hand_over_the_callee_goes_on_by_itself(
    voice: PiperVoiceSynthesizer,
) -> None:
    async with (
        fake_telnyx(voice, SCRIPT) as (fake, client),
        by_ear() as leaving,
        by_ear(first_s=0) as taking_over,  # a hand-over: the new instance says nothing
    ):
        call = await dial(fake, client, leaving.url)
        loop = asyncio.get_running_loop()
        await until(lambda: len(leaving.answered) == 2)  # the first words, then an answer
        await asyncio.sleep(max(0.0, leaving.answered[-1] + 0.3 - loop.time()))
        await client.streaming_stop(call.call_control_id)
        await client.streaming_start(call.call_control_id, stream_url=taking_over.url, **STREAM)
        await fake.wait_ended(call.call_control_id, within_s=60)

        assert call.lines_said() == [0, 1, 2]
        first, second = call.simulations
        assert first.resume_at == 1
        assert second.turns[0].speaker == "caller", "it spoke first, into the silence"
        assert second.timeouts == 0 and second.hung_up_by == "caller"
        assert stream_events(call) == TWO_STREAMS


# --------------------------------------------------------------------------- a lost instance


async def test_a_stream_lost_mid_answer_is_picked_up_and_the_line_said_again(
    tmp_path: Path, voice: PiperVoiceSynthesizer
) -> None:
    async with (
        fake_telnyx(voice, SCRIPT[:2]) as (fake, client),
        by_ear(dies_on=1, mid_answer=True) as lost,
        server(tmp_path / "a") as survivor,
    ):
        call = await dial(fake, client, lost.url)
        await asyncio.wait_for(lost.died.wait(), 60)
        await until(lambda: not call.streaming, 10)
        await asyncio.sleep(1.0)  # a survivor notices some time later
        assert call.alive, "the call waits for a new stream"
        await client.streaming_start(call.call_control_id, stream_url=survivor.stream_url, **STREAM)
        await fake.wait_ended(call.call_control_id, within_s=90)

        assert call.lines_said() == [0, 1, 1], "the line whose answer was cut off, again"
        first, second = call.simulations
        assert first.hung_up_by == "agent" and first.close_reason == ""
        assert first.unplayed_at_end_s > 1.0 and first.resume_at == 1
        assert second.frames_received > 0, "the survivor spoke on the new stream"
        assert second.hung_up_by == "caller"
        assert call.script_pos == 2
        assert stream_events(call) == TWO_STREAMS


async def test_a_stream_lost_after_the_answer_goes_on_with_the_next_line(
    voice: PiperVoiceSynthesizer,
) -> None:
    async with (
        fake_telnyx(voice, SCRIPT) as (fake, client),
        by_ear(dies_on=1) as lost,
        by_ear(first_s=1.0) as survivor,  # "sorry, I lost you for a second"
    ):
        call = await dial(fake, client, lost.url)
        await asyncio.wait_for(lost.died.wait(), 60)
        await until(lambda: not call.streaming, 10)
        await asyncio.sleep(1.0)
        await client.streaming_start(call.call_control_id, stream_url=survivor.url, **STREAM)
        await fake.wait_ended(call.call_control_id, within_s=60)

        assert call.lines_said() == [0, 1, 2]
        first, second = call.simulations
        assert first.hung_up_by == "agent" and first.unplayed_at_end_s == 0
        assert first.resume_at == 2
        assert second.turns[0].speaker == "agent", "the survivor's apology came first"
        assert stream_events(call) == TWO_STREAMS
