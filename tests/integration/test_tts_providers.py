"""ElevenLabs and Cartesia voices end to end against the protocol fakes on loopback.

Every fault must surface as the typed error a fallback chain switches on, within a
fraction of a second: timeouts are shrunk, and each test has a hard pytest timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest

from fakes.tts_servers import (
    ElevenLabsSession,
    FakeCartesia,
    FakeElevenLabs,
    expected_raw,
)
from voxagent.audio.format import PCM16_16K, PCMA_8K, PCMU_8K, AudioFormat, Encoding
from voxagent.providers.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderQuotaError,
)
from voxagent.providers.tts.cartesia import CartesiaVoice
from voxagent.providers.tts.cartesia_protocol import output_for
from voxagent.providers.tts.elevenlabs import ElevenLabsVoice
from voxagent.providers.tts.elevenlabs_protocol import output_format_for

pytestmark = pytest.mark.timeout(5)

GREETING = "Hello there. How can I help you today?"
LONG = "Certainly, " + "let me read the whole appointment list back to you slowly. " * 4


def eleven(fake: FakeElevenLabs, **options: object) -> ElevenLabsVoice:
    settings: dict[str, object] = {
        "base_url": fake.base_url,
        "first_byte_timeout_s": 0.3,
        "stall_timeout_s": 0.3,
        "connect_timeout_s": 1.0,
    }
    settings.update(options)
    return ElevenLabsVoice(fake.api_key, "voice-1", **settings)  # type: ignore[arg-type]


def cartesia(fake: FakeCartesia, **options: object) -> CartesiaVoice:
    settings: dict[str, object] = {
        "base_url": fake.base_url,
        "first_byte_timeout_s": 0.3,
        "stall_timeout_s": 0.3,
        "connect_timeout_s": 1.0,
    }
    settings.update(options)
    return CartesiaVoice(fake.api_key, "voice-uuid", **settings)  # type: ignore[arg-type]


def used_sessions(fake: FakeElevenLabs) -> list[ElevenLabsSession]:
    """Sessions that carried a synthesis, leaving out the idle spare the voice keeps open."""
    return [session for session in fake.sessions if session.messages]


def pcm16(text: str, sample_rate: int) -> bytes:
    """The exact 16-bit little-endian bytes a fake sends for ``text``."""
    return expected_raw(text, sample_rate, "pcm_s16le")


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    parts = [chunk async for chunk in chunks]
    assert all(isinstance(part, bytes) for part in parts)
    return b"".join(parts)


async def collect_raw(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


async def sentences_after(
    first: str, gate: asyncio.Event, *rest: str, gate_timeout: float = 2.0
) -> AsyncIterator[str]:
    """Like an LLM: the first sentence, then the rest only once ``gate`` is set."""
    yield first
    await asyncio.wait_for(gate.wait(), gate_timeout)
    for sentence in rest:
        yield sentence


async def until(condition: Callable[[], bool], within_s: float = 2.0) -> None:
    """Poll a condition about the fake (its handlers run on the same loop)."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "the fake never got there"
        await asyncio.sleep(0.005)


async def first_audio_after(voice: ElevenLabsVoice, text: str) -> tuple[float, float, bytes]:
    """(when it was asked, seconds to the first chunk, all the audio) of one synthesis."""
    asked = time.monotonic()
    chunks: list[bytes] = []
    waited = 0.0
    async for chunk in voice.synthesize(text):
        if not chunks:
            waited = time.monotonic() - asked
        chunks.append(chunk)
    return asked, waited, b"".join(chunks)


async def slow_pieces(pause: float, *pieces: str) -> AsyncIterator[str]:
    for index, piece in enumerate(pieces):
        if index:
            await asyncio.sleep(pause)
        yield piece


# --- ElevenLabs: the happy paths -----------------------------------------------------------


