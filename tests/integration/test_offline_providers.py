"""The offline recognizer and voice, for real: Piper speaks, PocketSphinx listens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from voxagent.audio.resample import resample
from voxagent.providers.stt.pocketsphinx import PocketSphinxRecognizer
from voxagent.providers.tts.piper import PiperVoiceSynthesizer

SENTENCE = "i would like to book an appointment"


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
    stream = stt.open_stream(8000, interims.append)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(0, len(pcm), 160):
        stream.feed(pcm[i : i + 160])
        await asyncio.sleep(max(0.0, start + (i // 160 + 1) * 0.02 - loop.time()))
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
    stream = recognizer.open_stream(8000, lambda _: None)
    stream.feed(speech_8k[: len(speech_8k) // 2])
    await asyncio.sleep(0.3)
    stream.abort()
    await asyncio.sleep(0.1)
    for _ in range(2):  # both decoders, whichever the aborted one was
        assert await speak_into(recognizer, speech_8k, []) == SENTENCE


async def test_the_voice_speaks_at_its_native_rate(voice: PiperVoiceSynthesizer) -> None:
    chunks = [chunk async for chunk in voice.synthesize("Hello. How can I help you?")]
    audio = np.concatenate(chunks)
    assert voice.sample_rate == 22050
    assert audio.dtype == np.int16
    assert 0.8 < len(audio) / voice.sample_rate < 4.0
    assert np.abs(audio).max() > 3000, "real speech, not silence"
    again = [chunk async for chunk in voice.synthesize("Hello. How can I help you?")]
    assert voice.cache_hits >= 1 and np.array_equal(again[0], audio)
