"""Phone calls whose instance died, picked up by this one.

Every ``interval_s`` the rescuer looks at the live media-stream calls in the shared sessions.
A call answered more than ``grace_s`` ago whose owner stopped beating
(:class:`~voxagent.calls.ownership.CallOwnership`) lost its instance. One survivor wins the
call (``SET NX``) and asks Telnyx to stream it here instead (Call Control ``streaming_start``,
to this instance's ``/stream/media``, with a new stream token). When that stream arrives, the
call opens with its history from Redis and says the persona's "reconnected" line. If Telnyx
refuses (the call is gone), the session is closed as ``failed: instance_lost`` and the call is
hung up, so that no caller is left in silence.

A draining instance hands its calls over the same way (:meth:`CallRescuer.adopt`, asked for
over the command bus), between turns; the caller hears no apology then, nothing was lost.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Literal

from voxagent.calls.info import ChannelKind
from voxagent.calls.ownership import OWNER_TTL_S, CallOwnership
from voxagent.calls.sessions import Session, SessionStatus, SessionStore
from voxagent.channels.telnyx.call_control import TelnyxApiError
from voxagent.channels.telnyx.controller import TelnyxCallController
from voxagent.periodic import Periodic

__all__ = ["INSTANCE_LOST", "Arrival", "CallRescuer"]

log = logging.getLogger(__name__)

INSTANCE_LOST = "failed: instance_lost"
RESCUE_INTERVAL_S = 0.5

Arrival = Literal["lost", "handed_over"]
"""Why a call's stream came here: its instance died, or it handed the call over."""


class CallRescuer:
    def __init__(
        self,
        sessions: SessionStore,
        ownership: CallOwnership,
        controller: TelnyxCallController,
        *,
        serving: Callable[[], Iterable[str]],
        interval_s: float = RESCUE_INTERVAL_S,
        grace_s: float = 2.0 * OWNER_TTL_S,
    ) -> None:
        """``serving()`` names the calls this instance serves now (never its own to rescue);
        ``grace_s`` lets a new call's first stream arrive before it can look orphaned."""
        self.sessions = sessions
        self.ownership = ownership
        self.controller = controller
        self.serving = serving
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.rescued: dict[str, Arrival] = {}
        """Calls this instance asked Telnyx to stream here, and why."""
        self.adopted = 0
        self.lost = 0
        self._loop = Periodic(interval_s, self._sweep_quietly, name="call-rescuer")

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def take_rescued(self, call_control_id: str) -> Arrival | None:
        """A stream arrived for this call: why (once), when this instance asked for it."""
        return self.rescued.pop(call_control_id, None)

    async def adopt(self, call_id: str, previous: str) -> bool:
        """Instance ``previous``, draining, hands this call over: stream it here. False when
        the call is not live, or another instance already took it."""
        session = await self.sessions.by_call(call_id)
        if session is None or session.status is not SessionStatus.ANSWERED:
            return False
        if not await self.ownership.take_from(call_id, previous):
            return False
        self.adopted += 1
        return await self._reattach(session, "handed_over")

    async def sweep(self) -> list[str]:
        """One look for orphaned calls; returns the ones this instance took over."""
        now = time.time()
        mine = set(self.serving())
        candidates: dict[str, Session] = {}
        for session in await self.sessions.active():
            call_id = session.call_control_id
            if (
                call_id
                and call_id not in mine
                and call_id not in self.rescued
                and session.mode is ChannelKind.MEDIA_STREAM
                and session.status is SessionStatus.ANSWERED
                and session.answered_at is not None
                and now - session.answered_at > self.grace_s
            ):
                candidates[call_id] = session
        taken = []
        for call_id in await self.ownership.orphans(candidates):
            if await self.ownership.take_over(call_id):
                taken.append(call_id)
                await self._reattach(candidates[call_id], "lost")
        return taken

    async def _reattach(self, session: Session, why: Arrival) -> bool:
        call_id = session.call_control_id
        assert call_id is not None
        controller = self.controller
        codec = controller.settings.stream_codec
        try:
            token = await self.sessions.new_stream_token(session.session_id)
            self.rescued[call_id] = why
            await controller.client.streaming_start(
                call_id,
                stream_url=controller.stream_url(),
                stream_track="inbound_track",
                stream_codec=codec,
                stream_bidirectional_mode="rtp",
                stream_bidirectional_codec=codec,
                stream_auth_token=token,
            )
            if why == "lost":
                log.warning("call %s: its instance was lost; streaming it here now", call_id)
            else:
                log.info("call %s: handed over by a draining instance; streaming it here", call_id)
            return True
        except (TelnyxApiError, KeyError) as exc:
            self.rescued.pop(call_id, None)
            if isinstance(exc, TelnyxApiError) and not _call_is_gone(exc):
                # Telnyx still has the call (it may even be streaming: an owner too slow to
                # beat, not a dead one). Let go; a later sweep tries again if still orphaned.
                log.warning("call %s: not re-attached for now (%s)", call_id, exc)
                await self.ownership.release(call_id)
                return False
            self.lost += 1
            log.warning(
                "call %s: its instance was lost and it cannot be re-attached (%s)", call_id, exc
            )
            await self.sessions.update(
                session.session_id, status=SessionStatus.FAILED, outcome=INSTANCE_LOST
            )
            with contextlib.suppress(TelnyxApiError):
                await controller.client.hangup(call_id)
            return False

    async def _sweep_quietly(self) -> None:
        try:
            await self.sweep()
        except Exception:  # a failed sweep (Redis away, say) is tried again next time
            log.debug("rescue sweep failed", exc_info=True)


CALL_GONE_CODES = frozenset({"90018", "90015", "10005"})
"""Telnyx's "call has already ended", "invalid call control id" and "resource not found"."""


def _call_is_gone(exc: TelnyxApiError) -> bool:
    return exc.code in CALL_GONE_CODES or exc.status == 404
