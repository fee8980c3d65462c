"""Offline English recognition with PocketSphinx (its US English model ships in the wheel).

PocketSphinx's Python binding keeps the GIL while it decodes (we measured a 2 s event-loop
stall for 3 s of audio decoded in a thread), so every decoder lives in its own worker
*process*. Decoders are heavy and only busy while someone speaks, so a call borrows one for
the length of an utterance instead of owning one: a hundred idle calls cost no decoder.

A decoder costs ~90 MB, so there are few of them, and a caller who streams holds one for as
long as they talk. When decoders run short, new utterances are therefore decoded in one batch
at the end of the turn instead (PocketSphinx runs at ~0.1× real time, so a decoder is then
busy ~200 ms per utterance rather than for its whole length): one decoder stays reserved for
those batches, so a queue of talkers never waits behind another caller's sentence.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from voxagent.audio.format import AudioConverter, AudioFormat, Encoding
from voxagent.providers.stt.base import InterimCallback

log = logging.getLogger(__name__)

MODEL_RATE = 16000
MODEL_FORMAT = AudioFormat(Encoding.PCM16, MODEL_RATE)
BATCH_SECONDS = 0.16
"""Decode in batches this long: fewer process hops, interim results still ~6 per second."""

_decoder: Any = None  # the one decoder of a worker process
_in_utterance = False  # so an utterance abandoned by a cancelled caller can be closed


def _init_worker() -> None:
    global _decoder
    from pocketsphinx import Config, Decoder

    _decoder = Decoder(Config(samprate=MODEL_RATE, loglevel="FATAL"))


def _decode_batch(pcm: bytes, start: bool) -> str:
    global _in_utterance
    if start:
        if _in_utterance:
            _end_utterance()
        _decoder.start_utt()
        _in_utterance = True
    if pcm:
        _decoder.process_raw(pcm, False, False)
    hyp = _decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def _end_utterance() -> str:
    global _in_utterance
    _in_utterance = False
    try:
        _decoder.end_utt()
    except RuntimeError:  # no utterance in progress
        return ""
    hyp = _decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def _ping() -> bool:
    return _decoder is not None


class PocketSphinxRecognizer:
    name = "pocketsphinx"
    languages = frozenset({"en"})

    def __init__(self, workers: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self._workers = [
            ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker)
            for _ in range(workers)
        ]
        self._free: asyncio.Queue[ProcessPoolExecutor] = asyncio.Queue()
        for worker in self._workers:
            self._free.put_nowait(worker)
        self.reserved_for_batches = 1 if workers > 1 else 0
        self.streamed = 0
        self.batched = 0

    def _take_for_streaming(self) -> ProcessPoolExecutor | None:
        """A decoder to hold for a whole utterance, if enough are free; else None (batch)."""
        if self._free.qsize() > self.reserved_for_batches:
            self.streamed += 1
            return self._free.get_nowait()
        self.batched += 1
        return None

    async def warm_up(self) -> None:
        """Start every worker and load its model before the first caller needs it."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(w, _ping) for w in self._workers))

    def open_stream(self, fmt: AudioFormat, on_interim: InterimCallback) -> PocketSphinxStream:
        return PocketSphinxStream(self, fmt, on_interim)

    async def close(self) -> None:
        for worker in self._workers:
            await asyncio.to_thread(worker.shutdown, wait=True, cancel_futures=True)


class PocketSphinxStream:
    """Audio goes into a list (as the model's 16 kHz PCM, converted once on the way in); a
    task decodes it in batches on a borrowed worker."""

    def __init__(
        self, recognizer: PocketSphinxRecognizer, fmt: AudioFormat, on_interim: InterimCallback
    ) -> None:
        self._recognizer = recognizer
        self._converter = AudioConverter(fmt, MODEL_FORMAT)
        self._on_interim = on_interim
        self._chunks: list[bytes] = []
        self._more = asyncio.Event()
        self._finished = False
        self._task = asyncio.create_task(self._decode(), name="pocketsphinx-stream")

    def feed(self, audio: bytes) -> None:
        if self._finished:
            return
        self._chunks.append(self._converter.convert(audio))
        self._more.set()

    async def finish(self) -> str:
        if not self._finished:
            self._chunks.append(self._converter.flush())
        self._finished = True
        self._more.set()
        return await self._task

    def abort(self) -> None:
        self._finished = True
        self._task.cancel()

    def _take(self) -> bytes:
        chunks, self._chunks = self._chunks, []
        return b"".join(chunks)

    async def _decode(self) -> str:
        worker = self._recognizer._take_for_streaming()
        if worker is None:
            return await self._decode_at_end()
        return await self._stream(worker)

    async def _decode_at_end(self) -> str:
        """Buffer the whole utterance, then borrow a decoder only to decode it."""
        while not self._finished:
            self._more.clear()
            await self._more.wait()
        free = self._recognizer._free
        worker = await free.get()
        loop = asyncio.get_running_loop()
        try:
            pcm = self._take()
            await asyncio.shield(loop.run_in_executor(worker, _decode_batch, pcm, True))
            text: str = await asyncio.shield(loop.run_in_executor(worker, _end_utterance))
            return text.strip()
        finally:
            free.put_nowait(worker)

    async def _stream(self, worker: ProcessPoolExecutor) -> str:
        free = self._recognizer._free
        loop = asyncio.get_running_loop()
        started = False
        last_interim = ""
        inflight: asyncio.Future[Any] | None = None
        try:
            while True:
                pending = sum(len(c) for c in self._chunks)
                if not self._finished and pending < MODEL_FORMAT.bytes_for_ms(BATCH_SECONDS * 1000):
                    self._more.clear()
                    await self._more.wait()
                    continue
                pcm = self._take()
                if pcm or not started:
                    inflight = loop.run_in_executor(worker, _decode_batch, pcm, not started)
                    started = True
                    interim = await asyncio.shield(inflight)
                    if interim and interim != last_interim and not self._finished:
                        last_interim = interim
                        self._on_interim(interim)
                if self._finished and not self._chunks:
                    inflight = loop.run_in_executor(worker, _end_utterance)
                    text: str = await asyncio.shield(inflight)
                    started = False
                    return text.strip()
        except asyncio.CancelledError:
            # The worker runs jobs in order; closing the utterance leaves the decoder clean
            # for its next borrower.
            if started:
                await asyncio.shield(loop.run_in_executor(worker, _end_utterance))
            raise
        finally:
            free.put_nowait(worker)
