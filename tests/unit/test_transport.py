"""The session cookie written by hand is the cookie Starlette would write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import Response

from passkey_api.config import Settings
from passkey_api.kit import tokens
from passkey_api.web import transport

KEY = b"k" * 32


@pytest.mark.parametrize("secure", [True, False])
def test_the_session_cookie_is_what_starlette_writes(secure: bool) -> None:
    settings = Settings(secret_key="s" * 40, cookie_secure=secure)
    token, expires = tokens.new_token(), datetime(2026, 12, 4, 16, 0, 5, 123, tzinfo=UTC)
    ours, theirs = Response(), Response()
    transport.set_cookie(ours, settings, KEY, token, expires)
    theirs.set_cookie(
        settings.cookie_name,
        tokens.sign(KEY, token),
        expires=expires,
        **transport.cookie_options(settings),
    )
    assert ours.headers.getlist("set-cookie") == theirs.headers.getlist("set-cookie")
    assert settings.cookie_name.startswith("__Host-") == secure
