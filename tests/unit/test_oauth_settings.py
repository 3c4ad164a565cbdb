"""Social sign-in settings: what PASSKEY_OAUTH_* accepts and refuses."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from passkey_api.config import Settings
from passkey_api.config.check import problems
from passkey_api.oauth.start import check_redirect
from passkey_api.users import names

GOOGLE = {"kind": "oidc", "issuer": "https://accounts.example.com", "client_id": "abc"}


def test_providers_from_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    github = {"kind": "github", "client_id": "id", "client_secret": "s3cret"}
    monkeypatch.setenv("PASSKEY_OAUTH_PROVIDERS", json.dumps({"google": GOOGLE, "github": github}))
    monkeypatch.setenv("PASSKEY_OAUTH_APP_REDIRECTS", "com.example.app:/oauth")
    settings = Settings()
    assert settings.oauth_providers["google"].scope_list == ["openid", "email", "profile"]
    assert settings.oauth_providers["github"].scope_list == ["read:user", "user:email"]
    assert "s3cret" not in repr(settings)  # a SecretStr
    assert settings.oauth_app_redirects == ["com.example.app:/oauth"]
    assert settings.oauth_redirect_uri("google") == (
        "http://localhost:8000/v1/oauth/google/callback"
    )


@pytest.mark.parametrize(
    "providers",
    [
        {"Bad Name": GOOGLE},
        {"google": {"kind": "oidc", "client_id": "abc"}},  # no issuer
        {"github": {"kind": "github", "client_id": "abc"}},  # no secret
        {"google": {**GOOGLE, "issuer": "ftp://example.com"}},
        {"google": {**GOOGLE, "unknown": 1}},
    ],
)
def test_bad_providers_refused(providers: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(oauth_providers=providers)


@pytest.mark.parametrize(
    "uri", ["javascript:alert(1)", "http://example.com/cb", "myapp:/cb", "https://x.example/#f"]
)
def test_bad_app_redirects_refused(uri: str) -> None:
    with pytest.raises(ValidationError):
        Settings(oauth_app_redirects=[uri])


def test_public_url_sets_the_redirect_uri() -> None:
    settings = Settings(public_url="https://auth.example.com/api/")
    assert settings.oauth_redirect_uri("x") == "https://auth.example.com/api/v1/oauth/x/callback"


def test_check_config_wants_https_providers() -> None:
    settings = Settings(
        oauth_providers={"google": {**GOOGLE, "issuer": "http://accounts.example.com"}}
    )
    assert any("plain http" in p and "google" in p for p in problems(settings, production=True))


def test_redirects_on_allowed_origins_only() -> None:
    settings = Settings(origins=["https://app.example.com"], rp_id="example.com")
    check_redirect(settings, "https://app.example.com:443/done?x=1", "cookie")
    for bad in ["https://app.example.com.evil.com/", "https://evil.com/?https://app.example.com"]:
        with pytest.raises(Exception, match="allowed") as info:
            check_redirect(settings, bad, "cookie")
        assert getattr(info.value, "code", None) == "redirect_not_allowed"


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("octocat", "octocat"),
        ("ada@example.org", "ada"),
        ("\uff26\uff55\uff4c\uff4c width", "Full-width"),  # full-width letters
        ("..", "user"),
        (None, "user"),
        ("a" * 80, "a" * 40),
    ],
)
def test_usernames_from_provider_hints(hint: str | None, expected: str) -> None:
    assert names.from_hint(hint) == expected
    names.normalize(names.from_hint(hint))  # always a valid username


def test_ipv6_origins_serialised_as_browsers_do() -> None:
    settings = Settings(origins=["HTTP://[0:0:0::1]:8000", "https://[::1]:443"], rp_id="::1")
    assert settings.origins == ["http://[::1]:8000", "https://[::1]"]


@pytest.mark.parametrize("origin", ["http://[::1%25eth0]", "http://[v1.x]", "http://[::1]x"])
def test_malformed_ipv6_origins_refused(origin: str) -> None:
    with pytest.raises(ValidationError):
        Settings(origins=[origin], rp_id="::1")


@pytest.mark.parametrize(
    "redirect_to",
    [
        "http://[::1]:8000/done?x=1",
        "http://[0:0:0:0:0:0:0:1]:8000/done",  # another spelling of the same address
        "HTTP://[::1]:8000",
        "https://[::1]/",
        "https://[::1]:443/done",  # the default port
    ],
)
def test_redirects_to_an_allowed_ipv6_origin(redirect_to: str) -> None:
    settings = Settings(origins=["http://[::1]:8000", "https://[::1]"], rp_id="::1")
    check_redirect(settings, redirect_to, "cookie")


@pytest.mark.parametrize(
    "redirect_to",
    [
        "http://[::2]:8000/done",  # another host
        "http://[::1]:8001/done",  # another port
        "http://[::1]/done",  # the default port is another port
        "https://[::1]:8000/done",  # another scheme
        "http://[::ffff:127.0.0.1]:8000/",
        "http://[::1%25lo]:8000/",  # a zone id
        "http://[::1]x:8000/",
        "http://[::1:8000/",
        "http://::1:8000/",
        "http://[127.0.0.1]:8000/",
    ],
)
def test_redirects_to_another_ipv6_origin_refused(redirect_to: str) -> None:
    settings = Settings(origins=["http://[::1]:8000", "https://[::1]"], rp_id="::1")
    with pytest.raises(Exception) as info:  # noqa: PT011 - the code is what matters
        check_redirect(settings, redirect_to, "cookie")
    assert getattr(info.value, "code", None) == "redirect_not_allowed"
