"""Media streams: the relay our server's ``stream_url`` is dialled from, and the party on it.

``streaming_start`` (or ``stream_url`` on dial/answer) hands the call to
:func:`~voxagent.simulator.caller.simulate_call`, which connects to the loopback relay; the
relay opens the stream to ``stream_url`` as Telnyx would and runs a
:class:`~voxagent.simulator.fake_telnyx.media_line._MediaLine` between the two, reporting
``streaming.started`` / ``stopped`` / ``failed`` and what the end of the stream means for the
call.

A call can have one stream after another, as on Telnyx: after ``streaming_stop``, or after our
server dropped the socket, the call stays up (for ``callee_hangup_after_s``) and a new
``streaming_start`` opens a new stream, on which the party goes on with its script where the
last one left it (``FakeCall.script_pos``, see
:func:`~voxagent.simulator.caller.resume.resume_line`).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

from voxagent.simulator.caller import SpeechRenderer, simulate_call
from voxagent.simulator.caller.resume import PLANNED_STOP
from voxagent.simulator.fake_telnyx.base import FakeTelnyxBase, log
from voxagent.simulator.fake_telnyx.call import FakeCall, _Line
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
PREVIOUS_PARTY_WAIT_S = 10.0
"""How long a new stream's party waits for the last stream's party to leave (it is closing)."""


class MediaStreams(FakeTelnyxBase):
    """Starting and stopping a call's media stream, and the simulated party speaking on it."""

    def _start_stream(self, call: FakeCall, params: JsonObject) -> None:
        previous = call._sim
        call.stream = {k: params[k] for k in STREAM_KEYS if k in params}
        call.streaming = True
        call._stream_serial += 1
        token = secrets.token_urlsafe(16)
        self._pending_lines[token] = call
        call._sim = asyncio.create_task(
            self._run_party(call, token, call._stream_serial, previous), name="fake-telnyx-party"
        )
        call.notify()

    def _stop_stream(self, call: FakeCall) -> None:
        """``streaming_stop``: the stream is over for every later command at once (a new
        ``streaming_start`` is accepted); the line closes in a task."""
        call.streaming = False
        self._spawn(
            call, self._close_stream(call, call._line, call._sim, call._stream_serial), "stop"
        )

    async def _close_stream(
        self, call: FakeCall, line: _Line | None, sim: asyncio.Task[None] | None, serial: int
    ) -> None:
        if line is not None:  # the relay reports the end and waits for a new stream
            await line.close(PLANNED_STOP)
            return
        for token, pending in list(self._pending_lines.items()):
            if pending is call:  # the party had not connected yet: it never will
                del self._pending_lines[token]
        if sim is not None:
            sim.cancel()
        call.notify()
        self._spawn(call, self._after_stream(call, serial), "after-stream")

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

    async def _run_party(
        self, call: FakeCall, token: str, serial: int, previous: asyncio.Task[None] | None
    ) -> None:
        stream = call.stream or {}
        failure = "the simulated party could not start"
        try:
            await self._after_previous(call, previous)
            tts = await self._voice()
            start = min(call.script_pos, len(call.script))
            script = call.script[start:]
            options: JsonObject = {"hangup_after_s": self.callee_hangup_after_s}
            options.update(self.callee_options)
            if start and options.get("barge_in"):  # its line counts from the script's start
                turn = int(options.get("barge_in_turn", 1)) - start
                options["barge_in"] = 0 <= turn < len(script)
                options["barge_in_turn"] = max(turn, 0)
            if self.verbose:
                short = call.call_control_id[:12]
                options.setdefault("on_event", lambda line: log.info("call %s: %s", short, line))
            result = await simulate_call(
                f"{self._relay_url}/{token}",
                script,
                encoding=self._encoding(call),
                auth_token=stream.get("stream_auth_token"),
                tts=tts,
                transcribe=self.transcribe,
                call_control_id=call.call_control_id,
                client_state=call.client_state,
                resumed=start > 0 or bool(call.simulations),
                **options,
            )
            call.simulations.append(result)
            call.simulation = result
            call.script_pos = start + result.resume_at
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
            call.stream_error = call.stream_error or failure
            log.debug("call %s: simulated party: %s", call.call_control_id, failure)
        finally:
            if self._pending_lines.pop(token, None) is not None and call.alive:
                self._stream_failed(call, failure, serial)

    async def _after_previous(self, call: FakeCall, previous: asyncio.Task[None] | None) -> None:
        """A new stream's party starts where the last one left the script, so it waits for
        that party to finish (its line is closing) and for the relay to report its end."""
        if previous is not None and not previous.done():
            try:
                _, late = await asyncio.wait({previous}, timeout=PREVIOUS_PARTY_WAIT_S)
            except asyncio.CancelledError:
                previous.cancel()  # the fake is stopping: nobody else holds that task
                raise
            for task in late:
                log.warning("call %s: the last stream's party did not end", call.call_control_id)
                task.cancel()
        await call.wait_until(lambda: call._line is None, PREVIOUS_PARTY_WAIT_S)

    def _stream_failed(self, call: FakeCall, reason: str, serial: int) -> None:
        if serial != call._stream_serial:
            return  # an older stream: the call has moved on
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
        serial = call._stream_serial
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
                self._stream_failed(call, f"{type(exc).__name__}: {exc}", serial)
            await downstream.close(1011, "stream failed")
            return
        if not call.alive or not call.streaming or serial != call._stream_serial:
            # hung up, or the stream stopped (or replaced), while we were connecting
            await upstream.close(1000)
            await downstream.close(1000)
            return
        line = _MediaLine(call, downstream, upstream)
        call._line = line
        self._emit(call, "streaming.started", {"stream_url": url})
        try:
            await line.run()
        finally:
            if call._line is line:
                call._line = None
            if serial == call._stream_serial:
                call.streaming = False
            self._emit(call, "streaming.stopped", {"stream_url": url})
            line.done.set()
            call.notify()
        if call.alive:
            if line.ended_by == "callee":
                self._hangup(call, "normal_clearing", "callee", "16")
            elif line.ended_by in ("agent", PLANNED_STOP):
                self._spawn(call, self._after_stream(call, serial), "after-stream")

    async def _after_stream(self, call: FakeCall, serial: int) -> None:
        """Our side ended the stream but not the call: the party hears silence. It stays
        on while a new stream may come (``streaming_start``) or the agent goes on in
        webhook mode, else hangs up after ``callee_hangup_after_s``."""
        await call.wait_until(
            lambda: not call.alive or call._stream_serial != serial, self.callee_hangup_after_s
        )
        if not call.alive or call._stream_serial != serial:
            return  # over, or a new stream took over
        if call.transcribing:
            self._start_party(call)
        else:
            self._hangup(call, "normal_clearing", "callee", "16")
