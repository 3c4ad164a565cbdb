"""InternalOnly: /metrics and the API's documentation (Swagger UI, ReDoc, /openapi.json)
answered only to clients on PASSKEY_INTERNAL_NETWORKS, for a listener that faces the
public. Everyone else gets the 404 an unknown path gets, the same in every byte but the
request id, so which paths are kept internal cannot be told either. Installed only when
the setting is set, so no other deployment pays for the check."""

from __future__ import annotations

import ipaddress

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from passkey_api.kit.client_info import ClientAddresses
from passkey_api.web.guards import route_path
from passkey_api.web.problems import http_error_response


class InternalOnly:
    def __init__(
        self,
        app: ASGIApp,
        *,
        paths: set[str],
        networks: list[str],
        addresses: ClientAddresses,
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.addresses = addresses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and route_path(scope) in self.paths and not self._inside(scope):
            # What the router answers for a path it does not know.
            await http_error_response(HTTPException(404))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _inside(self, scope: Scope) -> bool:
        """The client as the audit trail sees it (PASSKEY_TRUSTED_PROXIES applied)."""
        client = scope.get("client")
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name == b"x-forwarded-for"
        ]
        address = self.addresses.resolve(client[0] if client else None, forwarded)
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)
