"""Request guards that run before routing, as pure ASGI middleware (no body re-parsing):

- BodyLimitMiddleware: refuses bodies over a size (413 `payload_too_large`).
- OriginCheckMiddleware: refuses cookie-authenticated state changes from other origins
  (403 `origin_not_allowed`), the CSRF defence alongside SameSite=Lax.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passkey_api.errors import PROBLEM_CONTENT_TYPE, instance_of, problem_body

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def route_path(scope: Scope) -> str:
    """The path as the app's router matches it: without the prefix the app is mounted
    under, if another app mounts it (Starlette's own rule, which is not public API)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


async def send_problem(
    send: Send, scope: Scope, status: int, code: str, title: str, detail: str
) -> None:
    body = json.dumps(
        problem_body(
            status=status, code=code, title=title, detail=detail, instance=instance_of(scope)
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, scope)
            return
        # Read the (small) body up front, counting, so a chunked body cannot exceed the cap.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, scope)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _refuse(self, send: Send, scope: Scope) -> None:
        await send_problem(
            send,
            scope,
            413,
            "payload_too_large",
            "The request body is too large",
            f"Request bodies are limited to {self.max_bytes} bytes.",
        )


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` (already read) once more, then whatever comes next."""
    return _replay([body], None, receive)


def _replay(chunks: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if pending is not None:
            return pending
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. http.disconnect

    return replay


class OriginCheckMiddleware:
    def __init__(self, app: ASGIApp, *, origins: list[str], cookie_names: tuple[str, ...]) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.cookie_names = cookie_names
        self._encoded_names = tuple(name.encode("latin-1") for name in cookie_names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        if self.refuses(scope["headers"]):
            await send_problem(
                send,
                scope,
                403,
                "origin_not_allowed",
                "Origin not allowed",
                "Requests that change state with the session cookie must come from one of "
                "the service's allowed origins.",
            )
            return
        await self.app(scope, receive, send)

    def refuses(self, raw: list[tuple[bytes, bytes]]) -> bool:
        """Whether a state change with these request headers is a cross-site one that
        carries the session cookie. One pass over the raw headers, reading each as
        Starlette's Headers would (the first of a name; every Cookie line)."""
        authorization = origin = referer = fetch_site = None
        cookies: list[bytes] = []
        for name, value in raw:
            if name == b"cookie":
                cookies.append(value)
            elif name == b"authorization":
                authorization = value if authorization is None else authorization
            elif name == b"origin":
                origin = value if origin is None else origin
            elif name == b"referer":
                referer = value if referer is None else referer
            elif name == b"sec-fetch-site":
                fetch_site = value if fetch_site is None else fetch_site
        # A bearer token cannot be sent by another site's page: no CSRF to defend against.
        if authorization is not None and authorization[:7].lower() == b"bearer ":
            return False
        # Same-site requests pass whatever they carry, so the cookies are read only for
        # the others (a browser's own calls need no cookie parsing at all).
        if self._same_site(origin, referer, fetch_site):
            return False
        # The cookie parser runs only when one of our names is in the text at all: a
        # name the parser finds is always a substring of it.
        if not any(name in value for value in cookies for name in self._encoded_names):
            return False
        # The parser the app itself reads cookies with: whatever it would find, counts.
        # (http.cookies gives up silently on one odd cookie and would miss ours.)
        jar = cookie_parser("; ".join(value.decode("latin-1") for value in cookies))
        return any(name in jar for name in self.cookie_names)

    def _same_site(
        self, origin: bytes | None, referer: bytes | None, fetch_site: bytes | None
    ) -> bool:
        if origin is not None:
            return origin.decode("latin-1") in self.origins
        if referer:
            try:
                parts = urlsplit(referer.decode("latin-1"))
            except ValueError:
                return False
            return f"{parts.scheme}://{parts.netloc}" in self.origins
        # Browsers that send neither still say whether the request came from our own page.
        return fetch_site == b"same-origin"
