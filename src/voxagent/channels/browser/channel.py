"""A browser page as a call's line: 16 kHz PCM both ways over the page's Socket.IO connection.

The engine sends 20 ms frames paced by the clock; they leave in 40 ms ``audio`` chunks, each
numbered, grouped by sentence. The page reports which chunk it has played (``playback``): that
is how marks are answered and how a barge-in knows what the user heard. Audio played from Web
Audio buffers is not covered by the browser's echo canceller, so while the agent speaks the
user must be ``echo_margin_db`` louder than the agent's own audio to be heard.

Once the page's WebRTC peer connection is up, the agent's audio goes out on its track instead
(:meth:`BrowserChannel.use_track`): paced, echo-cancelled by the browser, and with what was
heard estimated from what left minus the jitter buffer. If the peer goes away, audio comes back
to the Socket.IO path at the next frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from voxagent.audio.format import PCM16_16K, AudioFormat
from voxagent.channels.browser.emitter import Emitter

if TYPE_CHECKING:
    from voxagent.channels.webrtc.tracks import AgentAudioTrack

__all__ = ["BrowserChannel"]

FRAMES_PER_CHUNK = 2
"""20 ms frames per ``audio`` message: 40 ms, 25 messages a second while the agent speaks."""
KEPT_CHUNKS = 2000
"""Chunk → audio-position entries kept for playback reports (80 s of agent audio)."""


class BrowserChannel:
    audio_format: AudioFormat = PCM16_16K

    def __init__(
        self,
        emitter: Emitter,
        *,
        echo_margin_db: float | None,
        on_hangup: Callable[[str], Awaitable[None]],
    ) -> None:
        self.emitter = emitter
        self.echo_margin_db = echo_margin_db
        self._on_hangup = on_hangup
        self._frames: list[bytes] = []
        self._seq = 0
        self.sentence = 0
        self._sent_bytes = 0
        self._chunk_end: deque[tuple[int, int]] = deque()
        """(chunk seq, agent audio bytes sent up to its end), oldest first."""
        self._marks: deque[tuple[int, str]] = deque()
        """(last chunk seq of a sentence, its mark): answered once the page played it."""
        self._played = 0
        self._track_base = 0
        """Agent audio bytes sent before the current track took over."""
        self.chunks_sent = 0
        self.mark_played: Callable[[str], None] = lambda name: None
        """Set by the session: tells the call a sentence was heard."""
        self.track: AgentAudioTrack | None = None

    def use_track(self, track: AgentAudioTrack | None) -> None:
        """Send the agent's audio on a WebRTC track from now on (None: back to Socket.IO)."""
        if track is self.track:
            return
        self._flush()
        if self.track is not None:  # what the old track still held is dropped, as on a cut
            self.track.clear()
            self._played = max(self._played, self._track_base + self.track.played_bytes())
            for _, name in self._marks:
                self.mark_played(name)
            self._marks.clear()
        self.track = track
        if track is not None:
            self._track_base = self._sent_bytes
            track.on_mark = self.mark_played

    async def send_audio(self, frame: bytes) -> None:
        if self.track is not None:
            self._sent_bytes += len(frame)
            self.track.push(frame)
            return
        self._frames.append(frame)
        if len(self._frames) >= FRAMES_PER_CHUNK:
            self._flush()

    async def send_mark(self, name: str) -> None:
        if self.track is not None:
            self.track.mark(name)
            self.emitter.emit("audio_end", {"sentence": self.sentence})
            self.sentence += 1
            return
        self._flush()
        self._marks.append((self._seq - 1, name))
        self.emitter.emit("audio_end", {"sentence": self.sentence})
        self.sentence += 1

    async def clear(self) -> None:
        if self.track is not None:
            self.track.clear()
            return
        # Dropped, but counted as sent: the engine counts them, and positions must agree.
        self._sent_bytes += sum(len(f) for f in self._frames)
        self._frames.clear()

    async def hangup(self, reason: str) -> None:
        self._flush()
        await self._on_hangup(reason)

    async def transfer(self, to: str | None) -> None:
        self._flush()
        await self._on_hangup("transferred")

    def played_bytes(self) -> int:
        if self.track is not None:
            return max(self._played, self._track_base + self.track.played_bytes())
        return self._played

    def playback(self, chunk: int) -> None:
        """The page played up to and including ``chunk``."""
        while self._chunk_end and self._chunk_end[0][0] <= chunk:
            _, self._played = self._chunk_end.popleft()
        while self._marks and self._marks[0][0] <= chunk:
            self.mark_played(self._marks.popleft()[1])

    def _flush(self) -> None:
        if not self._frames:
            return
        pcm = b"".join(self._frames)
        self._frames.clear()
        self._sent_bytes += len(pcm)
        self._chunk_end.append((self._seq, self._sent_bytes))
        if len(self._chunk_end) > KEPT_CHUNKS:
            self._chunk_end.popleft()
        self.emitter.emit("audio", {"seq": self._seq, "sentence": self.sentence, "pcm": pcm})
        self._seq += 1
        self.chunks_sent += 1
