"""The cookie that binds a social sign-in flow to the browser that started it.

Without it, whoever holds a callback URL (state + code) could finish the sign-in in
another browser: an attacker could sign a victim into the attacker's account (login CSRF).
SameSite=Lax, because the callback arrives as a top-level navigation from the provider.
"""

from __future__ import annotations

from fastapi import Request, Response

from passkey_api.config import Settings
from passkey_api.web.transport import cookie_options


def read(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(settings.oauth_cookie_name)


def set_cookie(response: Response, settings: Settings, binding: str) -> None:
    response.set_cookie(
        settings.oauth_cookie_name,
        binding,
        max_age=int(settings.oauth_flow_ttl.total_seconds()),
        **cookie_options(settings),
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    """On sign-out: the flows this browser started cannot be finished any more."""
    response.delete_cookie(settings.oauth_cookie_name, **cookie_options(settings))
