"""What a Redis URL makes RedisPipe send and trust, as redis-py would read the URL."""

from __future__ import annotations

import ssl

import pytest

from passkey_api.storage.redispipe import RedisPipe


def _hello(url: str) -> list[tuple[object, ...]]:
    return RedisPipe(url)._hello  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://h:6379/0", []),
        ("redis://h:6379/3", [("SELECT", 3)]),
        ("redis://:secret@h/0", [("AUTH", "secret")]),
        ("redis://app:secret@h/2", [("AUTH", "app", "secret"), ("SELECT", 2)]),
        ("redis://app@h/0", [("AUTH", "app", "")]),
    ],
)
def test_a_new_connection_authenticates_and_selects_as_the_url_says(
    url: str, expected: list[tuple[object, ...]]
) -> None:
    assert _hello(url) == expected


def test_tls_is_verified_unless_the_url_says_otherwise() -> None:
    assert RedisPipe("redis://h/0")._ssl is None
    strict = RedisPipe("rediss://h/0")._ssl
    assert strict is not None
    assert (strict.verify_mode, strict.check_hostname) == (ssl.CERT_REQUIRED, True)
    relaxed = RedisPipe("rediss://h/0?ssl_cert_reqs=none")._ssl
    assert relaxed is not None
    assert (relaxed.verify_mode, relaxed.check_hostname) == (ssl.CERT_NONE, False)
    any_name = RedisPipe("rediss://h/0?ssl_check_hostname=false")._ssl
    assert any_name is not None
    assert (any_name.verify_mode, any_name.check_hostname) == (ssl.CERT_REQUIRED, False)
