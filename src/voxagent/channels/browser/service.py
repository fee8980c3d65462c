"""The browser channel's parts, built once: the token issuer, the Socket.IO server and its
``/sandra`` namespace. The Socket.IO manager is pluggable (one process now; Redis next)."""

from __future__ import annotations

import logging
import secrets

import socketio

from voxagent.calls.lifecycle import CallLifecycle
from voxagent.channels.browser.auth import TokenIssuer
from voxagent.channels.browser.namespace import SandraNamespace
from voxagent.security.rate_limit import RateLimiter
from voxagent.settings import Settings

__all__ = ["BrowserService"]

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
"""The largest Socket.IO message (an 8 KiB audio chunk and its envelope fit many times)."""


class BrowserService:
    def __init__(
        self,
        settings: Settings,
        calls: CallLifecycle,
        manager: socketio.AsyncManager | None = None,
    ) -> None:
        secret = settings.jwt_secret
        if not secret:
            secret = secrets.token_urlsafe(48)
            log.warning(
                "JWT_SECRET is not set: browser tokens are signed with a random per-process "
                "secret (they stop working after a restart, and on other instances)"
            )
        self.issuer = TokenIssuer(secret, settings.jwt_ttl_seconds)
        self.token_limit = RateLimiter(settings.tokens_per_minute_per_ip, 60.0)
        origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            client_manager=manager,
            cors_allowed_origins=origins or None,  # None: the page's own origin only
            transports=["websocket"],  # no long-polling: no sticky sessions needed
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            ping_interval=20,
            ping_timeout=20,
        )
        self.namespace = SandraNamespace(
            calls,
            self.issuer,
            default_persona=settings.browser_persona,
            default_language=settings.effective_language,
            echo_margin_db=settings.browser_echo_margin_db,
            session_ttl_s=settings.session_ttl_seconds,
        )
        self.sio.register_namespace(self.namespace)

    async def close(self) -> None:
        await self.namespace.shutdown()