async def test_elevenlabs_synthesize_returns_exactly_the_expected_audio() -> None:
    async with FakeElevenLabs() as fake:
        voice = eleven(fake, output_format="pcm_16000", model_id="eleven_turbo_v2_5")
        assert (voice.sample_rate, voice.raw_encoding) == (16000, "pcm_s16le")
        assert voice.output_format == PCM16_16K
        audio = await collect(voice.synthesize(GREETING))
        assert audio == pcm16(GREETING, 16000)
        (session,) = used_sessions(fake)
        assert session.outcome == "final"
        assert session.voice_id == "voice-1"
        assert session.query == {"model_id": "eleven_turbo_v2_5", "output_format": "pcm_16000"}
        assert session.header_key == fake.api_key
        bos = session.messages[0]
        assert bos["text"] == " " and bos["xi_api_key"] == fake.api_key
        assert set(bos["voice_settings"]) == {"stability", "similarity_boost", "speed"}
        # One text message per sentence, each flushed, then the end of input.
        assert session.messages[1:] == [
            {"text": "Hello there. ", "flush": True},
            {"text": "How can I help you today? ", "flush": True},
            {"text": ""},
        ]
        await voice.close()


async def test_elevenlabs_ulaw_bytes_pass_through_untouched() -> None:
    async with FakeElevenLabs() as fake:
        voice = eleven(fake)  # default output_format is ulaw_8000
        assert (voice.sample_rate, voice.raw_encoding) == (8000, "ulaw")
        assert voice.output_format == PCMU_8K  # what a phone call speaks: no conversion
        raw = await collect_raw(voice.synthesize(GREETING))
        (session,) = used_sessions(fake)
        assert session.query["output_format"] == "ulaw_8000"
        assert raw == session.audio  # chunk for chunk, byte for byte
        assert b"".join(raw) == expected_raw(GREETING, 8000, "ulaw")
        await voice.close()


async def test_elevenlabs_streamed_sentences_are_spoken_before_the_text_ends() -> None:
    async with FakeElevenLabs() as fake:
        voice = eleven(fake, inactivity_timeout=30)
        first_audio = asyncio.Event()
        pieces = sentences_after("Sure thing.", first_audio, "Your visit is at ten.", "Bye!")
        raw: list[bytes] = []
        async for chunk in voice.stream_raw(pieces):
            raw.append(chunk)
            first_audio.set()  # the second sentence is only produced after audio arrived
        (session,) = used_sessions(fake)
        assert session.query["inactivity_timeout"] == "30"
        assert session.texts == ["Sure thing. ", "Your visit is at ten. ", "Bye! ", ""]
        text = "Sure thing. Your visit is at ten. Bye!"
        assert b"".join(raw) == expected_raw(text, 8000, "ulaw")
        await voice.close()


async def test_elevenlabs_without_flush_uses_try_trigger_generation() -> None:
    async with FakeElevenLabs() as fake:
        voice = eleven(fake, flush_pieces=False, output_format="pcm_16000")
        audio = await collect(voice.synthesize(GREETING))
        assert audio == pcm16(GREETING, 16000)
        assert fake.sessions[0].messages[1] == {
            "text": "Hello there. ",
            "try_trigger_generation": True,
        }


async def test_elevenlabs_keepalive_holds_the_socket_while_the_llm_is_slow() -> None:
    async with FakeElevenLabs(inactivity_timeout=0.2) as fake:
        voice = eleven(fake, keepalive_s=0.05)
        raw = await collect_raw(voice.stream_raw(slow_pieces(0.5, "One moment.", "Done now.")))
        (session,) = used_sessions(fake)
        assert session.outcome == "final"
        assert " " in session.texts  # keep-alives were sent while waiting
        assert b"".join(raw) == expected_raw("One moment. Done now.", 8000, "ulaw")


async def test_elevenlabs_cancel_stops_audio_promptly_and_the_voice_is_reusable() -> None:
    async with FakeElevenLabs(chunk_delay=0.02) as fake:
        voice = eleven(fake, output_format="pcm_16000")
        received = 0
        started = time.monotonic()
        async for _ in voice.synthesize(LONG):
            received += 1
            if received == 2:
                await voice.cancel()
        assert received == 2  # nothing after the cancel
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.05)
        assert fake.sessions[0].outcome == "client_closed"
        assert len(fake.sessions[0].audio) < 10  # the fake stopped too (LONG is ~70 chunks)
        audio = await collect(voice.synthesize("Okay, go ahead."))
        assert audio == pcm16("Okay, go ahead.", 16000)
        await voice.close()


