"""ElevenLabs voice over the WebSocket stream-input API.

One socket per synthesis: the single-context protocol ends a stream by closing the socket,
so a socket cannot be reused, and a fresh one makes barge-in trivial (close it). What can
be done ahead of time is the handshake (TCP + TLS + upgrade, 100-300 ms on the real service):
with ``prewarm`` the voice keeps one connected spare socket, opened in the background while
a synthesis runs, so the next sentence starts with its first message instead of a connect.
Text is sent piece by piece while audio is read, so the first audio arrives before the rest
of the text is even known. With ``ulaw_8000`` the phone path forwards the bytes untouched.

The pieces both WebSocket voices share live in :mod:`voxagent.providers.tts.cloud`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Mapping,
)
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from voxagent.providers.tts.cloud import (
    CloudVoice,
    ResponseClock,
    TextSource,
    open_socket,
    stop_task,
    text_pieces,
)
from voxagent.providers.tts.cloud_protocol import RawEncoding, classify_error, close_error
from voxagent.providers.tts.elevenlabs_protocol import (
    DEFAULT_BASE_URL,
    END_OF_INPUT,
    KEEP_ALIVE,
    initial_message,
    parse_audio_format,
    parse_message,
    stream_input_url,
    text_message,
)

__all__ = ["ElevenLabsVoice"]

log = logging.getLogger(__name__)

SPARE_AGE_FRACTION = 0.75
"""A spare socket is replaced at this share of the server's inactivity timeout (15 s of the
default 20 s): the server closes a socket that got no text, and the margin covers the clock
difference and the trip of the first message."""
SPARE_HORIZON_S = 60.0
"""A spare is only replaced within this long after the last synthesis: longer than a caller's
turn usually lasts, and past it the call has likely ended, so rotating sockets would churn."""


async def _next_piece(pieces: AsyncIterator[str]) -> str | None:
    return await anext(pieces, None)


class _Synthesis:
    """State one in-flight synthesis shares between its reader, its sender and ``cancel``."""

    def __init__(self, ws: ClientConnection, clock: ResponseClock) -> None:
        self.ws = ws
        self.clock = clock
        self.cancelled = False
        self.input_done = False
        self.source_error: BaseException | None = None
        self.sender: asyncio.Task[None] | None = None


async def _close_quietly(ws: ClientConnection) -> None:
    """Close a socket nobody uses; failing to is nobody's error, so it is only logged."""
    try:
        await ws.close()
    except Exception as exc:
        log.debug("closing an ElevenLabs spare socket failed: %r", exc)


class _Spare:
    """A socket connecting or connected ahead of the synthesis that will use it."""

    def __init__(self, connecting: asyncio.Task[ClientConnection]) -> None:
        self.connecting = connecting
        self.expiry: asyncio.TimerHandle | None = None
        """Replaces the spare before the server's inactivity timeout closes it."""


