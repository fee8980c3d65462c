"""PocketSphinx in a child process: how the caller transcribes what it heard of the agent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import sys
from collections.abc import AsyncIterator

import numpy as np

from voxagent.audio.g711 import G711Codec, codec_for
from voxagent.audio.resample import resample
from voxagent.simulator.caller.playout import LINE_RATE

__all__ = ["ASR_RATE", "RECOGNIZE_TIMEOUT_S"]

log = logging.getLogger(__package__)

ASR_RATE = 16000  # PocketSphinx's US English model
_RECOGNIZER_ENTRY = (
    "from voxagent.simulator.caller.recognizer import _recognizer_main; _recognizer_main()"
)
_HEADER = struct.Struct(">cI")  # b"U" μ-law / b"A" A-law at 8 kHz, b"P" PCM16 at 16 kHz; length
RECOGNIZE_TIMEOUT_S = 60.0


def _recognizer_main() -> None:
    """Child process: length-prefixed G.711 on stdin, one line of recognized text per request.

    The protocol runs on a private copy of stdout; fd 1 is pointed at stderr so nothing a C
    library prints can corrupt it. An empty payload is a ping (answers once the model is
    loaded).
    """
    from pocketsphinx import Config, Decoder

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    decoder = Decoder(Config(samprate=ASR_RATE, loglevel="FATAL"))
    source = sys.stdin.buffer
    while header := source.read(_HEADER.size):
        if len(header) < _HEADER.size:
            break
        letter, size = _HEADER.unpack(header)
        payload = source.read(size)
        text = ""
        if payload:
            if letter == b"P":
                pcm = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)
            else:
                codec = codec_for("PCMA" if letter == b"A" else "PCMU")
                pcm = resample(codec.decode(payload), LINE_RATE, ASR_RATE)
            decoder.start_utt()
            decoder.process_raw(pcm.tobytes(), False, True)
            decoder.end_utt()
            hyp = decoder.hyp()
            text = hyp.hypstr if hyp is not None else ""
        out.write(" ".join(text.split()).encode("utf-8") + b"\n")
        out.flush()


class _Recognizer:
    """PocketSphinx in a child process, shared by all simulated calls on one event loop.

    PocketSphinx's binding holds the GIL while it decodes (measured: a 3 s clip stalls the
    event loop for ~1.3 s), so ``asyncio.to_thread`` would wreck the 20 ms send clock of
    every caller in the process, and the server's too when both share a loop (``voxagent
    demo``). A child process keeps the loop free. Requests are serialized (one decoder); a
    dead child degrades to empty transcripts with one warning, never a failed call.
    """

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._broken = False
        self.users = 0

    async def start(self) -> None:
        """Spawn the child and wait until its model is loaded (idempotent)."""
        async with self._lock:
            if self._proc is None and not self._broken:
                try:
                    self._proc = await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-c",
                        _RECOGNIZER_ENTRY,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                except OSError as exc:
                    self._fail(f"cannot start the recognizer process: {exc}")
                    return
                await self._request(b"U", b"")

    async def recognize(self, codec: G711Codec, payload: bytes) -> str:
        async with self._lock:
            return await self._request(b"A" if codec.name == "PCMA" else b"U", payload)

    async def recognize_pcm16k(self, payload: bytes) -> str:
        """16-bit PCM at 16 kHz (what a browser session plays)."""
        async with self._lock:
            return await self._request(b"P", payload)

    async def _request(self, letter: bytes, payload: bytes) -> str:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None or self._broken:
            return ""
        try:
            proc.stdin.write(_HEADER.pack(letter, len(payload)) + payload)
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), RECOGNIZE_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            self._fail(f"recognizer process failed: {exc!r}")
            return ""
        if not line:
            self._fail(f"recognizer process exited (code {proc.returncode})")
            return ""
        return line.decode("utf-8", "replace").strip()

    def _fail(self, why: str) -> None:
        if not self._broken:
            log.warning("simulated caller: %s; agent replies will not be transcribed", why)
        self._broken = True

    async def close(self) -> None:
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()


_RECOGNIZERS: dict[asyncio.AbstractEventLoop, _Recognizer] = {}


@contextlib.asynccontextmanager
async def _borrow_recognizer() -> AsyncIterator[_Recognizer]:
    """The loop's shared recognizer; the last call to finish with it stops the child."""
    loop = asyncio.get_running_loop()
    recognizer = _RECOGNIZERS.get(loop)
    if recognizer is None:
        recognizer = _RECOGNIZERS[loop] = _Recognizer()
    recognizer.users += 1
    try:
        yield recognizer
    finally:
        recognizer.users -= 1
        if recognizer.users == 0:
            if _RECOGNIZERS.get(loop) is recognizer:
                del _RECOGNIZERS[loop]
            await recognizer.close()
