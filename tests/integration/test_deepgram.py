"""DeepgramRecognizer end to end against the fake Deepgram on loopback.

Timings are shrunk (keepalive, idle timeout, backoff) so the module runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from fakes.deepgram_server import FakeDeepgram
from voxagent.audio.format import PCM16_16K, PCMA_8K, PCMU_8K, AudioFormat
from voxagent.providers.errors import ProviderAuthError, ProviderUnavailable
from voxagent.providers.stt.deepgram import DeepgramRecognizer

pytestmark = pytest.mark.timeout(15)


def recognizer(fake: FakeDeepgram, **kwargs: object) -> DeepgramRecognizer:
    options: dict[str, object] = {"keepalive_s": 0.1, "backoff_s": 0.02, "finalize_timeout_s": 1}
    options.update(kwargs)
    return DeepgramRecognizer(fake.api_key, base_url=fake.url, **options)  # type: ignore[arg-type]


def silence(ms: int, fmt: AudioFormat = PCMU_8K) -> bytes:
    return fmt.silence(fmt.bytes_for_ms(ms))


def ulaw(pcm: np.ndarray) -> bytes:
    """Phone audio: the fake's word levels are exact μ-law values, so nothing is lost."""
    return PCMU_8K.encode(pcm)


async def feed_in_chunks(stream: object, audio: bytes, chunk: int = 160) -> None:
    """Feed 20 ms packets (of bytes) like a phone call would, yielding so the sender can run."""
    for i in range(0, len(audio), chunk):
        stream.feed(audio[i : i + chunk])  # type: ignore[attr-defined]
        await asyncio.sleep(0)


async def test_interim_results_then_final_on_finalize() -> None:
    async with FakeDeepgram() as fake:
        rec = recognizer(fake)
        interims: list[str] = []
        stream = rec.open_stream(PCMU_8K, interims.append)
        await feed_in_chunks(stream, ulaw(fake.speak("hello my name is alice")))
        text = await stream.finish()
        assert text == "hello my name is alice"
        assert interims and interims[-1] == "hello my name is alice"
        assert "hello" in interims
        (conn,) = fake.connections
        assert conn.query["encoding"] == "mulaw" and conn.query["sample_rate"] == "8000"
        assert conn.query["model"] == "nova-2" and conn.query["interim_results"] == "true"
        assert conn.finalizes == 1 and conn.close_stream
        assert conn.close_code == 1000
        assert conn.sent[-1]["type"] == "Metadata"
        assert conn.bytes_finalized == conn.bytes_received
        await rec.close()


async def test_endpointed_segments_accumulate_and_interims_include_them() -> None:
    async with FakeDeepgram() as fake:
        rec = recognizer(fake)
        interims: list[str] = []
        stream = rec.open_stream(PCMU_8K, interims.append)
        audio = ulaw(fake.speak("yes please")) + silence(400) + ulaw(fake.speak("thanks"))
        await feed_in_chunks(stream, audio)
        assert await stream.finish() == "yes please thanks"
        finals = [m for m in fake.connections[0].sent if m["type"] == "Results" and m["is_final"]]
        assert finals[0]["speech_final"] is True
        assert "yes please thanks" in interims


async def test_linear16_at_16k() -> None:
    async with FakeDeepgram() as fake:
        rec = recognizer(fake)
        stream = rec.open_stream(PCM16_16K, lambda _: None)
        assert stream.encoding == "linear16"
        speech = PCM16_16K.encode(fake.speak("i need an appointment", 16000))
        await feed_in_chunks(stream, speech, chunk=640)
        assert await stream.finish() == "i need an appointment"
        (conn,) = fake.connections
        assert conn.query["encoding"] == "linear16" and conn.query["sample_rate"] == "16000"
        assert conn.bytes_received == len(speech)
        assert bytes(conn.audio) == speech, "the 16-bit PCM bytes fed, untouched"
        assert conn.bytes_finalized == len(speech)
        await rec.close()


async def test_alaw_bytes_go_out_as_alaw_untouched() -> None:
    async with FakeDeepgram() as fake:
        rec = recognizer(fake)
        stream = rec.open_stream(PCMA_8K, lambda _: None)
        assert stream.encoding == "alaw"
        speech = PCMA_8K.encode(fake.speak("yes please", 8000))
        await feed_in_chunks(stream, speech)
        assert await stream.finish() == "yes please"
        (conn,) = fake.connections
        assert conn.query["encoding"] == "alaw" and conn.query["sample_rate"] == "8000"
        assert bytes(conn.audio) == speech, "exactly the A-law bytes fed"
        assert conn.bytes_finalized == len(speech)  # A-law: one byte per sample
        await rec.close()


async def test_ulaw_bytes_go_out_untouched() -> None:
    # Every μ-law byte. 0x7F and 0xFF both mean zero: a decode/encode round trip would
    # turn the first into the second, so equality proves no conversion happened.
    noise = bytes(range(256)) * 4
    async with FakeDeepgram() as fake:
        rec = recognizer(fake)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        assert stream.encoding == "mulaw"
        fed = ulaw(fake.speak("hello")) + noise + ulaw(fake.speak("thanks"))
        await feed_in_chunks(stream, fed)
        await stream.finish()
        (conn,) = fake.connections
        assert conn.query["encoding"] == "mulaw" and conn.query["sample_rate"] == "8000"
        assert bytes(conn.audio) == fed, "byte for byte"
        await rec.close()


