"""What the fake's parts share: settings, records, tasks, and the seams between the parts.

:class:`~voxagent.simulator.fake_telnyx.fake.FakeTelnyx` is assembled from one mixin per
concern (REST, actions, call flows, webhooks, the party, media streams, playback). Each mixin
derives from :class:`FakeTelnyxBase`, which declares the state that ``FakeTelnyx.__init__``
sets up and the few methods one part calls on another, so that every part reads, and
type-checks, on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Literal

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxagent.simulator.caller import SpeechRenderer
from voxagent.simulator.fake_telnyx.call import FakeCall, _Clip
from voxagent.simulator.fake_telnyx.records import (
    EmittedEvent,
    JsonObject,
    RestRequest,
    WebhookDelivery,
)

__all__ = ["FakeTelnyxBase"]

log = logging.getLogger(__package__)
"""The fake's one log, named after the package (what ``voxagent fake-telnyx`` prints)."""


class FakeTelnyxBase:
    """The state every part uses (set by ``FakeTelnyx.__init__``, documented there) and the
    plumbing for the call's tasks and the log."""

    # settings
    webhook_url: str | None
    api_key: str
    callee_script: list[str]
    connection_id: str | None
    answer_delay_s: float
    no_answer_after_s: float
    speak_rate_s_per_char: float
    speak_max_s: float
    playback_duration_s: float
    callee_pause_s: float
    callee_reply_timeout_s: float
    callee_hangup_after_s: float
    inbound_ring_timeout_s: float
    transfer_after_s: float
    max_call_s: float
    webhook_attempts: int
    webhook_retry_delay_s: float
    duplicate_deliveries: bool
    transcribe: bool
    callee_options: dict[str, Any]
    verbose: bool

    # what the fake knows and keeps
    behaviour: dict[str, str]
    scripts: dict[str, list[str]]
    calls: dict[str, FakeCall]
    requests: list[RestRequest]
    webhooks: list[WebhookDelivery]
    emitted: list[EmittedEvent]
    max_concurrent_calls: int
    _key: Ed25519PrivateKey
    _tts: SpeechRenderer | None
    _owned_tts: Any
    _tts_lock: asyncio.Lock
    _faults: deque[int]
    _dial_commands: dict[str, tuple[float, str]]
    _pending_lines: dict[str, FakeCall]
    _tasks: set[asyncio.Task[None]]
    _live: int
    _closing: bool
    _http: httpx.AsyncClient | None
    _relay_url: str

    def _spawn(
        self, call: FakeCall, coro: Coroutine[Any, Any, None], name: str
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"fake-telnyx-{name}")
        call._tasks.add(task)
        task.add_done_callback(call._tasks.discard)
        return task

    @staticmethod
    def _cancel_tasks(call: FakeCall) -> None:
        """Cancel the call's timers and party loop (never the task doing the cancelling)."""
        current = asyncio.current_task()
        for task in list(call._tasks):
            if task is not current:
                task.cancel()

    def _log(self, message: str, *args: object) -> None:
        log.log(logging.INFO if self.verbose else logging.DEBUG, message, *args)

    if TYPE_CHECKING:
        # The seams: what one part calls on another, each implemented by exactly one mixin.

        # webhooks.WebhookSender
        def _emit(self, call: FakeCall, event_type: str, fields: JsonObject) -> None: ...

        # flows.CallFlows
        def _new_call(
            self,
            direction: Literal["incoming", "outgoing"],
            from_number: str,
            to_number: str,
            *,
            connection_id: str,
            webhook_url: str | None,
            script: list[str],
            client_state: str | None,
        ) -> FakeCall: ...
        def _initiated_fields(self, call: FakeCall) -> JsonObject: ...
        async def _outbound_flow(self, call: FakeCall) -> None: ...
        def _connect(self, call: FakeCall, params: JsonObject) -> None: ...
        def _hangup(self, call: FakeCall, cause: str, source: str, sip: str) -> None: ...
        async def _transfer_flow(self, call: FakeCall) -> None: ...

        # callee.WebhookParty
        def _start_party(self, call: FakeCall) -> None: ...

        # media.MediaStreams
        def _start_stream(self, call: FakeCall, params: JsonObject) -> None: ...
        def _stop_stream(self, call: FakeCall) -> None: ...

        # playback.AgentAudio
        def _queue_clip(self, call: FakeCall, clip: _Clip, stop: object) -> None: ...
        async def _fetch_media(self, call: FakeCall, url: str) -> None: ...
