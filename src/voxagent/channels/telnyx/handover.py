"""A draining instance hands its live phone calls to the others, between turns.

For each media-stream call: wait until nobody has the floor, stop its stream (Call Control
``streaming_stop``, so Telnyx keeps the call and the caller hears a moment of silence), let the
call leave this instance with its record still open, and ask the least busy other instance
over the command bus to ``adopt`` it: it takes the owner key from us in one step and streams
the call to itself. A call no instance adopts gets its key released, and the others' rescue
sweep finds it.
Alone, an instance hands nothing over and drains as before.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from voxagent.calls.command_bus import CommandBus, InstanceUnreachable
from voxagent.calls.info import ChannelKind
from voxagent.calls.instances import InstanceRegistry, LiveInstance
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.calls.ownership import CallOwnership
from voxagent.channels.telnyx.call_control import TelnyxApiError
from voxagent.channels.telnyx.controller import TelnyxCallController
from voxagent.conversation.call import Call

__all__ = ["CallHandover"]

log = logging.getLogger(__name__)

LINE_CLOSE_WAIT_S = 5.0
"""How long the stream may take to close after ``streaming_stop``."""


class CallHandover:
    def __init__(
        self,
        calls: CallLifecycle,
        controller: TelnyxCallController,
        ownership: CallOwnership,
        registry: InstanceRegistry,
        bus: CommandBus,
    ) -> None:
        self.calls = calls
        self.controller = controller
        self.ownership = ownership
        self.registry = registry
        self.bus = bus
        self.handed = 0
        self.failed = 0

    async def hand_over_all(self, within_s: float) -> int:
        """Hand every phone call to another instance; returns how many moved. Calls not yet
        between turns when ``within_s`` runs out stay here (the drain goes on with them)."""
        try:
            targets = await self.registry.others()
        except (RedisError, OSError) as exc:
            log.warning("draining: cannot list the other instances (%s); keeping calls", exc)
            return 0
        calls = [c for c in map(self.calls.live, self.calls.call_ids()) if c is not None]
        calls = [c for c in calls if c.info.channel is ChannelKind.MEDIA_STREAM]
        if not targets or not calls:
            if calls:
                log.info("draining: no other instance is alive; calls finish here")
            return 0
        log.info("draining: handing %d call(s) to %d instance(s)", len(calls), len(targets))
        moved = await asyncio.gather(
            *(
                self._hand_over(
                    call, targets[i % len(targets) :] + targets[: i % len(targets)], within_s
                )
                for i, call in enumerate(calls)
            )
        )
        return sum(moved)

    async def _hand_over(
        self, call: Call, targets: list[LiveInstance], within_s: float = 20.0
    ) -> bool:
        call_id = call.call_id
        if not await call.between_turns(within_s):
            return False
        self.calls.handing_over(call_id)
        try:
            await self.controller.client.streaming_stop(call_id)
        except TelnyxApiError as exc:
            self.calls.hand_over_failed(call_id)
            log.warning("call %s: cannot stop its stream to hand it over (%s)", call_id, exc)
            self.failed += 1
            return False
        for _ in range(int(LINE_CLOSE_WAIT_S / 0.02)):
            if self.calls.get(call_id) is not call:
                break
            await asyncio.sleep(0.02)
        else:  # Telnyx stopped the stream but the socket lingers: let the call go anyway
            await call.end("handed_over")
            await self.calls.close(call)
        # The owner key still names us (it lapses 2 s after the last heartbeat): the adopter
        # takes it from us in one step, so no rescue sweep finds the call ownerless meanwhile.
        handing = {"from": self.ownership.instance_id}
        for target in targets:
            try:
                reply = await self.bus.request(target.instance_id, "adopt", call_id, handing)
            except InstanceUnreachable as exc:
                log.warning("call %s: instance %s did not adopt it (%s)", call_id, target, exc)
                continue
            if reply.status == 200:
                self.handed += 1
                log.info("call %s: handed over to instance %s", call_id, target.instance_id)
                return True
        self.failed += 1
        await self.ownership.release(call_id)
        log.warning("call %s: no instance adopted it; their rescue sweep will", call_id)
        return False
