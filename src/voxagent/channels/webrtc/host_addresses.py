"""Which local addresses the server's ICE agent offers as host candidates.

aioice offers every interface's address except loopback. ``WEBRTC_HOST_ADDRESSES`` replaces
that list (a multi-homed host that should use one interface; or ``127.0.0.1`` where the
browser and the server share a machine with no other network, as in the tests).
"""

from __future__ import annotations

import aioice.ice

__all__ = ["restrict_host_addresses"]

_original = aioice.ice.get_host_addresses


def restrict_host_addresses(addresses: list[str]) -> None:
    """Offer only ``addresses`` (an empty list restores aioice's own choice)."""
    if not addresses:
        aioice.ice.get_host_addresses = _original
        return
    chosen = list(addresses)

    def only_these(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = only_these