async def test_elevenlabs_cancel_from_another_task_wakes_a_waiting_consumer() -> None:
    async with FakeElevenLabs(first_byte_delay=3.0) as fake:
        voice = eleven(fake, first_byte_timeout_s=4.0)
        consumer = asyncio.create_task(collect_raw(voice.synthesize(GREETING)))
        await asyncio.sleep(0.1)  # the consumer is now waiting for the first byte
        started = time.monotonic()
        await voice.cancel()
        assert await asyncio.wait_for(consumer, 1.0) == []
        assert time.monotonic() - started < 1.0  # not the 3 s the first byte would take


async def test_elevenlabs_cancel_while_connecting_drops_the_synthesis() -> None:
    async with FakeElevenLabs() as fake:
        voice = eleven(fake)
        consumer = asyncio.create_task(collect_raw(voice.synthesize(GREETING)))
        await asyncio.sleep(0)  # the consumer is now inside the WebSocket handshake
        await voice.cancel()
        assert await consumer == []
        await asyncio.sleep(0.05)
        assert all(session.messages == [] for session in fake.sessions)


async def test_elevenlabs_failing_text_source_raises_its_own_error() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "Let me check."
        raise RuntimeError("llm went away")

    async with FakeElevenLabs() as fake:
        voice = eleven(fake)
        with pytest.raises(RuntimeError, match="llm went away"):
            await collect_raw(voice.stream_raw(broken()))
        await asyncio.sleep(0.05)
        assert fake.sessions[0].outcome == "client_closed"


# --- ElevenLabs: faults --------------------------------------------------------------------


@pytest.mark.timeout(2)
async def test_elevenlabs_bad_key_is_refused_at_the_upgrade() -> None:
    async with FakeElevenLabs(api_key="the-right-key") as fake:
        voice = ElevenLabsVoice("wrong", "voice-1", base_url=fake.base_url)
        with pytest.raises(ProviderAuthError, match="401"):
            await collect(voice.synthesize(GREETING))
        assert fake.sessions == [] and fake.handshakes[0]["xi-api-key"] == "wrong"


@pytest.mark.timeout(2)
async def test_elevenlabs_bad_key_in_stream_is_an_auth_error() -> None:
    async with FakeElevenLabs(api_key="the-right-key", bad_key_mode="stream") as fake:
        voice = ElevenLabsVoice("wrong", "voice-1", base_url=fake.base_url)
        with pytest.raises(ProviderAuthError, match="Invalid API key"):
            await collect(voice.synthesize(GREETING))
        assert fake.sessions[0].outcome == "bad_key"


@pytest.mark.timeout(2)
async def test_elevenlabs_rate_limit_at_the_upgrade_is_a_quota_error() -> None:
    async with FakeElevenLabs(rate_limited=True) as fake:
        with pytest.raises(ProviderQuotaError, match="429"):
            await collect(eleven(fake).synthesize(GREETING))


@pytest.mark.timeout(2)
async def test_elevenlabs_slow_first_byte_times_out() -> None:
    async with FakeElevenLabs(first_byte_delay=3.0) as fake:
        started = time.monotonic()
        with pytest.raises(ProviderConnectionError, match=r"no audio within 0\.3 s"):
            await collect(eleven(fake).synthesize(GREETING))
        assert time.monotonic() - started < 1.0


@pytest.mark.timeout(2)
async def test_elevenlabs_dropped_connection_mid_stream() -> None:
    async with FakeElevenLabs(drop_after_chunks=3) as fake:
        received: list[bytes] = []
        with pytest.raises(ProviderConnectionError, match="without a close frame"):
            async for chunk in eleven(fake).synthesize(LONG):
                received.append(chunk)
        assert received == fake.sessions[0].audio and len(received) == 3
        assert fake.sessions[0].outcome == "dropped"


