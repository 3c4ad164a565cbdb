"""Our CORS middleware answers exactly as Starlette's, whose per-response work it redoes
on the raw header list."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from passkey_api.web.cors import Cors

ALLOWED = "https://app.example"
OPTIONS: dict[str, Any] = {
    "allow_origins": [ALLOWED, "http://localhost:5173"],
    "allow_credentials": True,
    "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
    "allow_headers": ["Content-Type", "Authorization", "X-Client-Type", "X-Request-ID"],
    "expose_headers": ["Retry-After", "X-Request-ID"],
    "max_age": 600,
}


def _app(response_headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": list(response_headers)}
        )
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def _answer(middleware: Any, method: str, headers: list[tuple[bytes, bytes]]) -> Message:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/v1/session", "headers": headers}
    await middleware(scope, receive, send)
    start = sent[0]
    return {"status": start["status"], "headers": sorted(start["headers"])}


CASES = [
    ("GET", [(b"origin", ALLOWED.encode())], []),
    ("POST", [(b"origin", ALLOWED.encode()), (b"cookie", b"a=b")], []),
    ("GET", [(b"origin", b"https://evil.example")], []),
    ("GET", [], []),
    ("GET", [(b"origin", ALLOWED.encode())], [(b"vary", b"Accept-Encoding")]),
    ("GET", [], [(b"vary", b"Cookie"), (b"vary", b"Accept")]),
    ("GET", [(b"origin", ALLOWED.encode())], [(b"access-control-allow-origin", b"x")]),
    ("GET", [(b"origin", b"null")], []),
    ("GET", [(b"origin", b"https://evil.example"), (b"origin", ALLOWED.encode())], []),
    (
        "OPTIONS",
        [(b"origin", ALLOWED.encode()), (b"access-control-request-method", b"POST")],
        [],
    ),
    (
        "OPTIONS",
        [
            (b"origin", b"https://evil.example"),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"x-other"),
        ],
        [],
    ),
    ("OPTIONS", [(b"origin", ALLOWED.encode())], []),
]


@pytest.mark.parametrize(("method", "request_headers", "response_headers"), CASES)
async def test_answers_as_starlette_does(
    method: str,
    request_headers: list[tuple[bytes, bytes]],
    response_headers: list[tuple[bytes, bytes]],
) -> None:
    ours = Cors(_app(response_headers), **OPTIONS)
    theirs = CORSMiddleware(_app(response_headers), **OPTIONS)
    assert await _answer(ours, method, request_headers) == await _answer(
        theirs, method, request_headers
    )
