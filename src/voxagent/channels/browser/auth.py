"""Short-lived tokens for browser sessions: minted by the API, checked on connect.

A page asks ``POST /api/sandra/token`` (with an API key, when the server has keys) and gets a
JWT (HS256) naming the user and, optionally, the persona and language; it presents the token in
the Socket.IO ``auth`` payload. The token is all a connection needs, so it is short-lived
(``JWT_TTL_SECONDS``, 15 minutes): a leaked one is soon worthless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

__all__ = ["TokenError", "TokenIssuer", "UserClaims"]

ISSUER = "voxagent"
AUDIENCE = "sandra"
ALGORITHM = "HS256"


class TokenError(ValueError):
    """Why a token is refused, in words a page can show (``missing``, ``expired``…)."""


@dataclass(frozen=True, slots=True)
class UserClaims:
    user_id: str
    persona: str | None
    language: str | None
    expires_at: int


class TokenIssuer:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("a token secret needs at least 32 bytes")
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(
        self,
        user_id: str,
        *,
        persona: str | None = None,
        language: str | None = None,
        now: float | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, object] = {
            "sub": user_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
        }
        if persona:
            claims["persona"] = persona
        if language:
            claims["language"] = language
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: object, *, now: float | None = None) -> UserClaims:
        if not isinstance(token, str) or not token:
            raise TokenError("missing token: pass {token} in the Socket.IO auth payload")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # With an explicit ``now`` (tests) the expiry is checked below, against it.
                options={"require": ["exp", "iat", "sub"], "verify_exp": now is None},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("expired token: get a new one from /api/sandra/token") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token ({type(exc).__name__})") from None
        if now is not None and int(claims["exp"]) <= now:
            raise TokenError("expired token: get a new one from /api/sandra/token")
        return UserClaims(
            user_id=str(claims["sub"]),
            persona=claims.get("persona"),
            language=claims.get("language"),
            expires_at=int(claims["exp"]),
        )
