"""Which STUN and TURN servers a browser session uses, and TURN credentials minted per session.

Sans-I/O. The browser gets every configured server (kept under five: browsers warn at five or
more). aiortc only ever uses the *first* STUN and the *first* TURN URL it is given, so the
server's own list is the first of each, in the order configured: put the nearest first.

Time-limited TURN credentials follow the TURN REST API scheme that coturn implements
(``use-auth-secret``): the username is ``<expiry unix time>:<user>`` and the password is
base64(HMAC-SHA1(secret, username)), so the TURN server checks them with no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

__all__ = [
    "MAX_BROWSER_ICE_SERVERS",
    "IcePlan",
    "IceServer",
    "turn_rest_credentials",
]

MAX_BROWSER_ICE_SERVERS = 4
"""Browsers warn ("using five or more STUN/TURN servers slows down discovery") at five."""


@dataclass(frozen=True, slots=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_browser(self) -> dict[str, object]:
        """The shape of ``RTCIceServer`` in the browser's ``RTCConfiguration``."""
        out: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
            out["credential"] = self.credential or ""
        return out


def turn_rest_credentials(secret: str, user: str, *, ttl_s: int, now: float) -> tuple[str, str]:
    """(username, password) valid until ``now + ttl_s`` on a TURN server sharing ``secret``."""
    username = f"{int(now) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def _urls(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


@dataclass(frozen=True, slots=True)
class IcePlan:
    """The configured servers; :meth:`for_user` gives one session's list."""

    stun_urls: tuple[str, ...]
    turn_urls: tuple[str, ...] = ()
    turn_username: str = ""
    turn_password: str = ""
    turn_secret: str = ""
    turn_ttl_s: int = 3600

    @classmethod
    def from_settings(
        cls,
        *,
        stun_servers: str,
        turn_url: str = "",
        turn_username: str = "",
        turn_password: str = "",
        turn_secret: str = "",
        turn_ttl_s: int = 3600,
    ) -> IcePlan:
        for url in _urls(stun_servers):
            if not url.startswith("stun:") and not url.startswith("stuns:"):
                raise ValueError(f"STUN_SERVERS: {url!r} is not a stun: or stuns: URL")
        for url in _urls(turn_url):
            if not url.startswith("turn:") and not url.startswith("turns:"):
                raise ValueError(f"TURN_URL: {url!r} is not a turn: or turns: URL")
        if _urls(turn_url) and not turn_secret and not (turn_username and turn_password):
            raise ValueError("TURN_URL needs TURN_USERNAME and TURN_PASSWORD, or TURN_SECRET")
        return cls(
            stun_urls=tuple(_urls(stun_servers)),
            turn_urls=tuple(_urls(turn_url)),
            turn_username=turn_username,
            turn_password=turn_password,
            turn_secret=turn_secret,
            turn_ttl_s=turn_ttl_s,
        )

    def _turn(self, user: str, now: float) -> IceServer | None:
        if not self.turn_urls:
            return None
        if self.turn_secret:
            name, password = turn_rest_credentials(
                self.turn_secret, user, ttl_s=self.turn_ttl_s, now=now
            )
        else:
            name, password = self.turn_username, self.turn_password
        return IceServer(self.turn_urls, name, password)

    def for_browser(self, user: str, *, now: float) -> list[IceServer]:
        """Every STUN server, then TURN: at most :data:`MAX_BROWSER_ICE_SERVERS` entries."""
        servers = [IceServer((url,)) for url in self.stun_urls]
        turn = self._turn(user, now)
        if turn is not None:
            servers = [*servers[: MAX_BROWSER_ICE_SERVERS - 1], turn]
        return servers[:MAX_BROWSER_ICE_SERVERS]

    def for_server(self, user: str, *, now: float) -> list[IceServer]:
        """What aiortc will actually use: the first STUN URL and the first TURN URL."""
        servers = [IceServer(self.stun_urls[:1])] if self.stun_urls else []
        turn = self._turn(user, now)
        if turn is not None:
            servers.append(IceServer(turn.urls[:1], turn.username, turn.credential))
        return servers
