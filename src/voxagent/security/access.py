"""Who may use the API: the dependency every protected route declares.

With ``API_KEYS`` set, a request must carry one of them (``Authorization: Bearer <key>`` or
``X-API-Key``) or it is answered 401 with ``WWW-Authenticate: Bearer``. Without keys (local
development, no Telnyx) the API is open and start-up said so. The answer never says which part
of a key was wrong, and never echoes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from voxagent.security.api_keys import ApiKeys, presented_key

__all__ = ["OPEN", "Access", "require_api_key"]

OPEN = "open"
"""The key id of every request when no keys are configured."""

_bearer = HTTPBearer(auto_error=False, description="One of API_KEYS")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of API_KEYS")


class Access:
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    def key_id(self, headers: dict[str, str] | object) -> str | None:
        """The id of the key these headers carry (``OPEN`` with no keys configured)."""
        if not self.keys.configured:
            return OPEN
        return self.keys.identify(presented_key(headers))  # type: ignore[arg-type]

    def require(self, request: Request) -> str:
        key_id = self.key_id(request.headers)
        if key_id is None:
            raise HTTPException(
                status_code=401,
                detail="a valid API key is needed: Authorization: Bearer <key> or X-API-Key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return key_id


async def require_api_key(
    request: Request,
    _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    _header_key: Annotated[str | None, Security(_header)],
) -> str:
    """FastAPI dependency: the caller's key id, or 401. (The two security parameters only
    declare the schemes in the OpenAPI document, so ``/docs`` can send a key.)"""
    access: Access = request.app.state.access
    return access.require(request)