@pytest.mark.timeout(2)
async def test_elevenlabs_idle_timeout_closes_a_slow_stream() -> None:
    async with FakeElevenLabs(inactivity_timeout=0.2) as fake:
        voice = eleven(fake)  # keep-alive every 15 s: far too late for this server
        started = time.monotonic()
        with pytest.raises(ProviderConnectionError, match="Have not received a new text"):
            await collect_raw(voice.stream_raw(slow_pieces(1.0, "Hold on.", "Still there?")))
        assert time.monotonic() - started < 0.8
        assert fake.sessions[0].outcome == "idle_timeout"


@pytest.mark.timeout(2)
async def test_elevenlabs_unreachable_server_is_a_connection_error() -> None:
    async with FakeElevenLabs() as fake:
        base_url = fake.base_url
    with pytest.raises(ProviderConnectionError, match="cannot connect"):
        await collect(ElevenLabsVoice("k", "v", base_url=base_url).synthesize(GREETING))


# --- ElevenLabs: the warm spare socket -----------------------------------------------------

HANDSHAKE_S = 0.25


async def test_elevenlabs_next_sentence_starts_on_the_socket_opened_in_the_background() -> None:
    async with FakeElevenLabs(handshake_delay=HANDSHAKE_S) as fake:
        voice = eleven(fake, output_format="pcm_16000")
        _, first_wait, _ = await first_audio_after(voice, "Sure thing.")
        assert first_wait >= HANDSHAKE_S  # nothing was warm yet
        await until(lambda: len(fake.sessions) == 2)  # the spare's handshake is done
        asked, waited, audio = await first_audio_after(voice, "Your visit is at ten.")
        assert audio == pcm16("Your visit is at ten.", 16000)
        assert waited < HANDSHAKE_S / 2, f"first audio after {waited * 1000:.0f} ms"
        # The fake saw that socket's handshake before the sentence was even asked for.
        spare = fake.sessions[1]
        assert used_sessions(fake)[1] is spare
        assert spare.first_message_at is not None
        assert spare.opened_at < asked < spare.first_message_at
        assert spare.messages[0]["text"] == " " and spare.outcome == "final"  # BOS sent then
        await voice.close()


async def test_elevenlabs_without_prewarm_every_sentence_pays_the_handshake() -> None:
    async with FakeElevenLabs(handshake_delay=HANDSHAKE_S) as fake:
        voice = eleven(fake, prewarm=False)
        await voice.warm_up()  # a no-op without prewarm
        await collect(voice.synthesize("Sure thing."))
        _, waited, _ = await first_audio_after(voice, "Your visit is at ten.")
        assert waited >= HANDSHAKE_S
        assert len(fake.handshakes) == 2 and len(used_sessions(fake)) == 2
        await voice.close()


async def test_elevenlabs_a_spare_still_connecting_is_adopted_not_duplicated() -> None:
    async with FakeElevenLabs(handshake_delay=0.3, chunk_delay=0.05) as fake:
        voice = eleven(fake)
        await collect(voice.synthesize("Sure thing."))  # ~0.15 s of audio after connecting
        assert len(fake.handshakes) == 2  # the spare's handshake is under way, not done
        _, waited, _ = await first_audio_after(voice, "Your visit is at ten.")
        assert waited < 0.25  # only what was left of the spare's handshake
        assert used_sessions(fake)[1] is fake.sessions[1]
        assert len(fake.handshakes) == 3  # the adopted spare and a new one, no extra connect
        await voice.close()


async def test_elevenlabs_concurrent_syntheses_each_get_their_own_socket() -> None:
    texts = ["Morning slots are full.", "Afternoon works fine.", "Evening is open too."]
    async with FakeElevenLabs() as fake:
        voice = eleven(fake, output_format="pcm_16000")
        await voice.warm_up()
        assert len(fake.sessions) == 1 and fake.sessions[0].messages == []
        # The first takes the warm spare, the second the one it started, the third connects.
        audios = await asyncio.gather(*(collect(voice.synthesize(text)) for text in texts))
        for text, audio in zip(texts, audios, strict=True):
            assert audio == pcm16(text, 16000)
        used = used_sessions(fake)
        assert sorted(s.texts[0] for s in used) == sorted(f"{text} " for text in texts)
        assert all(s.outcome == "final" for s in used)
        assert len(fake.sessions) == 4  # three used, one spare left for the next sentence
        await voice.close()


