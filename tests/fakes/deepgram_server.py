"""A protocol-faithful fake of Deepgram's live ``/v1/listen`` WebSocket on loopback.

Recognition is a rule the tests control: a "word" is a run of samples at one constant,
non-zero level, and :attr:`FakeDeepgram.lexicon` maps levels to words (:meth:`speak` builds
such audio). Levels are exact μ-law values, so they survive μ-law and 16-bit PCM unchanged;
A-law moves each to another distinct level, which the fake's A-law lexicon knows. The
transcript proves which audio actually arrived, and each connection keeps the bytes it got.
Everything follows PROTOCOLS.md §5.

For whole calls with real (synthesized) speech there is a second rule, *script mode*: give
``transcripts`` and each connection that hears at least 150 ms of loud audio is recognized
as the next line, its words revealed as interim results in proportion to the speech heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from voxagent.audio.g711 import alaw_decode, alaw_encode, ulaw_decode

VOCABULARY = (
    "hello", "my", "name", "is", "alice", "i", "need", "an", "appointment",
    "tomorrow", "at", "ten", "please", "thanks", "yes", "no",
)  # fmt: skip
IDLE_REASON = "NET-0001"


def _levels() -> dict[int, str]:
    codes = bytes(0x20 + 3 * i for i in range(len(VOCABULARY)))
    return {int(level): word for level, word in zip(ulaw_decode(codes), VOCABULARY, strict=True)}


def _alaw_levels(lexicon: dict[int, str]) -> dict[int, str]:
    """The same words as heard through A-law (each level moves, all stay distinct)."""
    levels = np.array(list(lexicon), dtype=np.int16)
    heard = alaw_decode(alaw_encode(levels))
    moved = {int(h): lexicon[int(level)] for level, h in zip(levels, heard, strict=True)}
    assert len(moved) == len(lexicon)
    return moved


WIDTH = {"mulaw": 1, "alaw": 1, "linear16": 2}
ALAW_QUIETEST = int(alaw_decode(alaw_encode(np.zeros(1, dtype=np.int16)))[0])


@dataclass
class Connection:
    """What one client connection did, for assertions."""

    query: dict[str, str]
    bytes_received: int = 0
    audio: bytearray = field(default_factory=bytearray)
    """Every audio byte received, as it arrived (the encoding is in ``query``)."""
    bytes_finalized: int = 0
    keepalives: int = 0
    finalizes: int = 0
    close_stream: bool = False
    close_code: int | None = None
    close_reason: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)


class FakeDeepgram:
    """Start with ``async with FakeDeepgram() as fake``; point the client at ``fake.url``."""

    def __init__(
        self,
        api_key: str = "good-key",
        *,
        idle_timeout_s: float = 10.0,
        first_result_delay_s: float = 0.0,
        drop_after_bytes: int | None = None,
        reject_all_keys: bool = False,
        transcripts: list[str] | None = None,
        script_per_connection: bool = False,
        loudness: int = 400,
        rate_limited_handshakes: int = 0,
    ) -> None:
        self.api_key = api_key
        self.idle_timeout_s = idle_timeout_s
        self.first_result_delay_s = first_result_delay_s
        self.drop_after_bytes = drop_after_bytes
        """Abort the first connection (no close frame) once it has received this many bytes."""
        self.reject_all_keys = reject_all_keys
        self.rate_limited_handshakes = rate_limited_handshakes
        """Refuse this many upgrades with 429 (too many concurrent requests) first."""
        self.transcripts = list(transcripts) if transcripts is not None else None
        """Script mode: the lines callers will be heard saying, in order (consumed)."""
        self.script_per_connection = script_per_connection
        """Each connection hears the script from its first line (many callers, one script);
        otherwise connections share it, so a reconnecting call goes on where it was."""
        self.loudness = loudness
        self.recognized: list[str] = []
        self.lexicon = _levels()
        self.alaw_lexicon = _alaw_levels(self.lexicon)
        self._word_levels = {word: level for level, word in self.lexicon.items()}
        self.connections: list[Connection] = []
        self.handshakes_rejected = 0
        self.dropped = asyncio.Event()
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakeDeepgram:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def speak(self, words: str, sample_rate: int = 8000, *, word_ms: int = 200) -> np.ndarray:
        """Audio the fake hears as ``words``, 40 ms of silence after each word."""
        samples: list[npt.NDArray[np.int16]] = []
        per_word = sample_rate * word_ms // 1000
        gap = np.zeros(sample_rate * 40 // 1000, dtype=np.int16)
        for word in words.split():
            samples += [np.full(per_word, self._word_levels[word], dtype=np.int16), gap]
        return np.concatenate(samples) if samples else np.zeros(0, dtype=np.int16)

    # --- handshake -------------------------------------------------------------------------

    def _reject(self, status: int, reason: str) -> Response:
        self.handshakes_rejected += 1
        headers = Headers({"dg-error": reason, "dg-request-id": str(uuid.uuid4())})
        return Response(status, "Error", headers, reason.encode())

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.reject_all_keys or request.headers.get("Authorization") != f"Token {self.api_key}":
            return self._reject(401, "Websocket initialized with invalid credentials.")
        if self.rate_limited_handshakes > 0:
            self.rate_limited_handshakes -= 1
            return self._reject(429, "Too many requests. Please try again later.")
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path != "/v1/listen":
            return self._reject(404, f"no such path {url.path}")
        if query.get("encoding") not in WIDTH or not query.get("sample_rate", "").isdigit():
            return self._reject(400, "raw audio needs encoding and sample_rate")
        return None

    # --- one connection --------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = {k: v[-1] for k, v in parse_qs(urlsplit(ws.request.path).query).items()}
        conn = Connection(query=query)
        self.connections.append(conn)
        session = _Session(self, ws, conn)
        watchdog = asyncio.create_task(session.watch_idle())
        try:
            await session.serve()
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            conn.close_code = ws.close_code
            conn.close_reason = ws.close_reason or ""


class _Session:
    def __init__(self, fake: FakeDeepgram, ws: ServerConnection, conn: Connection) -> None:
        self.fake, self.ws, self.conn = fake, ws, conn
        self.encoding = conn.query["encoding"]
        self.width = WIDTH[self.encoding]
        self.lexicon = fake.alaw_lexicon if self.encoding == "alaw" else fake.lexicon
        self.rate = int(conn.query["sample_rate"])
        endpointing = conn.query.get("endpointing", "10")
        self.endpoint_samples = (
            None if endpointing == "false" else self.rate * int(endpointing) // 1000
        )
        self.interim = conn.query.get("interim_results") == "true"
        self.pending = np.zeros(0, dtype=np.int16)
        self.segment_start = 0  # samples since connection start where ``pending`` begins
        self.last_activity = time.monotonic()
        self.results_sent = 0
        self.last_interim = ""
        self.request_id = str(uuid.uuid4())
        self.line: list[str] | None = None  # script mode: this connection's line
        self.script = list(fake.transcripts or [])  # script mode, per connection
        self.loud = 0
        self.emitted_words = 0

    async def watch_idle(self) -> None:
        while True:
            await asyncio.sleep(self.fake.idle_timeout_s / 10)
            if time.monotonic() - self.last_activity > self.fake.idle_timeout_s:
                await self.ws.close(1011, IDLE_REASON)
                return

    async def serve(self) -> None:
        async for frame in self.ws:
            self.last_activity = time.monotonic()
            if isinstance(frame, bytes):
                await self.on_audio(frame)
                continue
            kind = json.loads(frame).get("type")
            if kind == "KeepAlive":
                self.conn.keepalives += 1
            elif kind == "Finalize":
                self.conn.finalizes += 1
                await self.emit_final(speech_final=False, from_finalize=True)
            elif kind == "CloseStream":
                self.conn.close_stream = True
                if self.pending.size:
                    await self.emit_final(speech_final=False, from_finalize=False)
                await self.send(self.metadata())
                await self.ws.close(1000)
                return

    async def on_audio(self, frame: bytes) -> None:
        if not frame:
            await self.ws.close(1000)  # deprecated close-by-empty-frame
            return
        self.conn.bytes_received += len(frame)
        self.conn.audio += frame
        limit = self.fake.drop_after_bytes
        if (
            limit is not None
            and self.conn.bytes_received >= limit
            and not self.fake.dropped.is_set()
        ):
            self.fake.dropped.set()
            assert self.ws.transport is not None
            self.ws.transport.abort()  # like a network failure: no close frame
            return
        if self.encoding == "mulaw":
            pcm = ulaw_decode(frame)
        elif self.encoding == "alaw":
            pcm = alaw_decode(frame)
            # A-law has no zero: its quietest codes (±8) are silence.
            pcm = np.where(np.abs(pcm) <= ALAW_QUIETEST, 0, pcm).astype(np.int16)
        else:
            pcm = np.frombuffer(frame, dtype="<i2").astype(np.int16)
        self.pending = np.concatenate([self.pending, pcm])
        if self.fake.transcripts is not None:
            self.hear_script(pcm)
        words = self.words()
        if words and self.endpoint_samples is not None:
            nonzero = np.flatnonzero(np.abs(self.pending) > self.quiet_level)
            trailing = self.pending.size - 1 - int(nonzero[-1])
            if trailing >= max(self.endpoint_samples, 1):
                await self.emit_final(speech_final=True, from_finalize=False)
                return
        text = " ".join(words)
        if self.interim and text and text != self.last_interim:
            self.last_interim = text
            await self.send(self.results(text, is_final=False, speech_final=False))

    @property
    def quiet_level(self) -> int:
        return self.fake.loudness if self.fake.transcripts is not None else 0

    def hear_script(self, pcm: np.ndarray) -> None:
        self.loud += int(np.count_nonzero(np.abs(pcm.astype(np.int32)) > self.fake.loudness))
        script = self.script if self.fake.script_per_connection else self.fake.transcripts
        if self.line is None and self.loud >= self.rate * 0.15 and script:
            text = script.pop(0)
            self.fake.recognized.append(text)
            self.line = text.split()

    def words(self) -> list[str]:
        if self.fake.transcripts is not None:
            if self.line is None:
                return []
            shown = min(len(self.line), 1 + self.loud // (self.rate // 4))
            return self.line[self.emitted_words : max(shown, self.emitted_words)]
        pcm = self.pending
        if pcm.size == 0:
            return []
        previous = np.concatenate([np.zeros(1, dtype=np.int16), pcm[:-1]])
        starts = np.flatnonzero(pcm != previous)
        return [self.lexicon.get(int(pcm[i]), f"<{pcm[i]}>") for i in starts if pcm[i]]

    async def emit_final(self, *, speech_final: bool, from_finalize: bool) -> None:
        if self.line is not None:  # script mode: a final carries the rest of the line
            text = " ".join(self.line[self.emitted_words :])
            self.emitted_words = len(self.line)
        else:
            text = " ".join(self.words())
        message = self.results(text, is_final=True, speech_final=speech_final)
        message["from_finalize"] = from_finalize
        self.conn.bytes_finalized += self.pending.size * self.width
        self.segment_start += self.pending.size
        self.pending = self.pending[:0]
        self.last_interim = ""
        await self.send(message)

    def results(self, text: str, *, is_final: bool, speech_final: bool) -> dict[str, Any]:
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": self.pending.size / self.rate,
            "start": self.segment_start / self.rate,
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.99, "words": []}]},
            "metadata": {"request_id": self.request_id, "model_uuid": "fake"},
        }

    def metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": "0" * 64,
            "created": "2026-01-01T00:00:00.000Z",
            "duration": self.segment_start / self.rate,
            "channels": 1,
        }

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "Results" and self.results_sent == 0:
            await asyncio.sleep(self.fake.first_result_delay_s)
        if message["type"] == "Results":
            self.results_sent += 1
        self.conn.sent.append(message)
        await self.ws.send(json.dumps(message))


@contextlib.asynccontextmanager
async def fake_deepgram(**kwargs: Any) -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram(**kwargs) as fake:
        yield fake
