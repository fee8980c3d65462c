"""Fallback chains: when a provider fails mid-call, the next one serves the rest of the call.

A chain is per call: one caller's Deepgram socket dying says little about the next call, and
switching every call at once on one error would turn a blip into an outage. Each switch is
reported through ``on_switch`` so the runtime can log and count it.

The recognizer chain keeps the utterance's audio while it is being recognized, so when the
provider fails at the end of a sentence the next one recognizes that same sentence: the
caller is not asked to repeat. The voice chain re-speaks the sentence that failed with the
next voice (a caller may hear its start twice, which beats hearing nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from voxagent.audio.format import AudioConverter, AudioFormat
from voxagent.providers.errors import ProviderError
from voxagent.providers.stt.base import InterimCallback, SpeechToText, TranscriptionStream
from voxagent.providers.tts.base import TextToSpeech

__all__ = ["ChainStream", "FallbackRecognizer", "FallbackVoice", "ProviderChain", "SwitchCallback"]

log = logging.getLogger(__name__)

SwitchCallback = Callable[[str, str, str, str], None]
"""``on_switch(stage, failed_provider, next_provider, reason)``."""

# Audio kept per utterance for a fallback recognizer; longer turns keep only their end.
MAX_REPLAY_SECONDS = 30


class _Named(Protocol):
    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=_Named)


class ProviderChain(Generic[P]):
    """One call's position in a configured list of providers for one stage."""

    def __init__(
        self,
        stage: str,
        providers: Sequence[P],
        *,
        call_id: str = "",
        on_switch: SwitchCallback | None = None,
    ) -> None:
        if not providers:
            raise ValueError(f"an empty {stage} chain")
        self.stage = stage
        self.providers = list(providers)
        self.call_id = call_id
        self._on_switch = on_switch
        self._index = 0
        self.switches: list[tuple[str, str, str]] = []
        self.errors: list[str] = []
        """The type of each failure that caused a switch, e.g. ``ProviderAuthError``."""

    @property
    def current(self) -> P | None:
        """The provider in use, or None once every provider has failed."""
        return self.providers[self._index] if self._index < len(self.providers) else None

    @property
    def name(self) -> str:
        current = self.current
        return current.name if current is not None else "none"

    def fail(self, provider: P, error: BaseException, *, keep_last: bool = False) -> P | None:
        """``provider`` failed: move past it (once, however many of its streams report it)
        and return the provider to use now, or None when the chain is exhausted.
        ``keep_last``: the last provider is never given up (a model that failed one turn is
        still the best bet for the next)."""
        if keep_last and self._index >= len(self.providers) - 1:
            return self.current
        if provider is self.current:
            self._index += 1
            following = self.current
            to = following.name if following is not None else "none"
            reason = str(error) or type(error).__name__
            self.switches.append((provider.name, to, reason))
            self.errors.append(type(error).__name__)
            log.warning(
                "call %s: %s provider %s failed (%s); %s",
                self.call_id or "-",
                self.stage,
                provider.name,
                reason,
                f"switching to {to} for the rest of the call" if following else "none left",
            )
            if self._on_switch is not None:
                self._on_switch(self.stage, provider.name, to, reason)
        return self.current


def _is_provider_failure(error: BaseException) -> bool:
    """Failures a fallback can fix. Anything else is logged with its traceback first,
    because it is probably our bug, but the call still goes on with the next provider."""
    if isinstance(error, ProviderError | OSError | TimeoutError):
        return True
    log.error("unexpected provider failure", exc_info=error)
    return isinstance(error, Exception)


class FallbackRecognizer:
    """A :class:`SpeechToText` over a per-call chain of recognizers."""

    def __init__(self, chain: ProviderChain[SpeechToText]) -> None:
        self.chain = chain
        self.languages = frozenset().union(*(p.languages for p in chain.providers))

    @property
    def name(self) -> str:
        return self.chain.name

    def open_stream(self, fmt: AudioFormat, on_interim: InterimCallback) -> ChainStream:
        return ChainStream(self.chain, fmt, on_interim)

    async def close(self) -> None:
        """The providers are shared between calls; whoever built them closes them."""


class ChainStream:
    """One utterance through the chain; ``provider_name`` says who recognized it."""

    def __init__(
        self, chain: ProviderChain[SpeechToText], fmt: AudioFormat, on_interim: InterimCallback
    ) -> None:
        self._chain = chain
        self._format = fmt
        self._on_interim = on_interim
        self._audio: deque[bytes] = deque()
        self._bytes = 0
        self._max_bytes = MAX_REPLAY_SECONDS * fmt.bytes_for_ms(1000)
        self._provider: SpeechToText | None = None
        self._stream: TranscriptionStream | None = None
        self.provider_name = "none"
        self._open(chain.current)

    def _open(self, provider: SpeechToText | None) -> None:
        self._provider = provider
        self._stream = None
        if provider is None:
            return
        self.provider_name = provider.name
        try:
            self._stream = provider.open_stream(self._format, self._on_interim)
        except Exception as exc:  # e.g. the provider refuses at once
            if not _is_provider_failure(exc):
                raise
            self._open(self._chain.fail(provider, exc))
            return
        for audio in self._audio:
            self._stream.feed(audio)

    def feed(self, audio: bytes) -> None:
        self._audio.append(audio)
        self._bytes += len(audio)
        while self._bytes > self._max_bytes and len(self._audio) > 1:
            self._bytes -= len(self._audio.popleft())
        if self._stream is not None:
            self._stream.feed(audio)

    async def finish(self) -> str:
        try:
            while True:
                provider, stream = self._provider, self._stream
                if provider is None or stream is None:
                    raise ProviderError(self._chain.stage, "every recognizer in the chain failed")
                try:
                    return await stream.finish()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not _is_provider_failure(exc):
                        raise
                    self._open(self._chain.fail(provider, exc))
        finally:
            self._audio.clear()

    def abort(self) -> None:
        if self._stream is not None:
            self._stream.abort()
        self._audio.clear()


class FallbackVoice:
    """A :class:`TextToSpeech` over a per-call chain of voices, speaking the call's format.

    Each voice's own format is converted to the call's exactly once (no conversion at all when
    they match), so a chain that mixes Piper and a cloud voice never resamples twice.
    """

    def __init__(self, chain: ProviderChain[TextToSpeech], fmt: AudioFormat) -> None:
        self.chain = chain
        self.output_format = fmt

    @property
    def name(self) -> str:
        return self.chain.name

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        while (voice := self.chain.current) is not None:
            converter = AudioConverter(voice.output_format, self.output_format)
            try:
                async with contextlib.aclosing(voice.synthesize(text)) as chunks:
                    async for chunk in chunks:
                        out = converter.convert(chunk)
                        if out:
                            yield out
                tail = converter.flush()
                if tail:
                    yield tail
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not _is_provider_failure(exc):
                    raise
                self.chain.fail(voice, exc)
        raise ProviderError(self.chain.stage, "every voice in the chain failed")

    async def close(self) -> None:
        """The voices are shared between calls; whoever built them closes them."""
