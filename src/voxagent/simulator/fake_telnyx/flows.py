"""How a call goes: created, ringing, answered (with AMD), limited in time, hung up.

Calls start either from a dial (REST) or from :meth:`CallFlows.ring_inbound`; whatever ends
them goes through :meth:`CallFlows._hangup`, which makes ``call.hangup`` the call's last event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Literal

from voxagent.simulator.fake_telnyx.base import FakeTelnyxBase
from voxagent.simulator.fake_telnyx.call import (
    DEFAULT_CONNECTION_ID,
    FakeCall,
    _new_call_control_id,
)
from voxagent.simulator.fake_telnyx.records import JsonObject
from voxagent.simulator.fake_telnyx.validation import _interim_requested

__all__ = ["CallFlows"]


class CallFlows(FakeTelnyxBase):
    """A call's life from the network's side, and the party's own moves (ring, hang up, keys)."""

    async def ring_inbound(
        self,
        from_number: str,
        to_number: str,
        *,
        callee_script: Sequence[str] | None = None,
        client_state: str | None = None,
        webhook_url: str | None = None,
    ) -> str:
        """An incoming call: ``call.initiated`` (incoming, parked), then nothing until our
        server answers (or ``inbound_ring_timeout_s`` passes). Returns the call_control_id."""
        script = callee_script if callee_script is not None else self.scripts.get(from_number)
        call = self._new_call(
            "incoming",
            from_number,
            to_number,
            connection_id=self.connection_id or DEFAULT_CONNECTION_ID,
            webhook_url=webhook_url or self.webhook_url,
            script=list(self.callee_script if script is None else script),
            client_state=client_state,
        )
        self._emit(call, "call.initiated", self._initiated_fields(call))
        self._spawn(call, self._ring_timeout(call), "ring-timeout")
        return call.call_control_id

    async def hangup(self, call_control_id: str) -> None:
        """The simulated party hangs up now (``stop`` on the stream, ``call.hangup``)."""
        call = self.calls[call_control_id]
        if not call.alive:
            return
        if call.answered:
            self._hangup(call, "normal_clearing", "callee", "16")
        elif call.direction == "incoming":
            self._hangup(call, "originator_cancel", "caller", "487")
        else:
            self._hangup(call, "call_rejected", "callee", "603")

    async def press(self, call_control_id: str, digits: str) -> None:
        """The party presses keys: one ``call.dtmf.received`` webhook per digit."""
        call = self.calls[call_control_id]
        for digit in digits:
            self._emit(
                call,
                "call.dtmf.received",
                {"digit": digit, "from": call.from_number, "to": call.to_number},
            )

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
    ) -> FakeCall:
        call = FakeCall(
            call_control_id=_new_call_control_id(),
            call_leg_id=str(uuid.uuid4()),
            call_session_id=str(uuid.uuid4()),
            connection_id=connection_id,
            direction=direction,
            from_number=from_number,
            to_number=to_number,
            webhook_url=webhook_url,
            script=script,
            client_state=client_state,
            state="parked" if direction == "incoming" else "bridging",
        )
        self.calls[call.call_control_id] = call
        self._live += 1
        self.max_concurrent_calls = max(self.max_concurrent_calls, self._live)
        return call

    def _initiated_fields(self, call: FakeCall) -> JsonObject:
        name = call.options.get("from_display_name") or (
            "Zoë Simulated" if call.direction == "incoming" else call.from_number
        )
        return {
            "from": call.from_number,
            "to": call.to_number,
            "direction": call.direction,
            "state": call.state,
            "start_time": call.start_time,
            "caller_id_name": name,
            "custom_headers": [],
            "sip_headers": [],
            "tags": [],
        }

    async def _outbound_flow(self, call: FakeCall) -> None:
        behaviour = call.behaviour
        if behaviour == "busy":
            await asyncio.sleep(self.answer_delay_s)
            self._hangup(call, "user_busy", "callee", "486")
            return
        if behaviour == "reject":
            await asyncio.sleep(self.answer_delay_s)
            self._hangup(call, "call_rejected", "callee", "603")
            return
        if behaviour == "no_answer":
            timeout = call.options.get("timeout_secs")
            await asyncio.sleep(timeout if isinstance(timeout, int) else self.no_answer_after_s)
            # assumed: the originating side gives up (SIP CANCEL → 487)
            self._hangup(call, "timeout", "caller", "487")
            return
        await asyncio.sleep(self.answer_delay_s)
        self._connect(call, call.options)

    async def _ring_timeout(self, call: FakeCall) -> None:
        await asyncio.sleep(self.inbound_ring_timeout_s)
        self._hangup(call, "originator_cancel", "caller", "487")

    def _connect(self, call: FakeCall, params: JsonObject) -> None:
        """The call is answered: ``call.answered``, AMD, then the party starts talking."""
        call.state = "answered"
        call.answered_at = time.time()
        self._emit(
            call,
            "call.answered",
            {
                "from": call.from_number,
                "to": call.to_number,
                "state": "answered",
                "start_time": call.start_time,
                "custom_headers": [],
                "sip_headers": [],
                "tags": [],
            },
        )
        amd = params.get("answering_machine_detection")
        if call.direction == "outgoing" and amd not in (None, "disabled"):
            machine = call.behaviour == "machine"
            if amd == "premium":
                result = "machine" if machine else "human_residence"
                self._emit(call, "call.machine.premium.detection.ended", {"result": result})
            else:
                self._emit(
                    call,
                    "call.machine.detection.ended",
                    {
                        "result": "machine" if machine else "human",
                        "from": call.from_number,
                        "to": call.to_number,
                    },
                )
        if params.get("transcription") is True:
            call.transcribing = True
            config = params.get("transcription_config")
            call.interim_results = isinstance(config, dict) and _interim_requested(config)
        limit = params.get("time_limit_secs")
        self._spawn(
            call,
            self._time_limit(call, limit if isinstance(limit, int) else self.max_call_s),
            "time-limit",
        )
        if params.get("stream_url"):
            self._start_stream(call, params)
        else:
            self._start_party(call)
        call.notify()

    async def _time_limit(self, call: FakeCall, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._hangup(call, "time_limit", "unknown", "unspecified")

    def _hangup(self, call: FakeCall, cause: str, source: str, sip: str) -> None:
        """End the call now for every later command; the webhooks follow from a task."""
        if not call.alive or self._closing:
            return
        call.state = "hangup"
        call.ended_at = time.time()
        call.hangup_cause, call.hangup_source, call.sip_hangup_cause = cause, source, sip
        self._live -= 1
        if call._current is not None:
            call._current.stop("call_hangup")
        call._clips.clear()
        self._cancel_tasks(call)
        call.notify()
        task = asyncio.create_task(self._finish_hangup(call), name="fake-telnyx-hangup")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._log("call %s: hangup %s (%s)", call.call_control_id[:12], cause, source)

    async def _finish_hangup(self, call: FakeCall) -> None:
        """Close the stream and the audio first, so ``call.hangup`` is the call's last event."""
        try:
            if call._line is not None:
                await call._line.close("hangup")
            if call._player is not None:
                await asyncio.gather(call._player, return_exceptions=True)
            if call._sim is not None and not call._sim.done():
                # The party is still getting ready (rendering its script): it never connected.
                _, pending = await asyncio.wait({call._sim}, timeout=1.0)
                for task in pending:
                    task.cancel()
            self._emit(
                call,
                "call.hangup",
                {
                    "from": call.from_number,
                    "to": call.to_number,
                    "hangup_cause": call.hangup_cause,
                    "hangup_source": call.hangup_source,
                    "sip_hangup_cause": call.sip_hangup_cause,
                    "state": "hangup",
                    "start_time": call.start_time,
                    "call_quality_stats": None,
                },
            )
        finally:
            call._hung_up.set()

    async def _transfer_flow(self, call: FakeCall) -> None:
        # assumed: the transferred leg leaves our agent; it ends when the new party is done.
        if call._line is not None:
            await call._line.close("transfer")
        await asyncio.sleep(self.transfer_after_s)
        self._hangup(call, "normal_clearing", "callee", "16")
