"""CORS: Starlette's middleware, with its per-response work done on the raw header list.

Starlette's CORSMiddleware parses the request's headers into a Headers object and edits
the response's through MutableHeaders, which rescans the list for every header it sets:
~75,000 instructions on every request that carries an Origin (a browser's every POST,
and every cross-origin call of an SPA). Preflights and the allow-all and regex
configurations, which this service does not use, stay Starlette's own code;
tests/unit/test_cors.py checks that both answer alike.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from passkey_api.web.headers import raw_headers

_VARY = b"vary"


class Cors(CORSMiddleware):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._simple_raw = [
            (k.lower().encode(), v.encode()) for k, v in self.simple_headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.allow_all_origins or self.allow_origin_regex:
            await super().__call__(scope, receive, send)
            return
        origin: bytes | None = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value if origin is None else origin  # the first, as Starlette's
            elif name == b"access-control-request-method":
                preflight = True
        if preflight and origin is not None and scope["method"] == "OPTIONS":
            await super().__call__(scope, receive, send)
            return
        added: list[tuple[bytes, bytes]] = []
        if origin is not None:
            added = list(self._simple_raw)
            if origin.decode("latin-1") in self.allow_origins:
                added.append((b"access-control-allow-origin", origin))
        replaced = {name for name, _ in added}

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = raw_headers(message)
                vary = [v for n, v in headers if n.lower() == _VARY]
                if vary or replaced:
                    headers[:] = [
                        h for h in headers if (n := h[0].lower()) != _VARY and n not in replaced
                    ]
                headers.extend(added)
                headers.append((_VARY, b", ".join([*vary, b"Origin"])))
            await send(message)

        await self.app(scope, receive, send_with_cors)