async def test_elevenlabs_spare_closed_by_the_server_is_replaced_transparently() -> None:
    async with FakeElevenLabs(inactivity_timeout=0.1) as fake:
        voice = eleven(fake, output_format="pcm_16000")
        await collect(voice.synthesize("Sure thing."))
        await until(lambda: len(fake.sessions) == 2 and fake.sessions[1].outcome != "open")
        assert fake.sessions[1].outcome == "idle_timeout"  # the spare died while unused
        audio = await collect(voice.synthesize("Your visit is at ten."))
        assert audio == pcm16("Your visit is at ten.", 16000)
        assert used_sessions(fake)[1] is fake.sessions[2]  # a new connection, no error
        await voice.close()


async def test_elevenlabs_spare_is_replaced_before_the_inactivity_timeout() -> None:
    async with FakeElevenLabs(inactivity_timeout=1.0) as fake:
        voice = eleven(fake, inactivity_timeout=1, keepalive_s=0.5)  # spare lives 0.75 s
        await collect(voice.synthesize("Sure thing."))
        await asyncio.sleep(1.0)  # past the server's timeout for the first spare
        _, waited, _ = await first_audio_after(voice, "Your visit is at ten.")
        outcomes = [s.outcome for s in fake.sessions]
        assert outcomes[:3] == ["final", "client_closed", "final"]  # rotated by us, in time
        assert "idle_timeout" not in outcomes
        assert waited < 0.1
        await voice.close()


async def test_elevenlabs_close_leaves_no_socket_open() -> None:
    async with FakeElevenLabs() as fake:
        voice = eleven(fake)
        await collect(voice.synthesize("Sure thing."))
        await until(lambda: fake.open_connections == 1)  # the spare
        await voice.close()
        assert fake.open_connections == 0
        await until(lambda: all(s.outcome != "open" for s in fake.sessions))
        assert fake.sessions[1].outcome == "client_closed"
        # Also while the spare is still in its handshake.
        fake.handshake_delay = 0.2
        await collect(voice.synthesize("Still here."))
        assert len(fake.handshakes) == 4  # the next spare's upgrade is pending
        await voice.close()
        await asyncio.sleep(0.3)  # past the handshake the fake would have completed
        assert fake.open_connections == 0
        assert all(s.outcome != "open" for s in fake.sessions)


@pytest.mark.timeout(2)
async def test_elevenlabs_bad_key_with_prewarm_fails_on_synthesize_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    async with FakeElevenLabs(api_key="the-right-key") as fake:
        voice = ElevenLabsVoice("wrong", "voice-1", base_url=fake.base_url, prewarm=True)
        await voice.warm_up()  # the spare fails quietly
        with pytest.raises(ProviderAuthError, match="401"):
            await collect(voice.synthesize(GREETING))
        # A synthesis that adopts a spare still failing its handshake gets the same error.
        fake.handshake_delay = 0.1
        warming = asyncio.create_task(voice.warm_up())
        await asyncio.sleep(0.02)
        with pytest.raises(ProviderAuthError, match="401"):
            await collect(voice.synthesize(GREETING))
        await warming
        await voice.close()
        assert fake.sessions == [] and len(fake.handshakes) == 3
    del voice, warming
    gc.collect()  # an unretrieved task exception would be logged now
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


# --- Cartesia: the happy paths -------------------------------------------------------------


