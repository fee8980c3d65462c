"""Commands between instances over Redis pub/sub: a request to the instance that owns a call,
and its reply.

Each instance listens on ``{prefix}commands:{instance_id}``. :meth:`CommandBus.request`
publishes a request there and waits for the reply on the caller's own channel; a request
nobody received (the instance is gone) or that got no answer in time raises
:class:`InstanceUnreachable`. If Redis drops the subscription, the listener subscribes again
with backoff; requests made meanwhile fail at once rather than hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from voxagent.calls import command_wire as wire

__all__ = ["CommandBus", "InstanceUnreachable", "command_channel"]

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0
RESUBSCRIBE_MAX_S = 5.0

Handler = Callable[[wire.CommandRequest], Awaitable[wire.CommandReply]]


class InstanceUnreachable(Exception):
    """The instance that owns the call did not receive the command, or did not answer."""


def command_channel(prefix: str, instance_id: str) -> str:
    return f"{prefix}commands:{instance_id}"


class CommandBus:
    def __init__(self, redis: Redis, *, prefix: str, instance_id: str, handler: Handler) -> None:
        self.redis = redis
        self.prefix = prefix
        self.instance_id = instance_id
        self.channel = command_channel(prefix, instance_id)
        self.handler = handler
        self.malformed = 0
        self._pending: dict[str, asyncio.Future[wire.CommandReply]] = {}
        self._handling: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="command-bus")
            with contextlib.suppress(TimeoutError):  # Redis away: it subscribes once back
                await asyncio.wait_for(self._subscribed.wait(), 2.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._handling):
            task.cancel()
        for future in self._pending.values():
            future.cancel()

    async def request(
        self,
        instance_id: str,
        command: wire.Command,
        call_id: str,
        args: dict[str, Any] | None = None,
        *,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> wire.CommandReply:
        if not self._subscribed.is_set():
            raise InstanceUnreachable("not subscribed to Redis: replies could not arrive")
        request = wire.CommandRequest(uuid.uuid4().hex, command, call_id, self.channel, args or {})
        future: asyncio.Future[wire.CommandReply] = asyncio.get_running_loop().create_future()
        self._pending[request.id] = future
        try:
            try:
                receivers = await self.redis.publish(
                    command_channel(self.prefix, instance_id), wire.encode(request)
                )
            except (RedisError, OSError) as exc:
                raise InstanceUnreachable(f"Redis: {exc}") from None
            if not receivers:
                raise InstanceUnreachable(f"instance {instance_id} is not listening")
            try:
                return await asyncio.wait_for(future, timeout_s)
            except TimeoutError:
                raise InstanceUnreachable(
                    f"instance {instance_id} did not answer within {timeout_s:.0f} s"
                ) from None
        finally:
            self._pending.pop(request.id, None)

    # ------------------------------------------------------------- listening
    async def _listen_forever(self) -> None:
        delay = 0.2
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                delay = 0.2
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._received(message["data"])
            except (RedisError, OSError, TimeoutError) as exc:
                if self._subscribed.is_set():
                    log.warning("command channel lost (%s); subscribing again", exc)
                self._subscribed.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESUBSCRIBE_MAX_S)

    def _received(self, raw: str | bytes) -> None:
        try:
            message = wire.decode(raw)
        except wire.MalformedCommand as exc:
            self.malformed += 1
            log.warning("command channel: dropped a malformed message: %s", exc)
            return
        if isinstance(message, wire.CommandReply):
            future = self._pending.get(message.id)
            if future is not None and not future.done():
                future.set_result(message)
            return
        task = asyncio.create_task(self._answer(message), name=f"command-{message.command}")
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _answer(self, request: wire.CommandRequest) -> None:
        try:
            reply = await self.handler(request)
        except Exception as exc:
            log.exception("command %s for call %s failed", request.command, request.call_id)
            reply = wire.CommandReply(request.id, 500, {"detail": f"{type(exc).__name__}"})
        with contextlib.suppress(RedisError, OSError):
            await self.redis.publish(request.reply_to, wire.encode(reply))
