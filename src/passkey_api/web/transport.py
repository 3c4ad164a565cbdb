"""How a session token travels: a signed HttpOnly cookie for browsers, a bearer token for
native apps. Both carry the same signed value, checked before any database lookup."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Literal, TypedDict

from fastapi import Request, Response

from passkey_api.config import Settings
from passkey_api.kit import tokens

Via = Literal["cookie", "bearer"]


def is_native(client_type: str | None) -> bool:
    return (client_type or "").strip().lower() == "native"


def read_token(
    request: Request, settings: Settings, key: bytes
) -> tuple[str | None, Via | None, bool]:
    """The verified raw token, how it came, and whether it came as a cookie signed with a
    key the secret key replaced (to be set again, signed with the current one); or
    (None, None, False). A bearer value cannot be given back that way: the app keeps
    what it was handed at sign-in (README: Rotating the secret key)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None, None, False
        return tokens.verify(key, value.strip())[0], "bearer", False
    cookie = request.cookies.get(settings.cookie_name)
    if cookie is None:
        return None, None, False
    token, outdated = tokens.verify(key, cookie)
    return token, "cookie", outdated


class CookieOptions(TypedDict):
    path: str
    secure: bool
    httponly: bool
    samesite: Literal["lax"]


def cookie_options(settings: Settings) -> CookieOptions:
    """What every cookie of ours carries, set or cleared: the whole site, HttpOnly,
    SameSite=Lax, Secure unless PASSKEY_COOKIE_SECURE=false (plain-http development)."""
    return {"path": "/", "secure": settings.cookie_secure, "httponly": True, "samesite": "lax"}


def set_cookie(
    response: Response, settings: Settings, key: bytes, token: str, expires_at: datetime
) -> None:
    """The session cookie, written out as Starlette's Response.set_cookie() writes it with
    cookie_options() (tests/unit/test_transport.py compares the two): its http.cookies
    machinery costs more than the rest of a sign-in's answer, and the signed value is
    base64url and a dot, which need no quoting."""
    secure = "; Secure" if settings.cookie_secure else ""
    response.headers.append(
        "set-cookie",
        f"{settings.cookie_name}={tokens.sign(key, token)}; "
        f"expires={format_datetime(expires_at, usegmt=True)}; "
        f"HttpOnly; Path=/; SameSite=lax{secure}",
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    """The session cookie cleared, in place of any set on `response` before (the session
    check's, when the request slid the session or its cookie was signed again)."""
    _drop_cookie(response, settings)
    response.delete_cookie(settings.cookie_name, **cookie_options(settings))


def _drop_cookie(response: Response, settings: Settings) -> None:
    """Remove the session cookie from what `response` sets."""
    prefix = f"{settings.cookie_name}=".encode("latin-1")
    response.raw_headers[:] = [
        (name, value)
        for name, value in response.raw_headers
        if name != b"set-cookie" or not value.startswith(prefix)
    ]


def signed(key: bytes, token: str) -> str:
    """The value a native app sends as `Authorization: Bearer <value>`."""
    return tokens.sign(key, token)


def came_as_bearer(request: Request) -> bool:
    """Whether the request's session came as a bearer token (a native app), not a cookie."""
    return request.headers.get("authorization") is not None


def hand_out(
    response: Response,
    settings: Settings,
    key: bytes,
    token: str,
    expires_at: datetime,
    *,
    native: bool,
) -> str | None:
    """Give a new session token to the client: the bearer value for a native app
    (returned, to put in the body), or the cookie for a browser (set on `response`; None
    returned), in place of any cookie of ours set on it before (the session check's, for
    the token being replaced, when the request slid the session or signed it again)."""
    if native:
        return signed(key, token)
    _drop_cookie(response, settings)
    set_cookie(response, settings, key, token, expires_at)
    return None
