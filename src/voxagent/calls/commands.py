"""Commands for a live call (hang up, transfer, speak, status), run where the call lives.

A request may reach any instance (the balancer picks one); the call runs on exactly one. With
several instances the command goes to the owner named by the call's heartbeat key over the
command bus; alone, or when this instance is the owner, it runs here. ``adopt`` is the one
command between instances only: a draining instance asks another to take a call over.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.exceptions import RedisError

from voxagent.calls import command_wire as wire
from voxagent.calls.command_bus import CommandBus, InstanceUnreachable
from voxagent.calls.conversation import Conversation
from voxagent.calls.lifecycle import CallLifecycle
from voxagent.calls.ownership import CallOwnership
from voxagent.conversation.call import Call

__all__ = ["CallCommands", "CommandResult", "Commandable", "live_view"]

log = logging.getLogger(__name__)

CommandResult = tuple[int, dict[str, Any]]


class Commandable(Conversation, Protocol):
    """A conversation an operator can act on (media-stream, webhook-mode and browser calls)."""

    async def hang_up(self, reason: str) -> None: ...

    async def transfer_to(self, to: str) -> None: ...

    def announce(self, text: str) -> None: ...


def live_view(conversation: Conversation) -> dict[str, Any]:
    """What a live call looks like from outside: its state, transcript and turns so far."""
    return {
        "state": conversation.state.value if isinstance(conversation, Call) else "in_progress",
        "outcome": conversation.outcome,
        "transcript": conversation.history.as_dicts(),
        "turns": [t.as_record() for t in conversation.turns],
        "counters": conversation.counters.as_dict(),
    }


class CallCommands:
    def __init__(
        self,
        calls: CallLifecycle,
        *,
        ownership: CallOwnership | None = None,
        bus: CommandBus | None = None,
        adopt: Callable[[str, str], Awaitable[bool]] | None = None,
    ) -> None:
        """``adopt(call_id, previous_owner)`` takes a call over from a draining instance
        (Telnyx only)."""
        self.calls = calls
        self.ownership = ownership
        self.bus = bus
        self.adopt = adopt
        self.forwarded = 0

    async def run(self, call_id: str, command: wire.Command, args: dict[str, Any]) -> CommandResult:
        """Run ``command`` on the call wherever it lives. 404 when it is live nowhere, 503
        when its instance cannot be reached."""
        conversation = self.calls.get(call_id)
        if conversation is not None:
            return await self.here(conversation, command, args)
        if self.ownership is None or self.bus is None:
            return 404, {"detail": f"call {call_id!r} is not live"}
        try:
            owner = await self.ownership.owner(call_id)
        except (RedisError, OSError) as exc:
            return 503, {"detail": f"cannot tell which instance serves the call: {exc}"}
        if owner is None or owner == self.ownership.instance_id:
            return 404, {"detail": f"call {call_id!r} is not live on any instance"}
        try:
            reply = await self.bus.request(owner, command, call_id, args)
        except InstanceUnreachable as exc:
            return 503, {"detail": f"the call's instance did not answer: {exc}"}
        self.forwarded += 1
        return reply.status, {**reply.body, "instance": owner}

    async def here(
        self, conversation: Conversation, command: wire.Command, args: dict[str, Any]
    ) -> CommandResult:
        if command == "status":
            return 200, live_view(conversation)
        if conversation.ended:
            return 409, {"detail": "the call is ending"}
        target: Commandable = conversation  # type: ignore[assignment]
        match command:
            case "hangup":
                await target.hang_up(str(args.get("reason") or "hung_up_by_api"))
                return 200, {"call_id": conversation.call_id, "result": "hung_up"}
            case "transfer":
                to = args.get("to")
                if not isinstance(to, str) or not to:
                    return 422, {"detail": "transfer needs 'to'"}
                await target.transfer_to(to)
                return 200, {"call_id": conversation.call_id, "result": "transferred", "to": to}
            case "speak":
                text = args.get("text")
                if not isinstance(text, str) or not text.strip():
                    return 422, {"detail": "speak needs 'text'"}
                target.announce(text.strip())
                return 202, {"call_id": conversation.call_id, "result": "queued"}
        return 400, {"detail": f"{command!r} is not a command for a call"}

    async def handle(self, request: wire.CommandRequest) -> wire.CommandReply:
        """A command another instance sent us (the command bus's handler)."""
        if request.command == "adopt":
            if self.adopt is None:
                return wire.CommandReply(request.id, 503, {"detail": "no Telnyx here"})
            previous = request.args.get("from")
            if not isinstance(previous, str) or not previous:
                return wire.CommandReply(request.id, 422, {"detail": "adopt needs 'from'"})
            taken = await self.adopt(request.call_id, previous)
            return wire.CommandReply(request.id, 200 if taken else 409, {"adopted": taken})
        conversation = self.calls.get(request.call_id)
        if conversation is None:
            return wire.CommandReply(request.id, 404, {"detail": "the call is not live here"})
        status, body = await self.here(conversation, request.command, request.args)
        return wire.CommandReply(request.id, status, body)
