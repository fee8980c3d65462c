"""What the WebSocket voices (ElevenLabs, Cartesia) share: connecting with typed refusals,
deadlines that turn a silent provider into an error, text sources, and the byte interface
the engine uses on top of each voice's stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Iterable,
    Mapping,
)
from typing import TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from voxagent.audio.format import AudioFormat, Encoding
from voxagent.conversation.sentences import split_sentences
from voxagent.providers.errors import ProviderConnectionError
from voxagent.providers.tts.cloud_protocol import RawEncoding, classify_error

__all__ = [
    "CLOSE_TIMEOUT_S",
    "CloudVoice",
    "ResponseClock",
    "TextSource",
    "open_socket",
    "stop_task",
    "text_pieces",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
TextSource = str | Iterable[str] | AsyncIterable[str]
"""What the voices accept as text: a whole string, or pieces (e.g. sentences of an LLM)."""

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CLOSE_TIMEOUT_S = 1.0
"""Bound on the closing handshake, so a cancel never waits on a dead peer for long."""


async def text_pieces(source: TextSource) -> AsyncGenerator[str, None]:
    """Any text source as an async stream of pieces; a plain string is cut into sentences."""
    if isinstance(source, str):
        for sentence in split_sentences(source) or [source]:
            yield sentence
    elif isinstance(source, AsyncIterable):
        async for piece in source:
            yield piece
    else:
        for piece in source:
            yield piece


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel a helper task and wait for it, without swallowing our own cancellation
    (awaiting the cancelled task directly would make both CancelledErrors look alike)."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("TTS helper task failed", exc_info=error)


async def open_socket(
    provider: str,
    url: str,
    headers: Mapping[str, str],
    open_timeout_s: float,
    *,
    ping_interval_s: float | None = None,
) -> ClientConnection:
    """Connect, turning handshake refusals into typed errors (401 → auth, 429 → quota)."""
    try:
        return await connect(
            url,
            additional_headers=dict(headers),
            open_timeout=open_timeout_s,
            close_timeout=CLOSE_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            ping_interval=ping_interval_s,
            ping_timeout=ping_interval_s,
            proxy=None,
        )
    except InvalidStatus as exc:
        response = exc.response
        body = response.body.decode("utf-8", "replace").strip() if response.body else ""
        raise classify_error(
            provider, body or response.reason_phrase, status=response.status_code
        ) from exc
    except TimeoutError as exc:
        raise ProviderConnectionError(
            provider, f"no WebSocket handshake within {open_timeout_s:g} s"
        ) from exc
    except (OSError, WebSocketException) as exc:
        raise ProviderConnectionError(provider, f"cannot connect: {exc!r}") from exc


class ResponseClock:
    """When the provider must be heard from next, so a synthesis fails instead of hanging.

    No deadline while we are only waiting for our own text (an LLM thinking is not the
    provider's fault). Once generation was requested, the first message must come within
    ``first_byte_s``; once all text is sent, the stream may not stall for ``stall_s``.
    The deadline moves while a receive is pending (text sent from another task), hence
    the re-armable :func:`asyncio.timeout_at` around each receive instead of a fixed one.
    """

    def __init__(self, first_byte_s: float, stall_s: float) -> None:
        self.first_byte_s = first_byte_s
        self.stall_s = stall_s
        self._loop = asyncio.get_running_loop()
        self._requested_at: float | None = None
        self._input_done_at: float | None = None
        self._heard_at: float | None = None
        self._timer: asyncio.Timeout | None = None

    @property
    def heard(self) -> bool:
        return self._heard_at is not None

    def requested(self) -> None:
        """A message that makes the provider speak was sent."""
        if self._requested_at is None:
            self._requested_at = self._loop.time()
            self._rearm()

    def input_done(self) -> None:
        self.requested()
        self._input_done_at = self._loop.time()
        self._rearm()

    def message(self) -> None:
        """The provider said something (audio, alignment, timestamps…)."""
        self._heard_at = self._loop.time()
        self._rearm()

    def deadline(self) -> float | None:
        if self._heard_at is None:
            if self._requested_at is None:
                return None
            return self._requested_at + self.first_byte_s
        if self._input_done_at is None:
            return None
        return max(self._heard_at, self._input_done_at) + self.stall_s

    def wake(self) -> None:
        """End the pending wait now (cancel, failed text source): the caller checks why."""
        self._reschedule(self._loop.time())

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await under the current deadline; raises TimeoutError when it passes."""
        async with asyncio.timeout_at(self.deadline()) as timer:
            self._timer = timer
            try:
                return await awaitable
            finally:
                self._timer = None

    def expired(self, provider: str) -> ProviderConnectionError:
        if self._heard_at is None:
            return ProviderConnectionError(
                provider, f"no audio within {self.first_byte_s:g} s of the request"
            )
        return ProviderConnectionError(provider, f"stream stalled for {self.stall_s:g} s")

    def _rearm(self) -> None:
        self._reschedule(self.deadline())

    def _reschedule(self, when: float | None) -> None:
        timer = self._timer
        if timer is None or timer.expired():
            return
        with contextlib.suppress(RuntimeError):  # the wait is already finishing
            timer.reschedule(when)


class CloudVoice:
    """The engine's interface (:class:`~voxagent.providers.tts.base.TextToSpeech`) on top of
    a voice's raw byte stream (``stream_raw``): the provider's bytes, untouched."""

    raw_encoding: RawEncoding
    sample_rate: int

    @property
    def output_format(self) -> AudioFormat:
        return AudioFormat(_ENCODINGS[self.raw_encoding], self.sample_rate)

    def stream_raw(self, pieces: TextSource) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError

    def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """The audio of ``text`` in :attr:`output_format` (e.g. μ-law straight to a phone)."""
        return self.stream_raw(text)


_ENCODINGS: dict[RawEncoding, Encoding] = {
    "ulaw": Encoding.MULAW,
    "alaw": Encoding.ALAW,
    "pcm_s16le": Encoding.PCM16,
}
