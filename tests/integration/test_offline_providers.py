"""The offline recognizer and voice, for real: Piper speaks, PocketSphinx listens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from voxagent.audio.format import AudioFormat, Encoding
from voxagent.audio.resample import resample
from voxagent.providers.stt.pocketsphinx import PocketSphinxRecognizer
from voxagent.providers.tts.piper import PiperVoiceSynthesizer

SENTENCE = "i would like to book an appointment"
PCM_8K = AudioFormat(Encoding.PCM16, 8000)
FRAME = PCM_8K.bytes_for_ms(20)


@pytest.fixture(scope="module")
def voice() -> Iterator[PiperVoiceSynthesizer]:
    yield PiperVoiceSynthesizer(workers=1)


@pytest.fixture(scope="module")
def speech_8k(voice: PiperVoiceSynthesizer) -> np.ndarray:
    return resample(voice.render_blocking(SENTENCE), voice.sample_rate, 8000)


@pytest.fixture
async def recognizer() -> AsyncIterator[PocketSphinxRecognizer]:
    stt = PocketSphinxRecognizer(workers=2)
    await stt.warm_up()
    yield stt
    await stt.close()


async def speak_into(stt: PocketSphinxRecognizer, pcm: np.ndarray, interims: list[str]) -> str:
    """Feed 8 kHz 16-bit PCM bytes in real time, 20 ms at a time."""
    stream = stt.open_stream(PCM_8K, interims.append)
    audio = PCM_8K.encode(pcm)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(0, len(audio), FRAME):
        stream.feed(audio[i : i + FRAME])
        await asyncio.sleep(max(0.0, start + (i // FRAME + 1) * 0.02 - loop.time()))
    return await stream.finish()


async def test_piper_speech_is_recognized_while_streaming(
    recognizer: PocketSphinxRecognizer, speech_8k: np.ndarray
) -> None:
    interims: list[str] = []
    text = await speak_into(recognizer, speech_8k, interims)
    assert text == SENTENCE
    assert interims, "interim hypotheses arrive while the caller speaks"
    assert recognizer.streamed == 1


async def test_when_decoders_run_short_utterances_are_decoded_at_the_end(
    recognizer: PocketSphinxRecognizer, speech_8k: np.ndarray
) -> None:
    texts = await asyncio.gather(*(speak_into(recognizer, speech_8k, []) for _ in range(3)))
    assert texts == [SENTENCE] * 3
    assert recognizer.streamed == 1 and recognizer.batched == 2


async def test_an_aborted_utterance_leaves_the_decoder_clean(
    recognizer: PocketSphinxRecognizer, speech_8k: np.ndarray
) -> None:
    stream = recognizer.open_stream(PCM_8K, lambda _: None)
    stream.feed(PCM_8K.encode(speech_8k[: len(speech_8k) // 2]))
    await asyncio.sleep(0.3)
    stream.abort()
    await asyncio.sleep(0.1)
    for _ in range(2):  # both decoders, whichever the aborted one was
        assert await speak_into(recognizer, speech_8k, []) == SENTENCE


async def test_the_voice_speaks_at_its_native_rate(voice: PiperVoiceSynthesizer) -> None:
    chunks = [chunk async for chunk in voice.synthesize("Hello. How can I help you?")]
    assert voice.sample_rate == 22050
    assert voice.output_format == AudioFormat(Encoding.PCM16, 22050)
    assert chunks and all(isinstance(chunk, bytes) for chunk in chunks)
    raw = b"".join(chunks)
    assert 0.8 < voice.output_format.seconds(len(raw)) < 4.0
    audio = voice.output_format.decode(raw)
    assert np.abs(audio).max() > 3000, "real speech, not silence"
    hits = voice.cache_hits
    again = [chunk async for chunk in voice.synthesize("Hello. How can I help you?")]
    assert voice.cache_hits == hits + 1 and b"".join(again) == raw
    # The bytes are the model's samples, 16-bit little-endian, untouched.
    assert raw == voice.render_blocking("Hello. How can I help you?").astype("<i2").tobytes()


@pytest.mark.parametrize("engine", ["silero", "silero-lite", "pysilero"])
def test_vad_tells_speech_from_line_noise(engine: str, speech_8k: np.ndarray) -> None:
    from voxagent.audio.vad import GatedVad, load_vad

    vad = GatedVad(load_vad(engine, 8000))
    noise = np.random.default_rng(3).integers(-8, 9, 8000).astype(np.int16)
    quiet = [vad.probability(w) for w in vad.windows(noise)]
    assert max(quiet) == 0.0 and vad.model_runs == 0, "line noise never reaches the model"
    voiced = [vad.probability(w) for w in vad.windows(speech_8k)]
    assert vad.model_runs > 0
    assert sum(p > 0.5 for p in voiced) > 0.5 * len(voiced)


def test_shared_silero_keeps_state_per_call(speech_8k: np.ndarray) -> None:
    from voxagent.audio.vad import SileroShared

    a, b, fresh = SileroShared(8000), SileroShared(8000), SileroShared(8000)
    window = speech_8k[8000 : 8000 + 256]
    for i in range(0, 8000, 256):
        a(speech_8k[i : i + 256])  # a has heard half a second of speech
    assert b(window) == pytest.approx(fresh(window))
    assert a(window) != pytest.approx(fresh(window))
