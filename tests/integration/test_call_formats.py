"""One audio format per call, declared by its channel: the factory gives every provider the
call's own format where it has it, and converts once where it does not.

The providers are the real clients against their loopback fakes, so what is checked is what
went over the wire: the encoding Deepgram was told, the output format ElevenLabs and Cartesia
were asked for, and the bytes that came back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from fakes.deepgram_server import FakeDeepgram
from fakes.engine import collect
from fakes.tts_servers import FakeCartesia, FakeElevenLabs
from voxagent.audio.format import PCM16_16K, PCMA_8K, PCMU_8K, AudioFormat, Encoding
from voxagent.calls.factory import CallFactory
from voxagent.calls.info import CallInfo
from voxagent.settings import load_settings
from voxagent.state.database import Database

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def factory(
    tmp_path: Path,
) -> AsyncIterator[tuple[CallFactory, FakeDeepgram, FakeElevenLabs, FakeCartesia]]:
    async with (
        FakeDeepgram(api_key="dg") as deepgram,
        FakeElevenLabs(api_key="el") as eleven,
        FakeCartesia(api_key="ca") as cartesia,
    ):
        settings = load_settings(
            _env_file=None,
            stt_provider="deepgram",
            deepgram_api_key="dg",
            deepgram_base_url=deepgram.url,
            tts_provider="elevenlabs,cartesia,piper",
            elevenlabs_api_key="el",
            elevenlabs_base_url=eleven.base_url,
            cartesia_api_key="ca",
            cartesia_base_url=cartesia.base_url,
            tts_workers=1,
        )
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}")
        await db.connect()
        made = CallFactory(settings, db, lambda *args: None)
        await made.start(PCMU_8K)
        try:
            yield made, deepgram, eleven, cartesia
        finally:
            await made.close()
            await db.close()


@pytest.mark.parametrize(
    ("fmt", "eleven_format", "cartesia_format", "deepgram_query"),
    [
        (PCMU_8K, "ulaw_8000", ("pcm_mulaw", 8000), ("mulaw", "8000")),
        (PCMA_8K, "alaw_8000", ("pcm_alaw", 8000), ("alaw", "8000")),
        (PCM16_16K, "pcm_16000", ("pcm_s16le", 16000), ("linear16", "16000")),
    ],
    ids=str,
)
async def test_every_provider_speaks_the_calls_own_format(
    factory: tuple[CallFactory, FakeDeepgram, FakeElevenLabs, FakeCartesia],
    fmt: AudioFormat,
    eleven_format: str,
    cartesia_format: tuple[str, int],
    deepgram_query: tuple[str, str],
) -> None:
    made, deepgram, eleven, cartesia = factory
    parts = made.parts(CallInfo("call-fmt"), fmt)

    # The voices: the cloud ones were asked for the call's format, Piper stays native.
    voices = parts.voice.chain.providers
    assert [v.output_format for v in voices] == [fmt, fmt, AudioFormat(Encoding.PCM16, 22050)]
    assert parts.voice.output_format == fmt
    audio = await collect(parts.voice.synthesize("Hello there."))
    sent = [s for s in eleven.sessions if s.messages][-1]
    assert sent.query["output_format"] == eleven_format
    assert audio == b"".join(sent.audio), "the call gets ElevenLabs' bytes untouched"

    # Cartesia, asked directly (the chain only reaches it when ElevenLabs fails).
    raw = await collect(voices[1].synthesize("Hello there."))
    context = list(cartesia.contexts.values())[-1]
    output = context.requests[0]["output_format"]
    assert (output["encoding"], output["sample_rate"]) == cartesia_format
    assert raw == b"".join(context.audio)

    # Deepgram is told the call's encoding and rate and hears the call's bytes as they came.
    stream = parts.recognizer.open_stream(fmt, lambda text: None)
    speech = fmt.encode((np.sin(np.arange(fmt.sample_rate // 2) / 3) * 6000).astype(np.int16))
    stream.feed(speech)
    await stream.finish()
    connection = deepgram.connections[-1]
    assert (connection.query["encoding"], connection.query["sample_rate"]) == deepgram_query
    assert bytes(connection.audio) == speech


async def test_piper_is_resampled_once_into_a_phone_call(
    factory: tuple[CallFactory, FakeDeepgram, FakeElevenLabs, FakeCartesia],
) -> None:
    made, _, _, _ = factory
    piper = made.piper
    assert piper is not None
    voice = made.voice(CallInfo("call-p"), PCMU_8K)
    voice.chain.providers[:] = [piper]  # as if both cloud voices had failed
    mulaw = await collect(voice.synthesize("How can I help you?"))
    native = await collect(piper.synthesize("How can I help you?"))
    seconds = len(native) / 2 / piper.sample_rate
    assert abs(len(mulaw) / 8000 - seconds) < 0.02  # one conversion: same length, 8 kHz μ-law
