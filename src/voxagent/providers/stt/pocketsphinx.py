"""Offline English recognition with PocketSphinx (its US English model ships in the wheel).

Decoders are heavy (tens of MB each) and only busy while someone speaks, so a call borrows
one from a small pool for the length of an utterance instead of owning one: a hundred idle
calls cost no decoder at all. Decoding runs in a dedicated thread pool, never on the loop.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from voxagent.audio.resample import StreamResampler
from voxagent.providers.stt.base import InterimCallback

log = logging.getLogger(__name__)

MODEL_RATE = 16000
BATCH_SECONDS = 0.16
"""Decode in batches this long: fewer thread hops, interim results still ~6 per second."""


def _new_decoder() -> Any:
    from pocketsphinx import Config, Decoder

    config = Config(samprate=MODEL_RATE, loglevel="FATAL")
    return Decoder(config)


class PocketSphinxRecognizer:
    name = "pocketsphinx"
    languages = frozenset({"en"})

    def __init__(self, workers: int = 2) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stt")
        self._free: asyncio.Queue[Any] = asyncio.Queue()
        self._created = 0
        self._max = workers
        self._lock = asyncio.Lock()

    async def warm_up(self) -> None:
        """Load one decoder before the first call so the first caller does not wait for it."""
        decoder = await self._acquire()
        self._release(decoder)

    async def _acquire(self) -> Any:
        async with self._lock:
            if self._free.empty() and self._created < self._max:
                self._created += 1
                loop = asyncio.get_running_loop()
                decoder = await loop.run_in_executor(self._executor, _new_decoder)
                return decoder
        return await self._free.get()

    def _release(self, decoder: Any) -> None:
        self._free.put_nowait(decoder)

    async def run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def open_stream(self, sample_rate: int, on_interim: InterimCallback) -> PocketSphinxStream:
        return PocketSphinxStream(self, sample_rate, on_interim)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _decode_batch(decoder: Any, pcm: bytes, start: bool) -> str:
    if start:
        decoder.start_utt()
    decoder.process_raw(pcm, False, False)
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def _end(decoder: Any) -> str:
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


class PocketSphinxStream:
    """Audio goes into a queue; a task decodes it in batches with a borrowed decoder."""

    def __init__(
        self, recognizer: PocketSphinxRecognizer, sample_rate: int, on_interim: InterimCallback
    ) -> None:
        self._recognizer = recognizer
        self._resampler = (
            StreamResampler(sample_rate, MODEL_RATE) if sample_rate != MODEL_RATE else None
        )
        self._on_interim = on_interim
        self._chunks: list[np.ndarray] = []
        self._more = asyncio.Event()
        self._finished = False
        self._task = asyncio.create_task(self._decode(), name="pocketsphinx-stream")

    def feed(self, pcm: np.ndarray) -> None:
        if self._finished:
            return
        self._chunks.append(self._resampler.process(pcm) if self._resampler else pcm)
        self._more.set()

    async def finish(self) -> str:
        if self._resampler is not None and not self._finished:
            self._chunks.append(self._resampler.flush())
        self._finished = True
        self._more.set()
        return await self._task

    def abort(self) -> None:
        self._finished = True
        self._task.cancel()

    def _take(self) -> bytes:
        chunks, self._chunks = self._chunks, []
        return b"".join(c.astype(np.int16, copy=False).tobytes() for c in chunks)

    async def _decode(self) -> str:
        recognizer = self._recognizer
        decoder = await recognizer._acquire()
        loop = asyncio.get_running_loop()
        started = False
        last_interim = ""
        inflight: asyncio.Future[Any] | None = None
        try:
            while True:
                pending = sum(len(c) for c in self._chunks)
                if not self._finished and pending < BATCH_SECONDS * MODEL_RATE:
                    self._more.clear()
                    await self._more.wait()
                    continue
                pcm = self._take()
                if pcm or not started:
                    inflight = loop.run_in_executor(
                        recognizer._executor, _decode_batch, decoder, pcm, not started
                    )
                    started = True
                    interim = await asyncio.shield(inflight)
                    if interim and interim != last_interim and not self._finished:
                        last_interim = interim
                        self._on_interim(interim)
                if self._finished and not self._chunks:
                    inflight = loop.run_in_executor(recognizer._executor, _end, decoder)
                    text: str = await asyncio.shield(inflight)
                    started = False
                    return text.strip()
        except asyncio.CancelledError:
            # A decoder is not thread-safe: let the batch in flight finish, then close the
            # utterance so the next borrower gets a clean decoder.
            if inflight is not None and not inflight.done():
                await asyncio.wait([inflight])
            if started:
                await loop.run_in_executor(recognizer._executor, _end, decoder)
            raise
        finally:
            recognizer._release(decoder)
