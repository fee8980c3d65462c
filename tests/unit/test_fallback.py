"""Fallback chains: a failed provider is replaced for the rest of the call, nothing is lost."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import numpy as np
import pytest

from fakes.engine import collect
from voxagent.audio.format import PCMA_8K, PCMU_8K, AudioFormat, Encoding
from voxagent.audio.g711 import alaw_encode, ulaw_decode
from voxagent.providers.errors import ProviderAuthError, ProviderConnectionError, ProviderError
from voxagent.providers.fallback import FallbackRecognizer, FallbackVoice, ProviderChain
from voxagent.providers.stt.base import InterimCallback

PCM_8K = AudioFormat(Encoding.PCM16, 8000)
PCM_22K = AudioFormat(Encoding.PCM16, 22050)

ULAW_SILENCE = PCMU_8K.silence(160)  # 20 ms


class Recognizer:
    """Transcribes an utterance as the number of samples it was fed, or fails."""

    def __init__(self, name: str, *, fail: Exception | None = None, languages=("en",)) -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.languages = frozenset(languages)
        self.fail = fail
        self.opened = 0
        self.streams: list[Stream] = []

    def open_stream(self, fmt: AudioFormat, on_interim: InterimCallback) -> Stream:
        self.opened += 1
        stream = Stream(self, fmt)
        self.streams.append(stream)
        return stream

    async def close(self) -> None:
        pass


class Stream:
    def __init__(self, owner: Recognizer, fmt: AudioFormat) -> None:
        self.owner = owner
        self.format = fmt
        self.audio = bytearray()

    def feed(self, audio: bytes) -> None:
        self.audio += audio

    async def finish(self) -> str:
        if self.owner.fail is not None:
            raise self.owner.fail
        return f"{self.owner.name} heard {len(self.audio) // self.format.bytes_per_sample}"

    def abort(self) -> None:
        pass


class Voice:
    """Three 100 ms chunks of a steady level in ``fmt``, or a failure after ``fail_after``."""

    def __init__(
        self, name: str, fmt: AudioFormat, *, fail_after: int | None = None, level: int = 1000
    ) -> None:
        self.name = name
        self.output_format = fmt
        self.fail_after = fail_after
        self.level = level
        self.calls = 0

    def chunk(self) -> bytes:
        rate = self.output_format.sample_rate
        return self.output_format.encode(np.full(rate // 10, self.level, dtype=np.int16))

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        self.calls += 1
        for i in range(3):
            if self.fail_after is not None and i >= self.fail_after:
                raise ProviderConnectionError(self.name, "socket dropped")
            yield self.chunk()

    async def close(self) -> None:
        pass


class BytesVoice:
    """Yields the given chunks as they are: what a cloud voice does with the provider's bytes."""

    def __init__(self, name: str, fmt: AudioFormat, chunks: list[bytes]) -> None:
        self.name = name
        self.output_format = fmt
        self.chunks = chunks
        self.broken = False

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        if self.broken:
            raise ProviderConnectionError(self.name, "socket dropped")
        for chunk in self.chunks:
            yield chunk

    async def close(self) -> None:
        pass


def switches() -> tuple[list[tuple[str, str, str, str]], object]:
    seen: list[tuple[str, str, str, str]] = []
    return seen, lambda *args: seen.append(args)


async def test_the_next_recognizer_hears_the_same_utterance() -> None:
    seen, on_switch = switches()
    cloud = Recognizer("deepgram", fail=ProviderAuthError("deepgram", "HTTP 401"))
    local = Recognizer("pocketsphinx")
    stt = FallbackRecognizer(ProviderChain("stt", [cloud, local], on_switch=on_switch))  # type: ignore[arg-type, list-item]
    stream = stt.open_stream(PCMU_8K, lambda _: None)
    fed = [bytes([i]) * 160 for i in range(10)]
    for audio in fed:
        stream.feed(audio)
    assert await stream.finish() == "pocketsphinx heard 1600"
    assert seen == [("stt", "deepgram", "pocketsphinx", "deepgram: HTTP 401")]
    # The very bytes of the utterance, replayed in the call's format.
    (replayed,) = local.streams
    assert replayed.format == PCMU_8K and bytes(replayed.audio) == b"".join(fed)
    # The rest of the call stays on the fallback: the failed provider is not asked again.
    stream = stt.open_stream(PCMU_8K, lambda _: None)
    stream.feed(ULAW_SILENCE)
    assert await stream.finish() == "pocketsphinx heard 160"
    assert cloud.opened == 1 and stt.name == "pocketsphinx"


async def test_an_exhausted_chain_is_a_provider_error() -> None:
    broken = Recognizer("deepgram", fail=ProviderConnectionError("deepgram", "gone"))
    stt = FallbackRecognizer(ProviderChain("stt", [broken]))  # type: ignore[list-item]
    stream = stt.open_stream(PCMU_8K, lambda _: None)
    with pytest.raises(ProviderError, match="every recognizer"):
        await stream.finish()