async def test_keepalive_holds_an_idle_stream_open_past_the_idle_timeout() -> None:
    async with FakeDeepgram(idle_timeout_s=0.3) as fake:
        rec = recognizer(fake, keepalive_s=0.1)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        await feed_in_chunks(stream, ulaw(fake.speak("hello")))
        await asyncio.sleep(1.0)  # the caller pauses, far past the idle timeout
        await feed_in_chunks(stream, ulaw(fake.speak("thanks")))
        assert await stream.finish() == "hello thanks"
        (conn,) = fake.connections
        assert conn.keepalives >= 5
        assert conn.close_code == 1000


async def test_without_keepalive_the_fake_closes_idle_streams_like_deepgram() -> None:
    async with FakeDeepgram(idle_timeout_s=0.2) as fake:
        rec = recognizer(fake, keepalive_s=5.0)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        await feed_in_chunks(stream, ulaw(fake.speak("hello")))
        await asyncio.sleep(0.6)
        assert fake.connections[0].close_code == 1011
        assert fake.connections[0].close_reason == "NET-0001"
        # The recognizer reconnects, so the utterance still completes.
        await feed_in_chunks(stream, ulaw(fake.speak("thanks")))
        assert await stream.finish() == "hello thanks"


async def test_dropped_socket_reconnects_and_resends_unfinalized_audio() -> None:
    async with FakeDeepgram(drop_after_bytes=8000) as fake:
        rec = recognizer(fake)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        before = ulaw(fake.speak("hello my")) + silence(400) + ulaw(fake.speak("name is"))
        during = ulaw(fake.speak("alice at ten"))
        await feed_in_chunks(stream, before)
        await asyncio.wait_for(fake.dropped.wait(), 2)
        await feed_in_chunks(stream, during)  # spoken while the socket is down
        text = await stream.finish()
        assert text == "hello my name is alice at ten"
        assert len(fake.connections) == 2
        total = len(before) + len(during)  # μ-law: one byte per sample
        assert sum(c.bytes_finalized for c in fake.connections) == total
        # Only audio after the first final was resent, not the whole utterance.
        assert fake.connections[1].bytes_received < total


async def test_slow_first_result_still_returns_the_transcript() -> None:
    async with FakeDeepgram(first_result_delay_s=0.4) as fake:
        rec = recognizer(fake)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        await feed_in_chunks(stream, ulaw(fake.speak("yes")))
        assert await stream.finish() == "yes"


async def test_finalize_timeout_bounds_finish_when_the_server_is_silent() -> None:
    async with FakeDeepgram(first_result_delay_s=1.5) as fake:
        rec = recognizer(fake, finalize_timeout_s=0.3)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        stream.feed(ulaw(fake.speak("yes")))
        started = time.monotonic()
        assert await stream.finish() == ""
        assert time.monotonic() - started < 1.4


async def test_bad_key_raises_provider_auth_error_without_retrying() -> None:
    async with FakeDeepgram() as fake:
        rec = DeepgramRecognizer("wrong-key", base_url=fake.url, backoff_s=0.02)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        stream.feed(ulaw(fake.speak("hello")))
        started = time.monotonic()
        with pytest.raises(ProviderAuthError, match="401"):
            await stream.finish()
        assert time.monotonic() - started < 1.0
        assert fake.handshakes_rejected == 1
        assert fake.connections == []


async def test_unreachable_server_gives_up_after_max_reconnects() -> None:
    async with FakeDeepgram() as fake:
        url = fake.url
    rec = DeepgramRecognizer("good-key", base_url=url, max_reconnects=2, backoff_s=0.01)
    stream = rec.open_stream(PCMU_8K, lambda _: None)
    stream.feed(silence(100))
    with pytest.raises(ProviderUnavailable):
        await stream.finish()


async def test_abort_and_close_end_streams_quietly() -> None:
    async with FakeDeepgram() as fake:
        rec = recognizer(fake)
        interims: list[str] = []
        stream = rec.open_stream(PCMU_8K, interims.append)
        await feed_in_chunks(stream, ulaw(fake.speak("hello")))
        stream.abort()
        other = rec.open_stream(PCMU_8K, lambda _: None)
        await rec.close()
        await stream.wait_closed()
        await other.wait_closed()
        assert fake.connections[0].close_stream


async def test_finish_without_audio_returns_empty() -> None:
    async with FakeDeepgram() as fake:
        rec = recognizer(fake)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        assert await stream.finish() == ""


async def test_script_mode_recognizes_real_speech_as_the_next_line() -> None:
    """The fake's second rule, used by whole-call tests: loud audio is the next scripted line."""
    rng = np.random.default_rng(7)
    async with FakeDeepgram(transcripts=["quiero una cita", "sí, gracias"]) as fake:
        rec = recognizer(fake, language="es")
        interims: list[str] = []
        for expected in ("quiero una cita", "sí, gracias"):
            stream = rec.open_stream(PCMU_8K, interims.append)
            speech = rng.integers(-8000, 8000, 8000, dtype=np.int16)  # 1 s of "speech"
            await feed_in_chunks(stream, silence(100) + ulaw(speech) + silence(100))
            assert await stream.finish() == expected
        # Quiet audio is nobody speaking: it consumes no line.
        stream = rec.open_stream(PCMU_8K, interims.append)
        await feed_in_chunks(stream, silence(500))
        assert await stream.finish() == ""
        assert fake.recognized == ["quiero una cita", "sí, gracias"]
        assert "quiero" in interims and fake.connections[0].query["language"] == "es"
        await rec.close()


async def test_a_rate_limited_handshake_is_retried_with_backoff() -> None:
    async with FakeDeepgram(rate_limited_handshakes=2) as fake:
        rec = recognizer(fake)
        stream = rec.open_stream(PCMU_8K, lambda _: None)
        await feed_in_chunks(stream, ulaw(fake.speak("yes please")))
        assert await stream.finish() == "yes please"
        assert fake.handshakes_rejected == 2 and len(fake.connections) == 1
        await rec.close()
