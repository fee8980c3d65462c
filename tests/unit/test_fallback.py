"""Fallback chains: a failed provider is replaced for the rest of the call, nothing is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from voxagent.providers.errors import ProviderAuthError, ProviderConnectionError, ProviderError
from voxagent.providers.fallback import FallbackRecognizer, FallbackVoice, ProviderChain
from voxagent.providers.stt.base import InterimCallback


class Recognizer:
    """Transcribes an utterance as the number of samples it was fed, or fails."""

    def __init__(self, name: str, *, fail: Exception | None = None, languages=("en",)) -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.languages = frozenset(languages)
        self.fail = fail
        self.opened = 0

    def open_stream(self, sample_rate: int, on_interim: InterimCallback) -> Stream:
        self.opened += 1
        return Stream(self)

    async def close(self) -> None:
        pass


class Stream:
    def __init__(self, owner: Recognizer) -> None:
        self.owner = owner
        self.samples = 0

    def feed(self, pcm: np.ndarray) -> None:
        self.samples += len(pcm)

    async def finish(self) -> str:
        if self.owner.fail is not None:
            raise self.owner.fail
        return f"{self.owner.name} heard {self.samples}"

    def abort(self) -> None:
        pass


class Voice:
    def __init__(self, name: str, rate: int, *, fail_after: int | None = None) -> None:
        self.name = name
        self.sample_rate = rate
        self.fail_after = fail_after
        self.calls = 0

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        self.calls += 1
        for i in range(3):
            if self.fail_after is not None and i >= self.fail_after:
                raise ProviderConnectionError(self.name, "socket dropped")
            yield np.full(self.sample_rate // 10, 1000, dtype=np.int16)

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
    stream = stt.open_stream(8000, lambda _: None)
    for _ in range(10):
        stream.feed(np.zeros(160, dtype=np.int16))
    assert await stream.finish() == "pocketsphinx heard 1600"
    assert seen == [("stt", "deepgram", "pocketsphinx", "deepgram: HTTP 401")]
    # The rest of the call stays on the fallback: the failed provider is not asked again.
    stream = stt.open_stream(8000, lambda _: None)
    stream.feed(np.zeros(160, dtype=np.int16))
    assert await stream.finish() == "pocketsphinx heard 160"
    assert cloud.opened == 1 and stt.name == "pocketsphinx"


async def test_an_exhausted_chain_is_a_provider_error() -> None:
    broken = Recognizer("deepgram", fail=ProviderConnectionError("deepgram", "gone"))
    stt = FallbackRecognizer(ProviderChain("stt", [broken]))  # type: ignore[list-item]
    stream = stt.open_stream(8000, lambda _: None)
    with pytest.raises(ProviderError, match="every recognizer"):
        await stream.finish()


async def test_chains_are_per_call() -> None:
    broken = Recognizer("deepgram", fail=ProviderConnectionError("deepgram", "gone"))
    local = Recognizer("pocketsphinx")
    first = FallbackRecognizer(ProviderChain("stt", [broken, local]))  # type: ignore[list-item]
    second = FallbackRecognizer(ProviderChain("stt", [broken, local]))  # type: ignore[list-item]
    await first.open_stream(8000, lambda _: None).finish()
    assert first.name == "pocketsphinx" and second.name == "deepgram"


async def test_a_voice_failing_mid_sentence_is_replaced_and_resampled() -> None:
    seen, on_switch = switches()
    cloud = Voice("elevenlabs", 8000, fail_after=1)
    local = Voice("piper", 22050)
    tts = FallbackVoice(ProviderChain("tts", [cloud, local], on_switch=on_switch))  # type: ignore[arg-type, list-item]
    assert tts.sample_rate == 8000
    chunks = [c async for c in tts.synthesize("Hello there.")]
    total = sum(len(c) for c in chunks)
    # 100 ms from the first voice, then the whole sentence again (300 ms) from the second,
    # resampled to the chain's rate.
    assert abs(total - (800 + 2400)) <= 16
    assert [s[:3] for s in seen] == [("tts", "elevenlabs", "piper")]
    assert [c async for c in tts.synthesize("Again.")]
    assert cloud.calls == 1 and local.calls == 2


async def test_no_voice_left_raises() -> None:
    tts = FallbackVoice(ProviderChain("tts", [Voice("elevenlabs", 8000, fail_after=0)]))  # type: ignore[list-item]
    with pytest.raises(ProviderError, match="every voice"):
        [c async for c in tts.synthesize("Hi.")]


async def test_an_unexpected_exception_still_falls_back() -> None:
    odd = Recognizer("deepgram", fail=KeyError("channel"))
    local = Recognizer("pocketsphinx")
    stt = FallbackRecognizer(ProviderChain("stt", [odd, local]))  # type: ignore[list-item]
    assert (await stt.open_stream(8000, lambda _: None).finish()).startswith("pocketsphinx")