async def test_chains_are_per_call() -> None:
    broken = Recognizer("deepgram", fail=ProviderConnectionError("deepgram", "gone"))
    local = Recognizer("pocketsphinx")
    first = FallbackRecognizer(ProviderChain("stt", [broken, local]))  # type: ignore[list-item]
    second = FallbackRecognizer(ProviderChain("stt", [broken, local]))  # type: ignore[list-item]
    await first.open_stream(PCMU_8K, lambda _: None).finish()
    assert first.name == "pocketsphinx" and second.name == "deepgram"


async def test_a_voice_failing_mid_sentence_is_replaced_and_resampled() -> None:
    seen, on_switch = switches()
    cloud = Voice("elevenlabs", PCM_8K, fail_after=1)
    local = Voice("piper", PCM_22K)
    tts = FallbackVoice(ProviderChain("tts", [cloud, local], on_switch=on_switch), PCM_8K)  # type: ignore[arg-type, list-item]
    assert tts.output_format == PCM_8K
    audio = await collect(tts.synthesize("Hello there."))
    # 100 ms from the first voice, then the whole sentence again (300 ms) from the second,
    # resampled to the call's rate: 16-bit samples, so two bytes each.
    assert abs(len(audio) - 2 * (800 + 2400)) <= 2 * 16
    assert audio[:1600] == cloud.chunk(), "the first voice's own format passed through"
    assert [s[:3] for s in seen] == [("tts", "elevenlabs", "piper")]
    assert await collect(tts.synthesize("Again."))
    assert cloud.calls == 1 and local.calls == 2


async def test_no_voice_left_raises() -> None:
    tts = FallbackVoice(ProviderChain("tts", [Voice("elevenlabs", PCM_8K, fail_after=0)]), PCM_8K)  # type: ignore[list-item]
    with pytest.raises(ProviderError, match="every voice"):
        await collect(tts.synthesize("Hi."))


async def test_an_unexpected_exception_still_falls_back() -> None:
    odd = Recognizer("deepgram", fail=KeyError("channel"))
    local = Recognizer("pocketsphinx")
    stt = FallbackRecognizer(ProviderChain("stt", [odd, local]))  # type: ignore[list-item]
    assert (await stt.open_stream(PCMU_8K, lambda _: None).finish()).startswith("pocketsphinx")


# --- one conversion at most -----------------------------------------------------------------

# Every μ-law byte, twice. 0x7F and 0xFF both decode to 0, and re-encoding 0 gives 0xFF, so
# any decode/encode round trip would turn the 0x7F bytes into 0xFF: equality proves none.
ALL_ULAW = bytes(range(256)) * 2


@pytest.mark.parametrize("fmt", [PCMU_8K, PCMA_8K, PCM_8K, PCM_22K], ids=str)
async def test_a_voice_in_the_call_format_passes_through_untouched(fmt: AudioFormat) -> None:
    chunks = [ALL_ULAW[:100], ALL_ULAW[100:101], ALL_ULAW[101:]]
    voice = BytesVoice("cloud", fmt, chunks)
    tts = FallbackVoice(ProviderChain("tts", [voice]), fmt)  # type: ignore[list-item]
    out = [chunk async for chunk in tts.synthesize("Hello.")]
    assert out == chunks, "chunk for chunk, byte for byte"
    assert b"\x7f" in b"".join(out) and b"\xff" in b"".join(out)


async def test_a_mixed_chain_converts_the_pcm_voice_once_and_passes_ulaw_through() -> None:
    piper = Voice("piper", PCM_22K, level=1000)  # three chunks of 100 ms at 22050 Hz
    cloud_chunks = [ALL_ULAW[:160], ALL_ULAW[160:]]
    cloud = BytesVoice("elevenlabs", PCMU_8K, cloud_chunks)
    tts = FallbackVoice(ProviderChain("tts", [piper, cloud]), PCMU_8K)  # type: ignore[list-item]

    converted = await collect(tts.synthesize("Hello there."))
    # μ-law at 8 kHz is one byte per sample: 300 ms → 2400 bytes, give or take the filter.
    assert abs(len(converted) - 0.3 * 8000) <= 16
    assert len(converted) != len(piper.chunk()) * 3, "not PCM bytes passed through"
    # Resampled once: the steady level comes out as the μ-law code of that level.
    middle = ulaw_decode(converted[200:-200])
    assert np.all(np.abs(middle.astype(np.int32) - 1000) <= 40)

    piper.fail_after = 0  # the offline voice fails: the μ-law voice takes over
    passed = [chunk async for chunk in tts.synthesize("Still there?")]
    assert passed == cloud_chunks, "the μ-law voice's bytes, untouched"
    assert tts.name == "elevenlabs"


async def test_a_ulaw_voice_in_an_alaw_call_is_converted_exactly_once() -> None:
    chunks = [ALL_ULAW[:77], ALL_ULAW[77:]]
    voice = BytesVoice("elevenlabs", PCMU_8K, chunks)
    tts = FallbackVoice(ProviderChain("tts", [voice]), PCMA_8K)  # type: ignore[list-item]
    out = await collect(tts.synthesize("Hello."))
    assert out == alaw_encode(ulaw_decode(ALL_ULAW))
    assert len(out) == len(ALL_ULAW), "same rate: no resampling"
