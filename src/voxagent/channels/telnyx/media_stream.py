"""The asyncio edge of a Telnyx media stream: a WebSocket in, a call out.

All wire parsing lives in ``media_protocol`` (pure); this module only moves bytes. The codec
Telnyx announces in ``start`` becomes the call's audio format, so the caller's μ-law (or A-law)
goes to the call as it came, and our audio leaves in the same codec. A malformed frame is
logged and dropped: a single bad message never ends a call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import logging
import uuid
from typing import Literal, assert_never

from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voxagent.audio.format import AudioFormat
from voxagent.calls.info import CallInfo, ChannelKind
from voxagent.calls.sessions import Session
from voxagent.channels.telnyx import media_protocol as proto
from voxagent.channels.telnyx.call_control import CallControlClient, TelnyxApiError
from voxagent.channels.telnyx.client_state import decode_client_state
from voxagent.channels.telnyx.controller import STREAM_FORMATS
from voxagent.channels.telnyx.service import TelnyxService
from voxagent.conversation.call import Call
from voxagent.conversation.history import Message
from voxagent.security.access import Access

log = logging.getLogger(__name__)

AUTH_HEADER = "x-telnyx-streaming-auth-token"
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNSUPPORTED_DATA = 1003
MALFORMED_LOG_EVERY = 50
"""Log the first malformed frame and then one in fifty, so a broken peer cannot flood the log."""


class TelnyxMediaChannel:
    """Speaks our side of the stream: media in the call's codec, marks, clear."""

    echo_margin_db = None
    """The phone network cancels echo: no gate on the caller while the agent speaks."""

    def __init__(
        self,
        ws: WebSocket,
        audio_format: AudioFormat,
        stream_id: str,
        *,
        call_control: CallControlClient | None = None,
        call_control_id: str | None = None,
    ) -> None:
        self._ws = ws
        self.audio_format = audio_format
        self._stream_id = stream_id
        self._call_control = call_control
        self._call_control_id = call_control_id
        self.frames_sent = 0
        self.closed = False

    async def _send(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True

    def played_bytes(self) -> None:
        """Telnyx reports played audio by marks only; the engine goes by its clock."""
        return None

    async def send_audio(self, frame: bytes) -> None:
        self.frames_sent += 1
        await self._send(proto.media_message(frame, self._stream_id))

    async def send_mark(self, name: str) -> None:
        await self._send(proto.mark_message(name, self._stream_id))

    async def clear(self) -> None:
        await self._send(proto.clear_message(self._stream_id))

    async def hangup(self, reason: str) -> None:
        # Closing the socket ends the stream, not the phone call: with Call Control
        # credentials the leg itself is hung up too.
        if self._call_control is not None and self._call_control_id and reason != "done":
            try:
                await self._call_control.hangup(self._call_control_id)
            except TelnyxApiError as exc:
                log.warning("call %s: hangup failed: %s", self._call_control_id, exc)
        if self.closed:
            return
        self.closed = True
        if self._ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self._ws.close(1000, reason[:100])

    async def transfer(self, to: str | None) -> None:
        log.info("stream %s: transfer to %s requested", self._stream_id, to or "a person")
        if self._call_control is not None and self._call_control_id and to:
            try:
                await self._call_control.transfer(self._call_control_id, to)
                await self.hangup("done")
                return
            except TelnyxApiError as exc:
                log.warning("call %s: transfer failed: %s", self._call_control_id, exc)
        await self.hangup("transferred")


class MediaStreamSession:
    """One WebSocket from Telnyx, from ``connected`` to ``stop``."""

    def __init__(self, ws: WebSocket, telnyx: TelnyxService, access: Access) -> None:
        self.ws = ws
        self.telnyx = telnyx
        self.access = access
        self.calls = telnyx.calls
        self.call: Call | None = None
        self.channel: TelnyxMediaChannel | None = None
        self.ended_by_telnyx = False
        """Telnyx will report the call's end (its hang-up webhook ends the session); a stream
        with no Telnyx call behind it ends its session when it closes."""
        self.malformed = 0
        self.auth_token = ws.headers.get(AUTH_HEADER)

    async def run(self) -> None:
        await self.ws.accept()
        if self.calls.draining:
            # Accept first: a close code (1013, try again later) is only seen on an open socket;
            # refusing the handshake would be a bare HTTP 403.
            await self.ws.close(CLOSE_TRY_AGAIN_LATER, "shutting down")
            return
        try:
            await self._receive_loop()
        finally:
            await self._finish()

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            try:
                event = proto.parse_message(raw)
            except proto.MalformedMessage as exc:
                self._malformed(exc)
                continue
            if await self._handle(event) is False:
                return
            if self.call is not None and self.call.ended:
                return

    def _malformed(self, exc: proto.MalformedMessage) -> None:
        self.malformed += 1
        self.telnyx.stats.malformed_messages += 1
        if self.malformed == 1 or self.malformed % MALFORMED_LOG_EVERY == 0:
            log.warning(
                "media stream: dropped malformed message (%d so far): %s", self.malformed, exc
            )

    async def _handle(self, event: proto.TelnyxEvent) -> bool:
        match event:
            case proto.Media():
                if self.call is None:
                    self._malformed(proto.MalformedMessage("media before start"))
                elif event.track == "inbound":
                    self.call.push_audio(event.payload)
            case proto.Start():
                return await self._start(event)
            case proto.Connected():
                self.auth_token = self.auth_token or event.auth_token
            case proto.Mark():
                if self.call is not None:
                    self.call.mark_played(event.name)
            case proto.Stop():
                if self.call is not None:
                    await self.call.end("caller_hangup")
                return False
            case proto.Dtmf():
                log.info("call %s: DTMF %s", self.call.call_id if self.call else "?", event.digit)
            case proto.StreamError():
                log.warning("media stream error %s %s: %s", event.code, event.title, event.detail)
            case _:
                assert_never(event)
        return True

    async def _start(self, start: proto.Start) -> bool:
        if self.call is not None:
            self._malformed(proto.MalformedMessage("second start on one stream"))
            return True
        audio_format = STREAM_FORMATS.get(start.encoding.strip().upper())
        if audio_format is None:
            log.error(
                "media stream %s refused: encoding %r (expected PCMU or PCMA)",
                start.stream_id,
                start.encoding,
            )
            await self.ws.close(CLOSE_UNSUPPORTED_DATA, "unsupported media_format")
            return False
        if start.sample_rate != audio_format.sample_rate:
            log.error("media stream %s refused: %d Hz", start.stream_id, start.sample_rate)
            await self.ws.close(CLOSE_UNSUPPORTED_DATA, "unsupported sample_rate")
            return False
        session = await self._authorized_session(start)
        if session is False:
            log.warning("media stream %s refused: missing or wrong auth token", start.stream_id)
            await self.ws.close(CLOSE_POLICY_VIOLATION, "invalid stream auth token")
            return False
        stream_id = start.stream_id or uuid.uuid4().hex
        call_id = start.call_control_id or stream_id
        controller = self.telnyx.controller
        self.channel = TelnyxMediaChannel(
            self.ws,
            audio_format,
            stream_id,
            call_control=controller.client if controller is not None else None,
            call_control_id=start.call_control_id or None,
        )
        if session:
            self.ended_by_telnyx = controller is not None and session.call_control_id is not None
            info = session.call_info(call_id)
            if info.channel is not ChannelKind.MEDIA_STREAM:
                info = dataclasses.replace(info, channel=ChannelKind.MEDIA_STREAM)
        else:
            settings = self.telnyx.settings
            info = CallInfo(
                call_id=call_id,
                channel=ChannelKind.MEDIA_STREAM,
                direction="inbound",
                caller=start.from_number,
                callee=start.to_number,
                persona=settings.persona,
                language=settings.effective_language,
            )
        rescuer = self.telnyx.rescuer
        arrival = rescuer.take_rescued(call_id) if rescuer is not None else None
        if arrival is not None:
            history = await self._history_of(call_id)
            self.call = await self.calls.open(
                info, self.channel, history=history, reconnected=arrival == "lost"
            )
        else:
            self.call = await self.calls.open(info, self.channel)
        log.info(
            "call %s: media stream %s started (%s, from %s to %s)",
            call_id,
            stream_id,
            audio_format,
            start.from_number,
            start.to_number,
        )
        return True

    async def _history_of(self, call_id: str) -> list[Message]:
        """What was said before this call's instance was lost (none if Redis cannot say)."""
        shared = self.calls.shared_history
        if shared is None:
            return []
        try:
            return await shared.load(call_id)
        except (RedisError, OSError, ValueError) as exc:
            log.warning("call %s: its history could not be read (%s)", call_id, exc)
            return []

    async def _authorized_session(self, start: proto.Start) -> Session | Literal[False] | None:
        """The session this stream belongs to; False when it must be refused.

        With Telnyx configured, every stream must present the per-call token we gave Telnyx
        (``stream_auth_token``), compared in constant time, or one of the API keys (a simulated
        caller load-testing a production setup). Without Telnyx (local development, the
        simulator) the endpoint is open; start-up logged that.
        """
        sessions = self.calls.sessions
        session = await sessions.by_call(start.call_control_id)
        if session is None and start.client_state:
            state = decode_client_state(start.client_state)
            session = await sessions.get(str(state.get("session_id", "")) or None)
        if self.telnyx.controller is None:
            return session
        if self.access.keys.configured and self.access.key_id(self.ws.headers) is not None:
            return session
        if session is None or not session.stream_token or not self.auth_token:
            return False
        if not hmac.compare_digest(session.stream_token, self.auth_token):
            return False
        return session

    async def _finish(self) -> None:
        call = self.call
        if call is not None:
            if not call.ended:
                await call.end("caller_hangup")
            await self.calls.close(call, end_session=not self.ended_by_telnyx)
        if self.channel is not None:
            await self.channel.hangup("done")
        elif self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self.ws.close(1000)


async def media_stream_endpoint(ws: WebSocket) -> None:
    telnyx: TelnyxService = ws.app.state.telnyx
    access: Access = ws.app.state.access
    await MediaStreamSession(ws, telnyx, access).run()
