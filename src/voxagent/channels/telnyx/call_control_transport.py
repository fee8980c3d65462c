"""How the Call Control client talks to Telnyx: one pooled :class:`httpx.AsyncClient`, the
``command_id`` on every command, and retries of transient failures with full-jitter backoff.

:class:`CallControlTransport` is the base of
:class:`~voxagent.channels.telnyx.call_control.CallControlClient`, which adds the typed
commands; the errors and response reading are in
:mod:`~voxagent.channels.telnyx.call_control_wire`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeAlias
from urllib.parse import quote

import httpx

from voxagent.channels.telnyx.call_control_wire import (
    JsonObject,
    TelnyxUnavailable,
    _api_error,
    _data,
    _retry_hint,
    _without_none,
)

__all__ = ["DEFAULT_BASE_URL", "CallControlTransport", "Sleep"]

log = logging.getLogger("voxagent.channels.telnyx.call_control")
"""The client's one log, under the name it had before the transport moved here."""

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"

_RETRY_STATUSES = frozenset({408, 429})

Sleep: TypeAlias = Callable[[float], Awaitable[None]]


class CallControlTransport:
    """The HTTP half of the client: set-up and closing, retries with backoff, and ``action``
    (any command by name), on which every typed command is built."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = 10,
        max_retries: int = 3,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not api_key:
            raise ValueError("a Telnyx API key is required")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "voxagent",
            },
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"CallControlClient(base_url={self.base_url!r})"  # never the key

    async def close(self) -> None:
        """Close pooled connections; safe to call twice."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- transport ------------------------------------------------------------------------

    def _backoff(self, retry: int, hint: float | None) -> float:
        """Delay before retry number ``retry`` (0-based): the server's hint if it gave one,
        else full jitter, uniform in [0, min(max, base·2^retry)]; both capped by the max."""
        if hint is not None:
            return min(hint, self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry)
        return ceiling * self._jitter()

    async def _post(self, path: str, body: JsonObject) -> httpx.Response:
        """POST ``body`` with retries; return the 2xx response or raise."""
        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            hint: float | None = None
            try:
                response = await self._http.post(path, content=content)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = TelnyxUnavailable(0, "", type(exc).__name__, str(exc), attempt + 1)
                reason = type(exc).__name__
            else:
                status = response.status_code
                if status < 300:
                    return response
                error = _api_error(response)
                if status not in _RETRY_STATUSES and status < 500:
                    raise error
                failure = TelnyxUnavailable(
                    status, error.code, error.title, error.detail, attempt + 1
                )
                reason = f"HTTP {status}"
                hint = _retry_hint(response)
            if attempt == attempts - 1:
                raise failure
            delay = self._backoff(attempt, hint)
            log.warning(
                "telnyx POST /%s: %s, retry %d/%d in %.2f s",
                path,
                reason,
                attempt + 1,
                self.max_retries,
                delay,
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def action(
        self,
        call_control_id: str,
        name: str,
        body: Mapping[str, Any] | None = None,
        *,
        client_state: str | None = None,
        command_id: str | None = None,
    ) -> JsonObject:
        """Send any call command (``POST /calls/{id}/actions/{name}``); the named methods of
        ``CallControlClient`` are typed shortcuts. ``None`` values in ``body`` are dropped."""
        if not call_control_id:
            raise ValueError("call_control_id is empty")
        payload = _without_none(body or {})
        if client_state is not None:
            payload["client_state"] = client_state
        payload["command_id"] = command_id or str(uuid.uuid4())
        path = f"calls/{quote(call_control_id, safe=':')}/actions/{quote(name, safe='')}"
        return _data(await self._post(path, payload))
