"""Webhook delivery: the §2.1 envelope, Ed25519-signed, posted in order per call, retried.

Every event is recorded in :attr:`~FakeTelnyxBase.emitted` when it happens, and every HTTP
attempt at delivering it in :attr:`~FakeTelnyxBase.webhooks` (the delivery log), with what
our server answered.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxagent.channels.telnyx import signatures
from voxagent.simulator.fake_telnyx.base import FakeTelnyxBase
from voxagent.simulator.fake_telnyx.call import (
    DEFAULT_CONNECTION_ID,
    FakeCall,
    _new_call_control_id,
    _now_iso,
)
from voxagent.simulator.fake_telnyx.records import EmittedEvent, JsonObject, WebhookDelivery

__all__ = ["WebhookSender"]

SIGNATURE_HEADER = "Telnyx-Signature-Ed25519"  # Telnyx's spelling; receivers must not care
TIMESTAMP_HEADER = "Telnyx-Timestamp"


def _dumps(obj: object) -> bytes:
    # Compact and UTF-8 (not \u escapes): a receiver must verify the bytes it got, and one
    # that re-serializes with the stdlib defaults would produce different bytes.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookSender(FakeTelnyxBase):
    """Creates events, delivers them to the call's ``webhook_url``, and posts odd ones."""

    async def send_forged(
        self, event_type: str = "call.initiated", payload: JsonObject | None = None
    ) -> int | None:
        """POST a well-formed webhook signed with the wrong key; returns our server's status."""
        return await self.post_webhook(event_type, payload, sign_with=Ed25519PrivateKey.generate())

    async def send_stale(
        self,
        event_type: str = "call.initiated",
        payload: JsonObject | None = None,
        *,
        age_s: float = 600.0,
    ) -> int | None:
        """POST a correctly signed webhook whose timestamp is ``age_s`` old (beyond 300 s)."""
        return await self.post_webhook(event_type, payload, timestamp=int(time.time() - age_s))

    async def post_webhook(
        self,
        event_type: str,
        payload: JsonObject | None = None,
        *,
        timestamp: int | None = None,
        sign_with: Ed25519PrivateKey | None = None,
        url: str | None = None,
    ) -> int | None:
        """POST one out-of-band event (a phantom incoming call by default) and return the
        status (``None`` if nobody answered); recorded in :attr:`webhooks` as well."""
        target = url or self.webhook_url
        if target is None:
            raise ValueError("no webhook_url to post to")
        if payload is None:
            payload = {
                "call_control_id": _new_call_control_id(),
                "call_leg_id": str(uuid.uuid4()),
                "call_session_id": str(uuid.uuid4()),
                "connection_id": self.connection_id or DEFAULT_CONNECTION_ID,
                "client_state": None,
                "from": "+15550000000",
                "to": "+15550001000",
                "direction": "incoming",
                "state": "parked",
                "start_time": _now_iso(),
            }
        event = EmittedEvent(
            str(uuid.uuid4()), event_type, payload.get("call_control_id"), _now_iso(), payload
        )
        return await self._attempt(event, target, 1, timestamp=timestamp, key=sign_with)

    def _emit(self, call: FakeCall, event_type: str, fields: JsonObject) -> None:
        if self._closing:
            return
        payload: JsonObject = {
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "connection_id": call.connection_id,
            "client_state": call.client_state,
        }
        payload.update(fields)
        event = EmittedEvent(
            str(uuid.uuid4()), event_type, call.call_control_id, _now_iso(), payload
        )
        call.events.append(event)
        self.emitted.append(event)
        self._log("call %s: %s", call.call_control_id[:12], event_type)
        if call.webhook_url is None:
            return
        call._outbox.append(event)
        if call._sender is None or call._sender.done():
            call._sender = asyncio.create_task(self._send(call), name="fake-telnyx-webhooks")

    async def _send(self, call: FakeCall) -> None:
        """One sender per call: events reach our server in the order they happened."""
        while call._outbox:
            event = call._outbox.popleft()
            url = call.webhook_url
            if url is None:
                continue
            for attempt in range(1, self.webhook_attempts + 1):
                status = await self._attempt(event, url, attempt)
                if status is not None and 200 <= status < 300:
                    break
                if attempt < self.webhook_attempts:
                    await asyncio.sleep(self.webhook_retry_delay_s * attempt)

    async def redeliver(self, event_id: str, url: str) -> int | None:
        """Deliver an event already sent once again, as Telnyx retries it (same id, a later
        attempt), to ``url``: to another instance behind the balancer, say."""
        event = next((e for e in self.emitted if e.id == event_id), None)
        if event is None:
            raise KeyError(f"no event {event_id!r} was emitted")
        attempts = [d.attempt for d in self.webhooks if d.event_id == event_id]
        return await self._attempt(event, url, max(attempts, default=0) + 1)

    async def _attempt(
        self,
        event: EmittedEvent,
        url: str,
        attempt: int,
        *,
        timestamp: int | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> int | None:
        envelope: JsonObject = {
            "data": {
                "event_type": event.event_type,
                "id": event.id,
                "occurred_at": event.occurred_at,
                "payload": event.payload,
                "record_type": "event",
            },
            "meta": {"attempt": attempt, "delivered_to": url},
        }
        body = _dumps(envelope)
        ts = int(time.time()) if timestamp is None else timestamp
        signed = signatures.sign_webhook(body, key or self._key, ts)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "telnyx-webhooks",
            SIGNATURE_HEADER: signed[signatures.SIGNATURE_HEADER],
            TIMESTAMP_HEADER: signed[signatures.TIMESTAMP_HEADER],
        }
        status = await self._post(event, url, attempt, body, headers, envelope, duplicate=False)
        if self.duplicate_deliveries and status is not None and 200 <= status < 300:
            await self._post(event, url, attempt, body, headers, envelope, duplicate=True)
        return status

    async def _post(
        self,
        event: EmittedEvent,
        url: str,
        attempt: int,
        body: bytes,
        headers: Mapping[str, str],
        envelope: JsonObject,
        *,
        duplicate: bool,
    ) -> int | None:
        http = self._http
        if http is None:
            raise RuntimeError("FakeTelnyx is not started")
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = await http.post(url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.webhooks.append(
            WebhookDelivery(
                event_id=event.id,
                event_type=event.event_type,
                call_control_id=event.call_control_id,
                url=url,
                attempt=attempt,
                status=status,
                error=error,
                body=envelope,
                elapsed_ms=(time.monotonic() - started) * 1000,
                duplicate=duplicate,
            )
        )
        if status is None or status >= 300:
            self._log("webhook %s attempt %d -> %s", event.event_type, attempt, status or error)
        return status
