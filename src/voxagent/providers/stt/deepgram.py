"""Cloud recognition with Deepgram's live WebSocket API.

One WebSocket per utterance stream. Deepgram takes every format a call can be in (μ-law and
A-law at 8 kHz, 16-bit PCM at any rate), so the caller's bytes go out exactly as the channel
delivered them: nothing is decoded, resampled or re-encoded. A socket can drop mid-sentence;
audio not yet covered by a final result stays in a bounded buffer and is resent on the next
connection, so words spoken while we reconnect are still recognized.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from voxagent.audio.format import AudioFormat, Encoding
from voxagent.providers.errors import ProviderAuthError, ProviderError, ProviderUnavailable
from voxagent.providers.stt import deepgram_protocol as dg
from voxagent.providers.stt.base import InterimCallback

log = logging.getLogger(__name__)

DEEPGRAM_ENCODING: dict[Encoding, dg.Encoding] = {
    Encoding.MULAW: "mulaw",
    Encoding.ALAW: "alaw",
    Encoding.PCM16: "linear16",
}


class DeepgramRecognizer:
    name = "deepgram"
    languages = frozenset({"en"})

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "wss://api.deepgram.com",
        model: str = "nova-2",
        language: str = "en",
        keepalive_s: float = 3.0,
        max_reconnects: int = 5,
        backoff_s: float = 0.25,
        finalize_timeout_s: float = 1.5,
        max_buffer_s: float = 30.0,
        endpointing_ms: int = 300,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.model = model
        self.language = language
        self.languages = frozenset({language.split("-")[0]})
        self.keepalive_s = keepalive_s
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s
        self.finalize_timeout_s = finalize_timeout_s
        self.max_buffer_s = max_buffer_s
        self.endpointing_ms = endpointing_ms
        self._streams: set[DeepgramStream] = set()

    def open_stream(self, fmt: AudioFormat, on_interim: InterimCallback) -> DeepgramStream:
        stream = DeepgramStream(self, fmt, on_interim)
        self._streams.add(stream)
        return stream

    def _forget(self, stream: DeepgramStream) -> None:
        self._streams.discard(stream)

    async def close(self) -> None:
        streams = list(self._streams)
        for stream in streams:
            stream.abort()
        await asyncio.gather(*(s.wait_closed() for s in streams), return_exceptions=True)


class DeepgramStream:
    """Audio goes into a byte buffer; one task owns the socket and (re)sends from it.

    Offsets are absolute byte positions in this utterance's encoded audio: ``_base`` is where
    the buffer starts (everything before is covered by a final result), ``_sent`` how far the
    current connection got, ``_origin`` where the current connection started (Deepgram's
    timestamps count from there).
    """

    def __init__(
        self, recognizer: DeepgramRecognizer, fmt: AudioFormat, on_interim: InterimCallback
    ) -> None:
        self._rec = recognizer
        self._on_interim = on_interim
        self.encoding = DEEPGRAM_ENCODING[fmt.encoding]
        self._width = fmt.bytes_per_sample
        self._bytes_per_s = fmt.bytes_for_ms(1000)
        self._chunk_bytes = self._bytes_per_s // 10  # 100 ms frames, even when resending
        self._max_buffer = int(recognizer.max_buffer_s * self._bytes_per_s)
        self._url = dg.listen_url(
            recognizer.base_url,
            model=recognizer.model,
            language=recognizer.language,
            encoding=self.encoding,
            sample_rate=fmt.sample_rate,
            endpointing=recognizer.endpointing_ms,
        )
        self._buffer = bytearray()
        self._base = 0
        self._sent = 0
        self._origin = 0
        self._finals: list[str] = []
        self._wake = asyncio.Event()
        self._finalized = asyncio.Event()
        self._finishing = False
        self._aborted = False
        self._error: ProviderError | None = None
        self._progressed = False  # the current connection has produced results
        self._finalize_deadline = 0.0
        self.connections = 0
        self.dropped_bytes = 0
        self._task = asyncio.create_task(self._run(), name="deepgram-stream")

    # --- the TranscriptionStream interface -------------------------------------------------

    def feed(self, audio: bytes) -> None:
        if self._finishing or self._aborted or not audio:
            return
        self._append(audio)

    async def finish(self) -> str:
        if not self._finishing and not self._aborted:
            self._finishing = True
            self._wake.set()
        await self.wait_closed()
        if self._error is not None:
            raise self._error
        return self.transcript

    def abort(self) -> None:
        self._aborted = True
        self._wake.set()

    async def wait_closed(self) -> None:
        await asyncio.wait({self._task})

    @property
    def transcript(self) -> str:
        return " ".join(self._finals)

    # --- buffer ----------------------------------------------------------------------------

    def _append(self, audio: bytes) -> None:
        self._buffer += audio
        overflow = len(self._buffer) - self._max_buffer
        if overflow > 0:
            # Bounded memory beats completeness when the provider is gone for this long.
            overflow += overflow % self._width
            del self._buffer[:overflow]
            self._base += overflow
            self._sent = max(self._sent, self._base)
            self.dropped_bytes += overflow
        self._wake.set()

    @property
    def _end(self) -> int:
        return self._base + len(self._buffer)

    def _cover(self, seconds: float) -> None:
        """Forget audio a final result has transcribed: it never needs resending."""
        width = self._width
        covered = self._origin + round(seconds * self._bytes_per_s / width) * width
        covered = min(covered, self._sent)
        if covered > self._base:
            del self._buffer[: covered - self._base]
            self._base = covered

    # --- connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        try:
            while not self._aborted:
                try:
                    async with connect(
                        self._url,
                        additional_headers={"Authorization": f"Token {self._rec.api_key}"},
                        open_timeout=5,
                        close_timeout=1,
                        max_queue=None,
                    ) as ws:
                        self.connections += 1
                        if await self._session(ws):
                            return
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    reason = exc.response.headers.get("dg-error", "") or exc.response.body
                    if status in (401, 403):
                        self._error = ProviderAuthError(
                            "deepgram", f"rejected the API key (HTTP {status}): {reason!r}"
                        )
                        return
                    log.warning("deepgram handshake failed: HTTP %s %r", status, reason)
                except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                    log.warning("deepgram connection lost: %s", exc)
                # A connection that produced results was healthy: count drops, not lifetimes.
                failures = 1 if self._progressed else failures + 1
                if failures > self._rec.max_reconnects:
                    self._error = ProviderUnavailable(
                        "deepgram", f"unreachable after {self._rec.max_reconnects} reconnects"
                    )
                    return
                await asyncio.sleep(min(self._rec.backoff_s * 2 ** (failures - 1), 5.0))
        except Exception as exc:  # the task is never awaited on abort: keep the loop quiet
            log.exception("deepgram stream failed")
            self._error = ProviderError("deepgram", f"stream failed: {exc}")
        finally:
            self._finalized.set()
            self._rec._forget(self)

    async def _session(self, ws: ClientConnection) -> bool:
        """Serve one connection; True when the utterance is done, False to reconnect."""
        self._origin = self._sent = self._base
        self._progressed = False
        receiver = asyncio.create_task(self._receive(ws))
        try:
            return await self._send(ws, receiver)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiver

    async def _send(self, ws: ClientConnection, receiver: asyncio.Task[None]) -> bool:
        last_sent = time.monotonic()
        finalize_sent = False
        while True:
            if receiver.done():
                receiver.result()  # re-raise ConnectionClosed so we reconnect
                if self._aborted:
                    return True
                raise ConnectionClosed(None, None)
            if self._aborted:
                await self._say_goodbye(ws, receiver)
                return True
            if self._sent < self._end:
                start = self._sent - self._base
                chunk = bytes(self._buffer[start : start + self._chunk_bytes])
                self._sent += len(chunk)
                await ws.send(chunk)
                last_sent = time.monotonic()
                continue
            if self._finishing and not finalize_sent:
                if self._base >= self._end:
                    await self._say_goodbye(ws, receiver)  # nothing left to flush
                    return True
                await ws.send(dg.FINALIZE)
                finalize_sent = True
                self._finalize_deadline = time.monotonic() + self._rec.finalize_timeout_s
            if finalize_sent:
                remaining = self._finalize_deadline - time.monotonic()
                if self._finalized.is_set() or remaining <= 0:
                    await self._say_goodbye(ws, receiver)
                    return True
                await self._wait(min(remaining, self._rec.keepalive_s), receiver)
                continue
            idle = time.monotonic() - last_sent
            if idle >= self._rec.keepalive_s:
                await ws.send(dg.KEEPALIVE)
                last_sent = time.monotonic()
                continue
            await self._wait(self._rec.keepalive_s - idle, receiver)

    async def _wait(self, seconds: float, receiver: asyncio.Task[None]) -> None:
        self._wake.clear()
        waiter = asyncio.create_task(self._wake.wait())
        await asyncio.wait({waiter, receiver}, timeout=seconds, return_when="FIRST_COMPLETED")
        waiter.cancel()

    async def _say_goodbye(self, ws: ClientConnection, receiver: asyncio.Task[None]) -> None:
        """CloseStream, then give the server a moment to send Metadata and close."""
        with contextlib.suppress(ConnectionClosed):
            await ws.send(dg.CLOSE_STREAM)
        await asyncio.wait({receiver}, timeout=0.5)

    async def _receive(self, ws: ClientConnection) -> None:
        async for frame in ws:
            if isinstance(frame, bytes):
                continue
            try:
                event = dg.parse_server_message(frame)
            except dg.MalformedMessage as exc:
                log.warning("ignoring malformed Deepgram message: %s", exc)
                continue
            if isinstance(event, dg.Results):
                self._progressed = True
                self._on_results(event)
            elif isinstance(event, dg.Error):
                log.warning("Deepgram error %s: %s", event.variant, event.description)

    def _on_results(self, event: dg.Results) -> None:
        if self._aborted:
            return
        if not event.is_final:
            if event.transcript:
                self._on_interim(" ".join([*self._finals, event.transcript]))
            return
        if event.transcript:
            self._finals.append(event.transcript)
        self._cover(event.end)
        if self._finishing and (event.from_finalize or self._base >= self._end):
            self._finalized.set()
            self._wake.set()
        elif self._finals and event.transcript:
            self._on_interim(self.transcript)
