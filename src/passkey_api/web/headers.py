"""Security headers on every response, as a pure ASGI middleware (no body buffering)."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passkey_api.web.guards import route_path

# A <script> or <style> element without attributes, and its text.
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def page_csp(html: str) -> str:
    """The CSP of a page that carries its script and style inline (the built-in page at
    /): each element is allowed by the SHA-256 of its text (a CSP Level 3 hash source), so
    nothing else inline runs and nothing is loaded from anywhere; the page fetches only
    this origin and shows images from it or data: URIs (the passkeys' provider icons)."""
    found: dict[str, list[str]] = {"script": [], "style": []}
    for tag, text in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")
        found[tag].append(f"'sha256-{digest}'")
    scripts = " ".join(found["script"]) or "'none'"
    styles = " ".join(found["style"]) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


# Any other HTML (none is served today): no script or style at all. The built-in page
# sets its own, page_csp() of its text.
_HTML_CSP = page_csp("")


# Swagger UI and ReDoc (/docs, /redoc) load their code from FastAPI's default CDN.
_DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
)
_DOCS_PATHS = ("/docs", "/redoc")


_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        is_api = path.startswith("/v1/")
        html_csp = (_DOCS_CSP if path.startswith(_DOCS_PATHS) else _HTML_CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # On the raw list, in one pass: Starlette's MutableHeaders scans the list
                # again for every header it sets.
                headers = raw_headers(message)
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _ALWAYS if h[0] not in present)
                if is_api:
                    # Options, sessions and tokens must never sit in a shared cache.
                    set_header(headers, b"cache-control", b"no-store")
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and (
                    b"content-security-policy" not in present
                ):
                    headers.append((b"content-security-policy", html_csp))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def set_header(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Set a header (`name` in lower case) on a raw list: any entries of it are replaced."""
    if any(n.lower() == name for n, _ in headers):
        headers[:] = [h for h in headers if h[0].lower() != name]
    headers.append((name, value))


def raw_headers(message: Message) -> list[tuple[bytes, bytes]]:
    """The response start message's header list, made a list if it was another sequence."""
    headers = message.get("headers")
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers or ())
    return headers
