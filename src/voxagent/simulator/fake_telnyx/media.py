"""Media streams: the relay our server's ``stream_url`` is dialled from, and the party on it.

``streaming_start`` (or ``stream_url`` on dial/answer) hands the call to
:func:`~voxagent.simulator.caller.simulate_call`, which connects to the loopback relay; the
relay opens the stream to ``stream_url`` as Telnyx would and runs a
:class:`~voxagent.simulator.fake_telnyx.media_line._MediaLine` between the two, reporting
``streaming.started`` / ``stopped`` / ``failed`` and what the end of the stream means for the
call.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

from voxagent.simulator.caller import SpeechRenderer, simulate_call
from voxagent.simulator.fake_telnyx.base import FakeTelnyxBase, log
from voxagent.simulator.fake_telnyx.call import FakeCall
from voxagent.simulator.fake_telnyx.media_line import _MediaLine
from voxagent.simulator.fake_telnyx.records import JsonObject

__all__ = ["MAX_STREAM_MESSAGE_BYTES", "STREAM_KEYS", "MediaStreams"]

MAX_STREAM_MESSAGE_BYTES = 2 * 1024 * 1024
"""Largest frame relayed from the app: RTP mode allows 30 s chunks (base64 inflates ~4/3)."""
STREAM_KEYS = (
    "stream_url",
    "stream_track",
    "stream_codec",
    "stream_bidirectional_mode",
    "stream_bidirectional_codec",
    "stream_bidirectional_sampling_rate",
    "stream_bidirectional_target_legs",
    "stream_auth_token",
    "custom_parameters",
)


class MediaStreams(FakeTelnyxBase):
    """Starting and stopping a call's media stream, and the simulated party speaking on it."""

    def _start_stream(self, call: FakeCall, params: JsonObject) -> None:
        call.stream = {k: params[k] for k in STREAM_KEYS if k in params}
        call.streaming = True
        token = secrets.token_urlsafe(16)
        self._pending_lines[token] = call
        call._sim = asyncio.create_task(self._run_party(call, token), name="fake-telnyx-party")

    def _encoding(self, call: FakeCall) -> str:
        """What the party sends and expects: G.711 only (the simulator's codecs)."""
        stream = call.stream or {}
        for key in ("stream_codec", "stream_bidirectional_codec"):
            if stream.get(key) in ("PCMU", "PCMA"):
                return str(stream[key])
        return "PCMU"

    async def _voice(self) -> SpeechRenderer:
        if self._tts is not None:
            return self._tts
        async with self._tts_lock:
            if self._tts is None:
                from voxagent.providers.tts.piper import PiperVoiceSynthesizer

                self._owned_tts = await asyncio.to_thread(PiperVoiceSynthesizer)
                self._tts = self._owned_tts
        assert self._tts is not None
        return self._tts

    async def _run_party(self, call: FakeCall, token: str) -> None:
        stream = call.stream or {}
        failure = "the simulated party could not start"
        try:
            tts = await self._voice()
            options: JsonObject = {"hangup_after_s": self.callee_hangup_after_s}
            options.update(self.callee_options)
            if self.verbose:
                short = call.call_control_id[:12]
                options.setdefault("on_event", lambda line: log.info("call %s: %s", short, line))
            call.simulation = await simulate_call(
                f"{self._relay_url}/{token}",
                list(call.script),
                encoding=self._encoding(call),
                auth_token=stream.get("stream_auth_token"),
                tts=tts,
                transcribe=self.transcribe,
                call_control_id=call.call_control_id,
                client_state=call.client_state,
                **options,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            call.stream_error = call.stream_error or failure
            log.debug("call %s: simulated party: %s", call.call_control_id, failure)
        finally:
            if self._pending_lines.pop(token, None) is not None and call.alive:
                self._stream_failed(call, failure)

    def _stream_failed(self, call: FakeCall, reason: str) -> None:
        stream = call.stream or {}
        call.streaming = False
        call.stream_error = reason
        self._emit(
            call,
            "streaming.failed",
            {
                "failure_reason": reason,
                "stream_id": str(uuid.uuid4()),
                "stream_type": "websocket",
                "stream_params": {
                    "stream_url": stream.get("stream_url"),
                    "track": stream.get("stream_track", "inbound_track"),
                },
            },
        )
        call.notify()
        if call.alive:
            self._start_party(call)  # the agent may carry on in webhook mode

    async def _relay_handler(self, downstream: ServerConnection) -> None:
        token = downstream.request.path.lstrip("/") if downstream.request else ""
        call = self._pending_lines.pop(token, None)
        if call is None or not call.alive or self._closing:
            await downstream.close(1008 if call is None else 1000)
            return
        stream = call.stream or {}
        url = str(stream.get("stream_url"))
        token_value = stream.get("stream_auth_token")
        headers = {"x-telnyx-streaming-auth-token": token_value} if token_value else None
        try:
            upstream = await connect(
                url,
                additional_headers=headers,
                compression=None,
                max_size=MAX_STREAM_MESSAGE_BYTES,
                open_timeout=5,
                user_agent_header=None,
            )
        except Exception as exc:
            if call.alive:
                self._stream_failed(call, f"{type(exc).__name__}: {exc}")
            await downstream.close(1011, "stream failed")
            return
        if not call.alive:  # hung up while we were connecting
            await upstream.close(1000)
            await downstream.close(1000)
            return
        line = _MediaLine(call, downstream, upstream)
        call._line = line
        self._emit(call, "streaming.started", {"stream_url": url})
        try:
            await line.run()
        finally:
            call._line = None
            call.streaming = False
            self._emit(call, "streaming.stopped", {"stream_url": url})
            line.done.set()
            call.notify()
        if call.alive:
            if line.ended_by == "callee":
                self._hangup(call, "normal_clearing", "callee", "16")
            elif line.ended_by in ("agent", "streaming_stop"):
                self._spawn(call, self._after_stream(call), "after-stream")

    async def _stop_stream(self, call: FakeCall) -> None:
        if call._line is not None:
            await call._line.close("streaming_stop")
            return
        for token, pending in list(self._pending_lines.items()):
            if pending is call:  # the party had not connected yet: it never will
                del self._pending_lines[token]
        if call._sim is not None:
            call._sim.cancel()
        call.streaming = False
        call.notify()
        self._spawn(call, self._after_stream(call), "after-stream")

    async def _after_stream(self, call: FakeCall) -> None:
        """Our side ended the stream but not the call: the party hears silence. It stays
        on if the agent goes on in webhook mode, else hangs up after a while."""
        await call.wait_until(lambda: not call.alive or call.streaming, self.callee_hangup_after_s)
        if not call.alive or call.streaming:
            return
        if call.transcribing:
            self._start_party(call)
        else:
            self._hangup(call, "normal_clearing", "callee", "16")