async def test_cartesia_synthesize_returns_exactly_the_expected_audio() -> None:
    async with FakeCartesia() as fake:
        voice = cartesia(fake, encoding="pcm_s16le", sample_rate=16000, model_id="sonic-2")
        assert voice.raw_encoding == "pcm_s16le"
        assert voice.output_format == PCM16_16K
        audio = await collect(voice.synthesize(GREETING))
        assert audio == pcm16(GREETING, 16000)
        (context,) = fake.contexts.values()
        assert context.outcome == "done"
        assert context.transcripts == ["Hello there. ", "How can I help you today? ", ""]
        assert [r["continue"] for r in context.requests] == [True, True, False]
        first = context.requests[0]
        assert first["context_id"] == context.context_id
        assert first["model_id"] == "sonic-2" and first["language"] == "en"
        assert first["voice"] == {"mode": "id", "id": "voice-uuid"}
        assert first["output_format"] == {
            "container": "raw",
            "encoding": "pcm_s16le",
            "sample_rate": 16000,
        }
        handshake = fake.handshakes[0]
        assert handshake["authorization"] == f"Bearer {fake.api_key}"
        assert handshake["cartesia-version"] == "2025-04-16"
        await voice.close()


async def test_cartesia_mulaw_bytes_pass_through_untouched() -> None:
    async with FakeCartesia() as fake:
        voice = cartesia(fake)  # default: pcm_mulaw at 8000 Hz
        assert (voice.sample_rate, voice.raw_encoding) == (8000, "ulaw")
        assert voice.output_format == PCMU_8K
        raw = await collect_raw(voice.synthesize(GREETING))
        (context,) = fake.contexts.values()
        assert raw == context.audio
        assert b"".join(raw) == expected_raw(GREETING, 8000, "pcm_mulaw")
        await voice.close()


async def test_cartesia_streamed_sentences_are_spoken_before_the_text_ends() -> None:
    async with FakeCartesia() as fake:
        voice = cartesia(fake)
        first_audio = asyncio.Event()
        pieces = sentences_after("Sure thing.", first_audio, "Your visit is at ten.")
        raw: list[bytes] = []
        async for chunk in voice.stream_raw(pieces):
            raw.append(chunk)
            first_audio.set()
        (context,) = fake.contexts.values()
        assert context.transcripts == ["Sure thing. ", "Your visit is at ten. ", ""]
        text = "Sure thing. Your visit is at ten."
        assert b"".join(raw) == expected_raw(text, 8000, "pcm_mulaw")
        await voice.close()


async def test_cartesia_keeps_one_socket_and_multiplexes_contexts() -> None:
    async with FakeCartesia() as fake:
        voice = cartesia(fake, encoding="pcm_s16le", sample_rate=16000)
        one, two = await asyncio.gather(
            collect(voice.synthesize("Morning slots are full.")),
            collect(voice.synthesize("Afternoon works fine.")),
        )
        assert one == pcm16("Morning slots are full.", 16000)
        assert two == pcm16("Afternoon works fine.", 16000)
        three = await collect(voice.synthesize("Evening too."))
        assert three == pcm16("Evening too.", 16000)
        assert fake.connections == 1 and voice.connections_opened == 1
        assert len(fake.contexts) == 3
        await voice.close()


async def test_cartesia_cancel_sends_cancel_drops_late_chunks_and_stays_usable() -> None:
    async with FakeCartesia(chunk_delay=0.01, late_chunks_after_cancel=3) as fake:
        voice = cartesia(fake)
        received = 0
        async for _ in voice.synthesize(LONG):
            received += 1
            if received == 2:
                await voice.cancel()
        assert received == 2
        await asyncio.sleep(0.05)
        (first,) = fake.contexts.values()
        assert fake.cancelled == [first.context_id]
        assert first.outcome == "cancelled"
        assert fake.received[-1] == {"context_id": first.context_id, "cancel": True}
        # The late chunks of the cancelled context must not leak into the next synthesis.
        raw = await collect_raw(voice.synthesize("Okay, go ahead."))
        assert b"".join(raw) == expected_raw("Okay, go ahead.", 8000, "pcm_mulaw")
        assert fake.connections == 1
        await voice.close()


