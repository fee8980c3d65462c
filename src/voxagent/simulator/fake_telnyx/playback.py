"""The agent's ``speak`` and ``playback_start`` clips as the line plays them (webhook mode).

Clips play one after another, each framed by its ``started`` / ``ended`` webhooks; how long
a clip lasts is what tells the party when the agent has finished its turn.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from voxagent.simulator.fake_telnyx.base import FakeTelnyxBase
from voxagent.simulator.fake_telnyx.call import FakeCall, _Clip

__all__ = ["AgentAudio"]


class AgentAudio(FakeTelnyxBase):
    """The call's queue of agent clips, and fetching the audio a playback names."""

    def _queue_clip(self, call: FakeCall, clip: _Clip, stop: object) -> None:
        if stop == "all":
            call._clips.clear()
        if stop in ("current", "all") and call._current is not None:
            call._current.stop("cancelled")  # assumed status for a speak cut short
        call._clips.append(clip)
        if call._player is None or call._player.done():
            call._player = asyncio.create_task(self._play(call), name="fake-telnyx-player")

    async def _play(self, call: FakeCall) -> None:
        while call._clips and call.alive:
            clip = call._current = call._clips.popleft()
            call.notify()
            self._emit(call, f"call.{clip.kind}.started", clip.fields)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clip.stopped.wait(), clip.duration)
            call._current = None
            fields = {**clip.fields, "status": clip.status}
            if clip.kind == "playback":
                fields["status_detail"] = None
            self._emit(call, f"call.{clip.kind}.ended", fields)
            call.agent_turns += 1
            call.notify()

    async def _fetch_media(self, call: FakeCall, url: str) -> None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(url)
            call.fetched.append(
                (
                    url,
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.content,
                )
            )
        except httpx.HTTPError as exc:
            self._log("could not fetch %s: %r", url, exc)
            call.fetched.append((url, 0, "", b""))
