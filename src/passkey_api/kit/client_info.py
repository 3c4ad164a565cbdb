"""Who is on the other end of a request, as far as sessions and the audit trail record it."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None
    ip: str | None


# How proxies write one X-Forwarded-For entry besides a bare address: an IPv4 address with
# a port, or an IPv6 address in brackets, with or without a port.
_IPV4_PORT = re.compile(r"^([0-9.]+):[0-9]{1,5}$")
_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::[0-9]{1,5})?$")

# How many leading bits of an IPv6 address name one client for the limits: a /64 is the
# smallest network a host is given (RFC 7421), and it chooses its addresses within it.
IPV6_CLIENT_PREFIX = 64


def parse_hop(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """One X-Forwarded-For entry as an address, or None when it is not one of the forms
    proxies write ("198.51.100.4", "198.51.100.4:4711", "2001:db8::1", "[2001:db8::1]",
    "[2001:db8::1]:443")."""
    for form in (_IPV4_PORT, _BRACKETED):
        found = form.match(entry)
        if found is not None:
            try:
                ip = ipaddress.ip_address(found.group(1))
            except ValueError:
                return None
            # Brackets hold IPv6 only, and a port follows IPv4 without them.
            return ip if (ip.version == 6) == (form is _BRACKETED) else None
    try:
        return ipaddress.ip_address(entry)
    except ValueError:
        return None


def limit_key(address: str | None) -> str:
    """The client as rate limits count it: an IPv4 address, or the /64 of an IPv6 one
    (else one host would be a new client with every address of its /64); an IPv4 client
    seen through a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address."""
    if address is None:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an address (a test's or a Unix socket's name): as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


class ClientAddresses:
    """Finds the client's address: the peer, unless the peer is a trusted proxy, in which
    case the right-most X-Forwarded-For entry that is not itself a trusted proxy."""

    def __init__(self, trusted: list[str]) -> None:
        self._networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def trusts(self, address: str) -> bool:
        """Whether `address` is one of the trusted proxies (an unreadable one is not)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def resolve(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """`forwarded_for`: every X-Forwarded-For line, in order (a proxy may append its
        own line after one the client wrote, so all of them count, right-most first)."""
        if peer is None or not self._networks or not forwarded_for or not self.trusts(peer):
            return peer
        hops = [h.strip() for line in forwarded_for for h in line.split(",") if h.strip()]
        for hop in reversed(hops):
            ip = parse_hop(hop)
            if ip is None:
                return peer  # garbage in the chain: believe only what we saw ourselves
            if not any(ip in network for network in self._networks):
                return str(ip)
        return peer