async def test_cartesia_cancel_while_connecting_drops_the_synthesis() -> None:
    async with FakeCartesia() as fake:
        voice = cartesia(fake)
        consumer = asyncio.create_task(collect_raw(voice.synthesize(GREETING)))
        await asyncio.sleep(0)
        await voice.cancel()
        assert await consumer == []
        assert fake.contexts == {}
        await voice.close()


async def test_cartesia_consumer_stopping_early_cancels_the_context() -> None:
    async with FakeCartesia(chunk_delay=0.01) as fake:
        voice = cartesia(fake)
        async with contextlib.aclosing(voice.synthesize(LONG)) as chunks:
            async for _ in chunks:
                break
        await asyncio.sleep(0.05)
        (context,) = fake.contexts.values()
        assert fake.cancelled == [context.context_id]
        await voice.close()


# --- Cartesia: faults ----------------------------------------------------------------------


@pytest.mark.timeout(2)
async def test_cartesia_bad_key_is_refused_at_the_upgrade() -> None:
    async with FakeCartesia(api_key="the-right-key") as fake:
        voice = CartesiaVoice("wrong", "v", base_url=fake.base_url)
        with pytest.raises(ProviderAuthError, match="401"):
            await collect(voice.synthesize(GREETING))
        assert fake.connections == 0


@pytest.mark.timeout(2)
async def test_cartesia_rate_limit_at_the_upgrade_is_a_quota_error() -> None:
    async with FakeCartesia(rate_limited=True) as fake:
        with pytest.raises(ProviderQuotaError, match="429"):
            await collect(cartesia(fake).synthesize(GREETING))


@pytest.mark.timeout(2)
@pytest.mark.parametrize(("status", "kind"), [(429, ProviderQuotaError), (401, ProviderAuthError)])
async def test_cartesia_error_event_in_stream(status: int, kind: type[Exception]) -> None:
    async with FakeCartesia(context_error=(status, "refused")) as fake:
        voice = cartesia(fake)
        with pytest.raises(kind, match="refused"):
            await collect(voice.synthesize(GREETING))
        fake.context_error = None  # the socket is still good for the next synthesis
        assert len(await collect(voice.synthesize("Fine now."))) > 0
        assert fake.connections == 1
        await voice.close()


@pytest.mark.timeout(2)
async def test_cartesia_slow_first_byte_times_out() -> None:
    async with FakeCartesia(first_byte_delay=3.0) as fake:
        started = time.monotonic()
        with pytest.raises(ProviderConnectionError, match=r"no audio within 0\.3 s"):
            await collect(cartesia(fake).synthesize(GREETING))
        assert time.monotonic() - started < 1.0
        await asyncio.sleep(0.05)
        (context,) = fake.contexts.values()
        assert fake.cancelled == [context.context_id]  # the abandoned context was cancelled


@pytest.mark.timeout(2)
async def test_cartesia_dropped_connection_fails_then_reconnects() -> None:
    async with FakeCartesia(drop_after_chunks=3) as fake:
        voice = cartesia(fake)
        received: list[bytes] = []
        with pytest.raises(ProviderConnectionError, match="without a close frame"):
            async for chunk in voice.synthesize(LONG):
                received.append(chunk)
        assert len(received) == 3
        fake.drop_after_chunks = None
        raw = await collect_raw(voice.synthesize("Sorry about that."))
        assert b"".join(raw) == expected_raw("Sorry about that.", 8000, "pcm_mulaw")
        assert fake.connections == 2
        await voice.close()


@pytest.mark.timeout(2)
async def test_cartesia_idle_close_between_syntheses_is_transparent() -> None:
    async with FakeCartesia(idle_timeout=0.1) as fake:
        voice = cartesia(fake)
        await collect(voice.synthesize("First."))
        await asyncio.sleep(0.3)  # the server closes the idle socket meanwhile
        audio = await collect(voice.synthesize("Second."))
        assert audio == expected_raw("Second.", 8000, "pcm_mulaw")
        assert fake.connections == 2
        await voice.close()


