"""Who is on the other end of a request, as far as sessions and the audit trail record it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None
    ip: str | None


class ClientAddresses:
    """Finds the client's address: the peer, unless the peer is a trusted proxy, in which
    case the right-most X-Forwarded-For entry that is not itself a trusted proxy."""

    def __init__(self, trusted: list[str]) -> None:
        self._networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        if peer is None or not self._networks or not forwarded_for or not self._trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if not self._trusted(hop):
                return hop[:64]
        return peer