class ElevenLabsVoice(CloudVoice):
    """ElevenLabs text-to-speech; a :class:`~voxagent.providers.tts.base.TextToSpeech`.

    One instance serves every call of the process. ``prewarm`` keeps at most one spare
    socket for whichever synthesis starts next; ``prewarm=False`` connects per synthesis.
    """

    name = "elevenlabs"

    def __init__(
        self,
        api_key: str,
        voice_id: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        model_id: str = "eleven_flash_v2_5",
        output_format: str = "ulaw_8000",
        voice_settings: Mapping[str, Any] | None = None,
        chunk_length_schedule: list[int] | None = None,
        flush_pieces: bool = True,
        inactivity_timeout: int | None = None,
        keepalive_s: float = 15.0,
        connect_timeout_s: float = 5.0,
        first_byte_timeout_s: float = 3.0,
        stall_timeout_s: float = 5.0,
        prewarm: bool = True,
    ) -> None:
        fmt = parse_audio_format(output_format)
        server_idle = inactivity_timeout or 20
        if keepalive_s >= server_idle:
            raise ValueError(f"keepalive_s must be below the {server_idle} s inactivity timeout")
        self.output_format_name = output_format
        self.sample_rate: int = fmt.sample_rate
        self.raw_encoding: RawEncoding = fmt.encoding
        self.voice_id = voice_id
        self.model_id = model_id
        self._headers = {"xi-api-key": api_key}
        self._url = stream_input_url(
            base_url,
            voice_id,
            model_id=model_id,
            output_format=output_format,
            inactivity_timeout=inactivity_timeout,
        )
        self._bos = json.dumps(initial_message(api_key, voice_settings, chunk_length_schedule))
        self._flush_pieces = flush_pieces
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._first_byte_timeout_s = first_byte_timeout_s
        self._stall_timeout_s = stall_timeout_s
        self._active: set[_Synthesis] = set()
        self._epoch = 0  # bumped by cancel(), so a synthesis still connecting is dropped too
        self._prewarm = prewarm
        self._spare_max_age_s = server_idle * SPARE_AGE_FRACTION
        self._spare: _Spare | None = None
        self._last_used = -float("inf")  # loop time of the last synthesis or warm-up
        self._chores: set[asyncio.Task[None]] = set()  # closing discarded spares

    # --- public API ---------------------------------------------------------------------

    async def stream_raw(self, pieces: TextSource) -> AsyncGenerator[bytes, None]:
        """Raw audio for streamed text; ends quietly when :meth:`cancel` is called."""
        if isinstance(pieces, str) and not pieces.strip():
            return
        epoch = self._epoch
        self._last_used = asyncio.get_running_loop().time()
        ws = await self._connect()
        synthesis = _Synthesis(ws, ResponseClock(self._first_byte_timeout_s, self._stall_timeout_s))
        if epoch != self._epoch:  # cancelled while connecting
            await ws.close()
            return
        self._open_spare()  # for the next sentence, while this one is spoken
        self._active.add(synthesis)
        synthesis.sender = asyncio.create_task(self._send_text(synthesis, pieces))
        try:
            async with contextlib.aclosing(self._receive(synthesis)) as audio_chunks:
                async for audio in audio_chunks:
                    yield audio
        finally:
            self._active.discard(synthesis)
            await stop_task(synthesis.sender)
            await ws.close()

    async def cancel(self) -> None:
        """Barge-in: close every in-flight synthesis; their iterators end quietly."""
        self._epoch += 1
        active = list(self._active)
        for synthesis in active:
            synthesis.cancelled = True
            if synthesis.sender is not None:
                synthesis.sender.cancel()
            synthesis.clock.wake()
        for synthesis in active:
            await synthesis.ws.close(1000, "cancelled")

    async def warm_up(self) -> None:
        """Connect the spare now (e.g. when a call is answered), so even the first sentence
        skips the handshake. Never raises: a failure shows on the next synthesis instead.
        Does nothing with ``prewarm=False``."""
        self._last_used = asyncio.get_running_loop().time()
        self._open_spare()
        if self._spare is not None:
            await asyncio.wait({self._spare.connecting})

    async def close(self) -> None:
        """Stop every synthesis and close the spare: no socket of ours is left open.

        The voice stays usable (like after :meth:`cancel`); a later synthesis connects and
        prewarms again.
        """
        await self.cancel()
        spare, self._spare = self._spare, None
        if spare is not None:
            self._discard(spare)
            await asyncio.wait({spare.connecting})
        while self._chores:
            await asyncio.wait(set(self._chores))

    # --- internals: the spare socket ----------------------------------------------------

    async def _connect(self) -> ClientConnection:
        """A socket for one synthesis: the spare when it is alive, else a new connection.

        Taking the spare is synchronous, so of several concurrent syntheses exactly one gets
        it; the next may adopt the spare the first one starts, the rest connect as usual.
        """
        spare, self._spare = self._spare, None
        if spare is not None:
            if spare.expiry is not None:
                spare.expiry.cancel()
            ws = await self._adopt(spare)
            if ws is not None:
                return ws
        return await open_socket(self.name, self._url, self._headers, self._connect_timeout_s)

    async def _adopt(self, spare: _Spare) -> ClientConnection | None:
        """The spare's socket, or None when it is unusable and a new one must be opened."""
        connecting = spare.connecting
        if not connecting.done():
            # Still in its handshake: finishing that one is quicker than starting another.
            # Its error, if any, is this synthesis's error, as if it had connected itself.
            try:
                return await connecting
            except asyncio.CancelledError:
                self._discard(spare)  # in case the handshake finished just as we were cancelled
                raise
        if connecting.cancelled() or connecting.exception() is not None:
            return None  # failed before we came; a fresh attempt reports the error
        ws = connecting.result()
        if ws.state is State.OPEN:
            return ws
        log.debug("ElevenLabs spare socket was closed by the server; connecting anew")
        self._discard(spare)
        return None

    def _open_spare(self) -> None:
        """Start connecting the next synthesis's socket, unless one is open or opening."""
        if not self._prewarm or self._spare is not None:
            return
        connecting = asyncio.create_task(
            open_socket(self.name, self._url, self._headers, self._connect_timeout_s),
            name="elevenlabs-spare",
        )
        spare = _Spare(connecting)
        connecting.add_done_callback(functools.partial(self._spare_connected, spare))
        self._spare = spare

    def _spare_connected(self, spare: _Spare, connecting: asyncio.Task[ClientConnection]) -> None:
        """Schedule the replacement of a fresh spare; forget a failed one (the error is
        retrieved here, so it never surfaces as an unhandled-task warning)."""
        if connecting.cancelled():
            return
        error = connecting.exception()
        if error is not None:
            log.debug("ElevenLabs spare socket failed: %s", error)
            if self._spare is spare:
                self._spare = None
            return
        if self._spare is spare:
            loop = asyncio.get_running_loop()
            spare.expiry = loop.call_later(self._spare_max_age_s, self._expire, spare)

    def _expire(self, spare: _Spare) -> None:
        """Replace a spare before the server's inactivity timeout; while calls go on only."""
        if self._spare is not spare:
            return
        self._spare = None
        self._discard(spare)
        if asyncio.get_running_loop().time() - self._last_used < SPARE_HORIZON_S:
            self._open_spare()

    def _discard(self, spare: _Spare) -> None:
        """Drop a spare: stop its handshake, or close its socket in the background."""
        if spare.expiry is not None:
            spare.expiry.cancel()
        connecting = spare.connecting
        if connecting.done():
            self._close_if_connected(connecting)
        else:
            connecting.cancel()  # websockets aborts a cancelled handshake itself
            connecting.add_done_callback(self._close_if_connected)

    def _close_if_connected(self, connecting: asyncio.Task[ClientConnection]) -> None:
        """Close a discarded spare's socket, off the caller's path (a close is a round trip)."""
        if connecting.cancelled() or connecting.exception() is not None:
            return
        chore = asyncio.create_task(_close_quietly(connecting.result()), name="elevenlabs-spare")
        self._chores.add(chore)
        chore.add_done_callback(self._chores.discard)

    # --- internals: one synthesis -------------------------------------------------------

    async def _send_text(self, synthesis: _Synthesis, source: TextSource) -> None:
        ws, clock = synthesis.ws, synthesis.clock
        pieces = text_pieces(source)
        try:
            await ws.send(self._bos)
            while True:
                piece = await self._next_with_keepalive(ws, pieces)
                if piece is None:
                    break
                if piece.strip():
                    message = text_message(
                        piece, flush=self._flush_pieces, try_trigger=not self._flush_pieces
                    )
                    await ws.send(json.dumps(message))
                    if self._flush_pieces:
                        clock.requested()
            await ws.send(json.dumps(END_OF_INPUT))
            synthesis.input_done = True
            clock.input_done()
        except ConnectionClosed:
            pass  # the reader reports why
        except Exception as exc:
            # The text source itself failed: stop the synthesis and let the reader re-raise.
            synthesis.source_error = exc
            clock.wake()
        finally:
            await pieces.aclose()

    async def _next_with_keepalive(
        self, ws: ClientConnection, pieces: AsyncIterator[str]
    ) -> str | None:
        """The next piece; while the source is slow, keep the socket from idling out.

        The pending ``anext`` is never cancelled by the wait (that would kill an async
        generator source), only by the task being cancelled as a whole.
        """
        pending = asyncio.ensure_future(_next_piece(pieces))
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=self._keepalive_s)
                if done:
                    return pending.result()
                await ws.send(json.dumps(KEEP_ALIVE))
        finally:
            if not pending.done():
                pending.cancel()
                await asyncio.wait({pending})
                if not pending.cancelled():
                    pending.exception()  # mark retrieved; we are being cancelled anyway

    async def _receive(self, synthesis: _Synthesis) -> AsyncGenerator[bytes, None]:
        ws, clock = synthesis.ws, synthesis.clock
        while True:
            if synthesis.cancelled:
                return
            if synthesis.source_error is not None:
                raise synthesis.source_error
            try:
                raw = await clock.wait(ws.recv())
            except TimeoutError:
                if synthesis.cancelled or synthesis.source_error is not None:
                    continue
                raise clock.expired(self.name) from None
            except ConnectionClosed as exc:
                if synthesis.cancelled:
                    return
                if synthesis.source_error is not None:
                    raise synthesis.source_error from exc
                if self._clean_end(exc, synthesis):
                    return
                close = exc.rcvd
                raise close_error(
                    self.name, close.code if close else None, close.reason if close else ""
                ) from exc
            if synthesis.cancelled:
                return
            clock.message()
            event = parse_message(raw)
            if event.error is not None:
                # An in-stream error ends the synthesis; the server closes right after.
                raise classify_error(self.name, event.error, code=event.error_code)
            if event.audio:
                yield event.audio
            if event.final:
                return

    @staticmethod
    def _clean_end(exc: ConnectionClosed, synthesis: _Synthesis) -> bool:
        """A normal close after all text was sent is the end, even without ``isFinal``
        (the official SDK reads until the close and only fails on a code other than 1000)."""
        close = exc.rcvd
        return synthesis.input_done and close is not None and close.code == 1000