@pytest.mark.timeout(2)
async def test_cartesia_idle_close_mid_stream_is_a_connection_error() -> None:
    async with FakeCartesia(idle_timeout=0.2) as fake:
        voice = cartesia(fake)
        started = time.monotonic()
        with pytest.raises(ProviderConnectionError, match="1000"):
            await collect_raw(voice.stream_raw(slow_pieces(1.0, "Hold on.", "Still there?")))
        assert time.monotonic() - started < 0.8
        await voice.close()


@pytest.mark.timeout(2)
async def test_cartesia_unreachable_server_is_a_connection_error() -> None:
    async with FakeCartesia() as fake:
        base_url = fake.base_url
    with pytest.raises(ProviderConnectionError, match="cannot connect"):
        await collect(CartesiaVoice("k", "v", base_url=base_url).synthesize(GREETING))


# --- a voice for each call format ----------------------------------------------------------

FAKE_ENCODING = {Encoding.MULAW: "ulaw", Encoding.ALAW: "alaw", Encoding.PCM16: "pcm_s16le"}
"""The fakes' name for each encoding, to predict their bytes with ``expected_raw``."""


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (PCMU_8K, "ulaw_8000"),
        (PCMA_8K, "alaw_8000"),
        (PCM16_16K, "pcm_16000"),
        (AudioFormat(Encoding.PCM16, 8000), "pcm_8000"),
        (AudioFormat(Encoding.PCM16, 12000), "pcm_16000"),  # not offered: the next rate up
        (AudioFormat(Encoding.PCM16, 96000), "pcm_48000"),  # above them all: the highest
    ],
    ids=str,
)
def test_elevenlabs_output_format_for_a_call(call: AudioFormat, name: str) -> None:
    assert output_format_for(call) == name


@pytest.mark.parametrize(
    ("call", "encoding", "rate"),
    [
        (PCMU_8K, "pcm_mulaw", 8000),
        (PCMA_8K, "pcm_alaw", 8000),
        (PCM16_16K, "pcm_s16le", 16000),
        (AudioFormat(Encoding.PCM16, 12000), "pcm_s16le", 16000),
        (AudioFormat(Encoding.PCM16, 96000), "pcm_s16le", 48000),
    ],
    ids=str,
)
def test_cartesia_output_for_a_call(call: AudioFormat, encoding: str, rate: int) -> None:
    assert output_for(call) == (encoding, rate)


@pytest.mark.parametrize(
    ("name", "call"),
    [("ulaw_8000", PCMU_8K), ("alaw_8000", PCMA_8K), ("pcm_16000", PCM16_16K)],
    ids=str,
)
async def test_elevenlabs_voice_speaks_its_output_format(name: str, call: AudioFormat) -> None:
    async with FakeElevenLabs() as fake:
        voice = eleven(fake, output_format=name)
        assert voice.output_format_name == name and voice.output_format == call
        raw = await collect_raw(voice.synthesize(GREETING))
        (session,) = used_sessions(fake)
        assert session.query["output_format"] == name
        assert raw == session.audio, "the fake's bytes, untouched"
        expected = expected_raw(GREETING, call.sample_rate, FAKE_ENCODING[call.encoding])
        assert b"".join(raw) == expected
        await voice.close()


@pytest.mark.parametrize(
    ("encoding", "rate", "call"),
    [("pcm_mulaw", 8000, PCMU_8K), ("pcm_alaw", 8000, PCMA_8K), ("pcm_s16le", 16000, PCM16_16K)],
    ids=str,
)
async def test_cartesia_voice_speaks_its_output_format(
    encoding: str, rate: int, call: AudioFormat
) -> None:
    async with FakeCartesia() as fake:
        voice = cartesia(fake, encoding=encoding, sample_rate=rate)
        assert voice.output_format == call
        raw = await collect_raw(voice.synthesize(GREETING))
        (context,) = fake.contexts.values()
        assert context.requests[0]["output_format"] == {
            "container": "raw",
            "encoding": encoding,
            "sample_rate": rate,
        }
        assert raw == context.audio, "the fake's bytes, untouched"
        assert b"".join(raw) == expected_raw(GREETING, rate, encoding)
        await voice.close()
