"""Who is on the other end of a request, as far as sessions and the audit trail record it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import Request


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

    def resolve(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """`forwarded_for`: every X-Forwarded-For line, in order (a proxy may append its
        own line after one the client wrote, so all of them count, right-most first)."""
        if peer is None or not self._networks or not forwarded_for or not self._trusted(peer):
            return peer
        hops = [h.strip() for line in forwarded_for for h in line.split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ip = ipaddress.ip_address(hop)
            except ValueError:
                return peer  # garbage in the chain: believe only what we saw ourselves
            if not any(ip in network for network in self._networks):
                return str(ip)
        return peer

    def of(self, request: Request) -> str | None:
        return self.resolve(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
        )
