"""Social sign-in against real OAuth servers (tests/oauth_servers.py) on free ports: the
whole redirect flow over HTTP, redirects followed by hand, cookies carried by the client
as a browser would (the app under test is in-process; the providers are uvicorn)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from passkey_api.storage.models import Identity
from passkey_api.users import repository as users_repository
from tests import oauth_servers
from tests.api.conftest import ORIGIN, Api, ApiFactory, problem_code
from tests.api.test_disabling import Admin, assert_dead, right_after
from tests.oauth_servers import (
    CLIENT_ID,
    CLIENT_SECRET,
    GitHubFake,
    OidcProvider,
    free_port,
    provider_settings,
    serving,
)
from tests.softauthn import SoftAuthenticator

APP = f"{ORIGIN}/app/signed-in"
APP_REDIRECT = "com.example.app:/oauth"


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    with serving(provider.app) as url:
        provider.issuer = url
        provider.redirect_uris.add(f"{ORIGIN}/v1/oauth/oidc/callback")
        yield provider


@pytest.fixture(scope="session")
def github_server() -> Iterator[GitHubFake]:
    github = GitHubFake()
    with serving(github.app) as url:
        github.base_url = url
        github.redirect_uris.add(f"{ORIGIN}/v1/oauth/github/callback")
        yield github


@pytest.fixture
def oidc(oidc_server: OidcProvider) -> OidcProvider:
    oidc_server.reset()
    return oidc_server


@pytest.fixture
def github(github_server: GitHubFake) -> GitHubFake:
    github_server.reset()
    return github_server


def providers(oidc: OidcProvider, github: GitHubFake) -> dict[str, Any]:
    """The test providers, and one that is down (nothing listens there)."""
    down = {"kind": "oidc", "issuer": f"http://127.0.0.1:{free_port()}", "client_id": CLIENT_ID}
    return provider_settings(oidc, github) | {"down": down}


@pytest.fixture
async def social(make_api: ApiFactory, oidc: OidcProvider, github: GitHubFake) -> Api:
    return await make_api(
        oauth_providers=providers(oidc, github), oauth_app_redirects=[APP_REDIRECT]
    )


@pytest.fixture
async def provider_http() -> AsyncIterator[httpx.AsyncClient]:
    """The browser's view of the providers (real HTTP)."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


# --- driving the flow ------------------------------------------------------------------


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def local(url: str) -> str:
    """An absolute URL of the app under test as a path for its in-process client."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == ORIGIN, url
    return f"{parts.path}?{parts.query}"


async def to_provider(browser: httpx.AsyncClient, provider: str = "oidc", **params: str) -> str:
    """GET /authorize; returns the provider's authorization URL."""
    response = await browser.get(
        f"/v1/oauth/{provider}/authorize", params={"redirect_to": APP, **params}
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


async def at_provider(provider_http: httpx.AsyncClient, authorize_url: str) -> str:
    """The provider approves at once; returns our callback URL it sends the browser to."""
    response = await provider_http.get(authorize_url)
    assert response.status_code == 302, response.text
    return str(response.headers["location"])


async def sign_in(
    browser: httpx.AsyncClient,
    provider_http: httpx.AsyncClient,
    provider: str = "oidc",
    **params: str,
) -> httpx.Response:
    """The whole flow; returns the callback's answer (303 back to the app)."""
    callback = await at_provider(provider_http, await to_provider(browser, provider, **params))
    return await browser.get(local(callback))


def back_to_app(response: httpx.Response, target: str = APP) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = str(response.headers["location"])
    assert location.split("?")[0] == target
    return query(location)


async def another_browser(api: Api) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=api.client._transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
    )
    return client


def pkce() -> tuple[str, str]:
    """A native app's own PKCE pair: (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


async def user_count(api: Api) -> int:
    return int(await api.scalar("SELECT count(*) FROM users"))


async def audited(api: Api, event: str, code: str | None = None) -> int:
    """Audit entries outlive the test's users, so tests compare counts before and after."""
    if code is None:
        sql = "SELECT count(*) FROM audit_events WHERE event = :event AND success"
    else:
        sql = "SELECT count(*) FROM audit_events WHERE event = :event AND code = :code"
    return int(await api.scalar(sql, event=event, code=code))


# --- sign-in ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_oidc_sign_in_cookie(
    social: Api, oidc: OidcProvider, provider_http: httpx.AsyncClient, alg: str
) -> None:
    oidc.knobs.alg = alg
    oidc.knobs.user.preferred_username = "Ada.Lovelace"
    params = back_to_app(await sign_in(social.client, provider_http))
    assert params == {"signed_in": "oidc", "passkey_suggested": "true"}

    session = (await social.client.get("/v1/session")).json()
    assert session["session"]["method"] == "oauth:oidc"
    assert session["session"]["user_verified"] is False
    assert session["user"]["username"] == "Ada.Lovelace"
    assert session["user"]["display_name"] == "Test Person"
    listed = (await social.client.get("/v1/me/sessions")).json()["sessions"]
    assert [s["method"] for s in listed] == ["oauth:oidc"]
    identities = (await social.client.get("/v1/me/identities")).json()
    assert [(i["provider"], i["email"], i["email_verified"]) for i in identities["identities"]] == [
        ("oidc", oidc.knobs.user.email, True)
    ]
    assert {p["name"] for p in identities["providers"]} == {"oidc", "github", "down"}

    # The same provider account again: the same user, no second account.
    again = await another_browser(social)
    async with again:
        assert back_to_app(await sign_in(again, provider_http))["signed_in"] == "oidc"
        assert (await again.get("/v1/me")).json()["id"] == session["user"]["id"]
    assert await user_count(social) == 1
    events = (await social.client.get("/v1/me/activity")).json()["events"]
    assert sorted(e["event"] for e in events) == ["sign_in", "sign_in", "sign_up"]


async def test_username_collision_gets_suffix(
    social: Api, oidc: OidcProvider, provider_http: httpx.AsyncClient
) -> None:
    await social.sign_up(SoftAuthenticator(), "taken-name")
    social.client.cookies.clear()
    oidc.knobs.user.preferred_username = "Taken-Name"
    back_to_app(await sign_in(social.client, provider_http))
    username = (await social.client.get("/v1/me")).json()["username"]
    assert username.startswith("Taken-Name-")
    assert len(username) == len("Taken-Name-") + 4


async def _concurrent_sign_ins(
    social: Api,
    oidc: OidcProvider,
    provider_http: httpx.AsyncClient,
    users: list[oauth_servers.TestUser],
) -> list[httpx.Response]:
    """Each test user through the provider in a browser of its own, then all the
    callbacks at once."""
    browsers = [await another_browser(social) for _ in users]
    callbacks = []
    for browser, user in zip(browsers, users, strict=True):
        oidc.knobs.user = user
        callbacks.append(await at_provider(provider_http, await to_provider(browser)))
    try:
        return await asyncio.gather(
            *(b.get(local(c)) for b, c in zip(browsers, callbacks, strict=True))
        )
    finally:
        for browser in browsers:
            await browser.aclose()


async def test_concurrent_sign_ups_with_the_same_username(
    social: Api, oidc: OidcProvider, provider_http: httpx.AsyncClient
) -> None:
    """Each new account gets a free username: the race is decided by the UNIQUE
    constraint and a retry with a suffix, never a 500."""
    users = [oauth_servers.TestUser(preferred_username="same-name") for _ in range(6)]
    answers = await _concurrent_sign_ins(social, oidc, provider_http, users)
    assert [back_to_app(a).get("signed_in") for a in answers] == ["oidc"] * 6
    usernames = await social.scalar("SELECT count(DISTINCT username_key) FROM users")
    assert usernames == 6
    assert await social.scalar("SELECT count(*) FROM users WHERE username = 'same-name'") == 1


async def test_concurrent_sign_ups_with_the_same_verified_email(
    social: Api, oidc: OidcProvider, provider_http: httpx.AsyncClient
) -> None:
    """Two provider accounts vouching for one email at once make one account, not two
    that each claim it."""
    users = [oauth_servers.TestUser(email="shared@example.org") for _ in range(4)]
    answers = await _concurrent_sign_ins(social, oidc, provider_http, users)
    outcomes = sorted(back_to_app(a).get("signed_in") or back_to_app(a)["error"] for a in answers)
    assert outcomes == ["account_exists_sign_in_first"] * 3 + ["oidc"]
    assert await user_count(social) == 1


async def test_email_only_in_userinfo(
    social: Api, oidc: OidcProvider, provider_http: httpx.AsyncClient
) -> None:
    oidc.knobs.email_only_in_userinfo = True
    back_to_app(await sign_in(social.client, provider_http))
    identity = (await social.client.get("/v1/me/identities")).json()["identities"][0]
    assert (identity["email"], identity["email_verified"]) == (oidc.knobs.user.email, True)


async def test_github_sign_in(
    social: Api, github: GitHubFake, provider_http: httpx.AsyncClient
) -> None:
    params = back_to_app(await sign_in(social.client, provider_http, "github"))
    assert params == {"signed_in": "github", "passkey_suggested": "true"}
    me = (await social.client.get("/v1/session")).json()
    assert me["user"]["username"] == github.user.login
    assert me["session"]["method"] == "oauth:github"
    identity = (await social.client.get("/v1/me/identities")).json()["identities"][0]
    # The primary verified address, not the other verified one.
    assert (identity["provider"], identity["email"]) == ("github", github.user.email)


async def test_native_code_exchange(social: Api, provider_http: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    response = await sign_in(
        social.client,
        provider_http,
        mode="code",
        redirect_to=APP_REDIRECT,
        code_challenge=challenge,
    )
    params = back_to_app(response, APP_REDIRECT)
    assert set(params) == {"code"}
    assert not any("passkey_session" in c for c in response.headers.get_list("set-cookie"))
    exchanged = await social.post(
        "/v1/oauth/exchange", {"code": params["code"], "code_verifier": verifier}
    )
    assert exchanged.status_code == 200, exchanged.text
    body = exchanged.json()
    assert body["passkey_suggested"] is True
    assert body["session"]["method"] == "oauth:oidc"
    bearer = {"Authorization": f"Bearer {body['session_token']}"}
    native = await another_browser(social)
    async with native:
        assert (await native.get("/v1/session", headers=bearer)).status_code == 200
        # Our one-time code is single use.
        replay = await native.post(
            "/v1/oauth/exchange", json={"code": params["code"], "code_verifier": verifier}
        )
        assert replay.status_code == 400
        assert problem_code(replay) == "oauth_code_invalid"


async def test_native_code_bound_to_app_pkce(social: Api, provider_http: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    flow = {"mode": "code", "redirect_to": APP_REDIRECT, "code_challenge": challenge}
    code = back_to_app(await sign_in(social.client, provider_http, **flow), APP_REDIRECT)["code"]
    stolen = await social.post("/v1/oauth/exchange", {"code": code, "code_verifier": "x" * 43})
    assert problem_code(stolen) == "oauth_code_verifier_mismatch"

    code = back_to_app(await sign_in(social.client, provider_http, **flow), APP_REDIRECT)["code"]
    missing = await social.post("/v1/oauth/exchange", {"code": code})
    assert problem_code(missing) == "oauth_code_verifier_mismatch"

    code = back_to_app(await sign_in(social.client, provider_http, **flow), APP_REDIRECT)["code"]
    good = await social.post("/v1/oauth/exchange", {"code": code, "code_verifier": verifier})
    assert good.status_code == 200, good.text


async def test_code_challenge_only_with_code_mode(social: Api) -> None:
    response = await social.client.get(
        "/v1/oauth/oidc/authorize", params={"redirect_to": APP, "code_challenge": "a" * 43}
    )
    assert problem_code(response) == "validation_error"


async def test_code_mode_needs_the_apps_pkce(social: Api) -> None:
    """Without the app's own challenge, whoever reads the redirect could exchange the code."""
    response = await social.client.get(
        "/v1/oauth/oidc/authorize", params={"redirect_to": APP_REDIRECT, "mode": "code"}
    )
    assert response.status_code == 400
    assert problem_code(response) == "oauth_code_challenge_required"
    malformed = await social.client.get(
        "/v1/oauth/oidc/authorize",
        params={"redirect_to": APP_REDIRECT, "mode": "code", "code_challenge": "short"},
    )
    assert problem_code(malformed) == "validation_error"


@pytest.mark.parametrize(
    "redirect_to",
    [
        APP,  # a page on one of PASSKEY_ORIGINS: the code would sit in a web URL
        f"{APP_REDIRECT}?extra=1",  # not exactly the app's redirect
        f"{APP_REDIRECT}/more",
    ],
)
async def test_code_mode_only_to_app_redirects(social: Api, redirect_to: str) -> None:
    _, challenge = pkce()
    response = await social.client.get(
        "/v1/oauth/oidc/authorize",
        params={"redirect_to": redirect_to, "mode": "code", "code_challenge": challenge},
    )
    assert response.status_code == 400
    assert problem_code(response) == "redirect_not_allowed"


# --- refused flows ---------------------------------------------------------------------


async def test_tampered_state(social: Api, provider_http: httpx.AsyncClient) -> None:
    callback = await at_provider(provider_http, await to_provider(social.client))
    params = query(callback)
    params["state"] = params["state"][:-2] + ("AA" if params["state"][-2:] != "AA" else "BB")
    response = await social.client.get("/v1/oauth/oidc/callback", params=params)
    assert response.status_code == 400
    assert problem_code(response) == "oauth_state_invalid"
    missing = await social.client.get("/v1/oauth/oidc/callback", params={"code": "x"})
    assert problem_code(missing) == "oauth_state_invalid"
    assert await user_count(social) == 0


async def test_state_of_another_provider(social: Api, provider_http: httpx.AsyncClient) -> None:
    callback = await at_provider(provider_http, await to_provider(social.client))
    response = await social.client.get("/v1/oauth/github/callback?" + urlsplit(callback).query)
    assert problem_code(response) == "oauth_state_invalid"


async def test_replayed_callback(social: Api, provider_http: httpx.AsyncClient) -> None:
    callback = await at_provider(provider_http, await to_provider(social.client))
    back_to_app(await social.client.get(local(callback)))
    before = await audited(social, "sign_in", "oauth_state_invalid")
    replay = await social.client.get(local(callback))
    assert problem_code(replay) == "oauth_state_invalid"
    assert await audited(social, "sign_in", "oauth_state_invalid") == before + 1


async def test_replayed_provider_code(
    social: Api, oidc: OidcProvider, provider_http: httpx.AsyncClient
) -> None:
    first = await at_provider(provider_http, await to_provider(social.client))
    back_to_app(await social.client.get(local(first)))
    # A fresh flow (our state is new and valid) finished with the code already used.
    second = query(await at_provider(provider_http, await to_provider(social.client)))
    second["code"] = query(first)["code"]
    response = await social.client.get("/v1/oauth/oidc/callback", params=second)
    assert back_to_app(response) == {"error": "oauth_code_rejected"}


async def test_finished_in_another_browser(social: Api, provider_http: httpx.AsyncClient) -> None:
    """Login CSRF: a callback URL from one browser is useless in another."""
    callback = await at_provider(provider_http, await to_provider(social.client))
    victim = await another_browser(social)
    async with victim:
        response = await victim.get(local(callback))
        assert back_to_app(response) == {"error": "oauth_browser_mismatch"}
        assert (await victim.get("/v1/session")).status_code == 401
    assert await user_count(social) == 0


@pytest.mark.parametrize(
    ("knob", "value", "code"),
    [
        ("nonce", "not-the-nonce", "oauth_nonce_mismatch"),
        ("foreign_key", True, "oauth_id_token_invalid"),
        ("foreign_kid", "unknown-kid", "oauth_id_token_invalid"),
        ("expired", True, "oauth_id_token_expired"),
        ("audience", "another-client", "oauth_id_token_invalid"),
        # Also meant for another party, even with azp naming us (OIDC Core 3.1.3.7).
        ("audience", [CLIENT_ID, "another-client"], "oauth_id_token_invalid"),
        # Still valid (exp), but issued long before this flow began.
        ("issued_ago", 3600, "oauth_id_token_invalid"),
        ("issuer", "https://evil.example", "oauth_id_token_invalid"),
        ("deny", "access_denied", "oauth_denied"),
        ("deny", "server_error", "oauth_provider_error"),
    ],
)
async def test_bad_id_tokens_and_refusals(
    social: Api,
    oidc: OidcProvider,
    provider_http: httpx.AsyncClient,
    knob: str,
    value: Any,
    code: str,
) -> None:
    setattr(oidc.knobs, knob, value)
    if knob == "foreign_kid":
        oidc.knobs.foreign_key = True
    if knob == "audience" and isinstance(value, list):
        oidc.knobs.authorized_party = CLIENT_ID
    before = await audited(social, "sign_in", code)
    assert back_to_app(await sign_in(social.client, provider_http)) == {"error": code}
    assert (await social.client.get("/v1/session")).status_code == 401
    assert await user_count(social) == 0
    assert await audited(social, "sign_in", code) == before + 1


@pytest.mark.parametrize(
    "redirect_to",
    [
        "https://evil.example/after",
        "http://localhost:8000.evil.example/",
        "http://evil.example\\@localhost:8000/",
        "http://user@localhost:8000/",
        "javascript:alert(1)",
        "http://localhost:8000/#fragment",
        APP_REDIRECT,  # an app's redirect, but not in code mode
        "/relative",
    ],
)
async def test_redirect_not_allowed(social: Api, redirect_to: str) -> None:
    response = await social.client.get(
        "/v1/oauth/oidc/authorize", params={"redirect_to": redirect_to}
    )
    assert response.status_code == 400
    assert problem_code(response) == "redirect_not_allowed"


@pytest.mark.parametrize(
    "discovery",
    [
        {"id_token_signing_alg_values_supported": 5},
        {"id_token_signing_alg_values_supported": [["RS256"]]},
        {"token_endpoint_auth_methods_supported": "client_secret_basic"},
        {"userinfo_endpoint": 7},
    ],
)
async def test_malformed_discovery_document(
    social: Api, oidc: OidcProvider, discovery: dict[str, Any]
) -> None:
    oidc.knobs.discovery = discovery
    response = await social.client.get("/v1/oauth/oidc/authorize", params={"redirect_to": APP})
    assert back_to_app(response) == {"error": "oauth_provider_error"}


@pytest.mark.parametrize(
    "answer",
    [
        (b"not gzip at all", {"Content-Encoding": "gzip"}),  # undecodable
        (b'{"access_token": "' + b"a" * 1_100_000 + b'"}', {}),  # too large
        (gzip.compress(b" " * 5_000_000 + b"{}"), {"Content-Encoding": "gzip"}),  # a bomb
    ],
)
async def test_misbehaving_token_endpoint(
    social: Api,
    oidc: OidcProvider,
    provider_http: httpx.AsyncClient,
    answer: tuple[bytes, dict[str, str]],
) -> None:
    """A provider's odd answer after the state was used is a code back to the app,
    never a 500."""
    oidc.knobs.token_answer = answer
    assert back_to_app(await sign_in(social.client, provider_http)) == {
        "error": "oauth_provider_error"
    }


async def test_unknown_provider(social: Api) -> None:
    response = await social.client.get("/v1/oauth/nope/authorize", params={"redirect_to": APP})
    assert response.status_code == 404
    assert problem_code(response) == "oauth_provider_unknown"
    callback = await social.client.get("/v1/oauth/nope/callback", params={"state": "x"})
    assert problem_code(callback) == "oauth_provider_unknown"


async def test_provider_down_goes_back_with_a_code(social: Api) -> None:
    response = await social.client.get("/v1/oauth/down/authorize", params={"redirect_to": APP})
    assert back_to_app(response) == {"error": "oauth_provider_unavailable"}


async def test_disabled_account_cannot_sign_in(
    social: Api, provider_http: httpx.AsyncClient
) -> None:
    back_to_app(await sign_in(social.client, provider_http))
    await social.execute("UPDATE users SET disabled_at = :now", now=datetime.now(UTC))
    assert back_to_app(await sign_in(social.client, provider_http)) == {"error": "account_disabled"}


async def test_a_social_sign_in_racing_the_disable_makes_a_session_that_never_works(
    social: Api, provider_http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/api/test_disabling.py, for the social sign-in path."""
    admin = await Admin.of(social)
    back_to_app(await sign_in(social.client, provider_http))
    user_id = (await social.client.get("/v1/me")).json()["id"]
    assert (await social.client.delete("/v1/session")).status_code == 204
    fired = right_after(
        monkeypatch, users_repository, "get", lambda: admin.set_disabled(user_id, True)
    )
    assert "error" not in back_to_app(await sign_in(social.client, provider_http))
    assert fired
    monkeypatch.undo()
    await assert_dead(social.client)
    await admin.set_disabled(user_id, False)
    await assert_dead(social.client)
    assert await admin.sessions_of(user_id) == 0
    assert "error" not in back_to_app(await sign_in(social.client, provider_http))
    assert (await social.client.get("/v1/session")).status_code == 200


# --- the email-takeover rule and linking -----------------------------------------------


async def _passkey_user_with_oidc(
    social: Api, authenticator: SoftAuthenticator, provider_http: httpx.AsyncClient
) -> str:
    """A passkey account that links the OIDC provider account; returns its user id."""
    signed_up = await social.sign_up(authenticator)
    assert signed_up.status_code == 201, signed_up.text
    user_id = str(signed_up.json()["user"]["id"])
    await social.age_sign_in()  # past the sign-up's own step-up
    refused = await social.post("/v1/me/identities/oidc", {"redirect_to": APP})
    assert refused.status_code == 403
    assert problem_code(refused) == "reauthentication_required"
    assert refused.json()["purpose"] == "identities"
    assert (await social.reauthenticate(authenticator, "identities")).status_code == 200
    started = await social.post("/v1/me/identities/oidc", {"redirect_to": APP})
    assert started.status_code == 200, started.text
    callback = await at_provider(provider_http, started.json()["authorize_url"])
    assert back_to_app(await social.client.get(local(callback))) == {"linked": "oidc"}
    return user_id


async def test_link_then_sign_in_with_provider(
    social: Api,
    oidc: OidcProvider,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    linked = await audited(social, "identity_linked")
    user_id = await _passkey_user_with_oidc(social, authenticator, provider_http)
    assert await audited(social, "identity_linked") == linked + 1
    browser = await another_browser(social)
    async with browser:
        params = back_to_app(await sign_in(browser, provider_http))
        assert params == {"signed_in": "oidc"}  # the account has a passkey: nothing to suggest
        session = (await browser.get("/v1/session")).json()
        assert session["user"]["id"] == user_id
        assert session["session"]["method"] == "oauth:oidc"


async def test_email_takeover_refused(
    social: Api,
    oidc: OidcProvider,
    github: GitHubFake,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    github.user.email = oidc.knobs.user.email
    user_id = await _passkey_user_with_oidc(social, authenticator, provider_http)
    browser = await another_browser(social)
    async with browser:
        response = await sign_in(browser, provider_http, "github")
        assert back_to_app(response) == {"error": "account_exists_sign_in_first"}
        assert (await browser.get("/v1/session")).status_code == 401
    assert await user_count(social) == 1
    # The owner signs in with the passkey and links GitHub; then GitHub signs them in.
    assert (await social.reauthenticate(authenticator, "identities")).status_code == 200
    started = await social.post("/v1/me/identities/github", {"redirect_to": APP})
    callback = await at_provider(provider_http, started.json()["authorize_url"])
    assert back_to_app(await social.client.get(local(callback))) == {"linked": "github"}
    browser = await another_browser(social)
    async with browser:
        back_to_app(await sign_in(browser, provider_http, "github"))
        assert (await browser.get("/v1/me")).json()["id"] == user_id


async def test_recovery_address_counts_for_the_takeover_rule(
    social: Api,
    oidc: OidcProvider,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    """A passkey account's verified recovery address is as much its own as a linked
    provider's email: a social sign-in with that address does not get a new account."""
    assert (await social.sign_up(authenticator)).status_code == 201
    user_id = (await social.client.get("/v1/me")).json()["id"]
    address = oidc.knobs.user.email
    assert address is not None
    # The only account: its address as recovery/ stores one that was verified.
    await social.execute(
        "UPDATE users SET email = :email, email_verified_at = CURRENT_TIMESTAMP",
        email=address.lower(),
    )
    browser = await another_browser(social)
    async with browser:
        response = await sign_in(browser, provider_http, "oidc")
        assert back_to_app(response) == {"error": "account_exists_sign_in_first"}
    assert await user_count(social) == 1
    # An address that was never verified belongs to nobody yet.
    await social.execute("UPDATE users SET email_verified_at = NULL")
    browser = await another_browser(social)
    async with browser:
        back_to_app(await sign_in(browser, provider_http, "oidc"))
        assert (await browser.get("/v1/me")).json()["id"] != user_id
    assert await user_count(social) == 2


async def test_unverified_email_makes_a_separate_account(
    social: Api,
    oidc: OidcProvider,
    github: GitHubFake,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    github.user.email = oidc.knobs.user.email
    github.user.email_verified = False
    user_id = await _passkey_user_with_oidc(social, authenticator, provider_http)
    browser = await another_browser(social)
    async with browser:
        back_to_app(await sign_in(browser, provider_http, "github"))
        assert (await browser.get("/v1/me")).json()["id"] != user_id
    assert await user_count(social) == 2


async def test_identity_linked_to_another_account(
    social: Api,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    browser = await another_browser(social)
    async with browser:
        back_to_app(await sign_in(browser, provider_http))  # a social account of its own
    await social.sign_up(authenticator)
    assert (await social.reauthenticate(authenticator, "identities")).status_code == 200
    started = await social.post("/v1/me/identities/oidc", {"redirect_to": APP})
    callback = await at_provider(provider_http, started.json()["authorize_url"])
    assert back_to_app(await social.client.get(local(callback))) == {"error": "identity_in_use"}
    assert (await social.client.get("/v1/me/identities")).json()["identities"] == []


async def _start_link(social: Api, authenticator: SoftAuthenticator) -> str:
    """A passkey account starts linking the OIDC provider; returns the authorize URL."""
    assert (await social.sign_up(authenticator)).status_code == 201
    assert (await social.reauthenticate(authenticator, "identities")).status_code == 200
    started = await social.post("/v1/me/identities/oidc", {"redirect_to": APP})
    assert started.status_code == 200, started.text
    return str(started.json()["authorize_url"])


async def _identity_count(social: Api) -> int:
    return int(await social.scalar("SELECT count(*) FROM identities"))


async def test_link_needs_the_session_that_started_it(
    social: Api, authenticator: SoftAuthenticator, provider_http: httpx.AsyncClient
) -> None:
    """Alice starts a link and walks away; Mallory signs in on the same browser and
    finishes it with her provider account: it must not land on Alice's account."""
    authorize_url = await _start_link(social, authenticator)
    mallory = SoftAuthenticator()
    assert (await social.sign_up(mallory)).status_code == 201  # replaces the session cookie
    before = await audited(social, "identity_linked", "not_authenticated")
    callback = await at_provider(provider_http, authorize_url)
    assert back_to_app(await social.client.get(local(callback))) == {"error": "not_authenticated"}
    assert await _identity_count(social) == 0
    assert await audited(social, "identity_linked", "not_authenticated") == before + 1


async def test_link_refused_once_its_session_is_revoked(
    social: Api, authenticator: SoftAuthenticator, provider_http: httpx.AsyncClient
) -> None:
    authorize_url = await _start_link(social, authenticator)
    # Revoked elsewhere (the cookie is still in this browser, but dead).
    await social.execute("DELETE FROM sessions")
    callback = await at_provider(provider_http, authorize_url)
    assert back_to_app(await social.client.get(local(callback))) == {"error": "not_authenticated"}
    assert await _identity_count(social) == 0


async def test_sign_out_ends_pending_flows(
    social: Api, authenticator: SoftAuthenticator, provider_http: httpx.AsyncClient
) -> None:
    authorize_url = await _start_link(social, authenticator)
    signed_out = await social.client.delete("/v1/session")
    assert signed_out.status_code == 204
    cleared = [c for c in signed_out.headers.get_list("set-cookie") if "oauth" in c]
    assert cleared
    assert all("Max-Age=0" in c for c in cleared), cleared
    assert social.settings.oauth_cookie_name not in social.client.cookies
    callback = await at_provider(provider_http, authorize_url)
    assert back_to_app(await social.client.get(local(callback))) == {
        "error": "oauth_browser_mismatch"
    }
    assert await _identity_count(social) == 0


async def test_link_redirect_must_be_ours(social: Api, authenticator: SoftAuthenticator) -> None:
    await social.sign_up(authenticator)
    assert (await social.reauthenticate(authenticator, "identities")).status_code == 200
    response = await social.post("/v1/me/identities/oidc", {"redirect_to": "https://evil.example/"})
    assert problem_code(response) == "redirect_not_allowed"


async def test_unlink(
    social: Api,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    await _passkey_user_with_oidc(social, authenticator, provider_http)
    identity = (await social.client.get("/v1/me/identities")).json()["identities"][0]
    removed = await social.client.delete(f"/v1/me/identities/{identity['id']}")
    assert removed.status_code == 204, removed.text
    assert (await social.client.get("/v1/me/identities")).json()["identities"] == []
    again = await social.client.delete(f"/v1/me/identities/{identity['id']}")
    assert problem_code(again) == "not_found"


async def test_unlink_ends_the_providers_sessions(
    social: Api,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    """Whoever signed in with the provider account (maybe the reason it is unlinked)
    does not stay signed in."""
    await _passkey_user_with_oidc(social, authenticator, provider_http)
    identity = (await social.client.get("/v1/me/identities")).json()["identities"][0]
    other = await another_browser(social)
    async with other:
        back_to_app(await sign_in(other, provider_http))
        assert (await other.get("/v1/session")).status_code == 200
        revoked = await audited(social, "sessions_revoked")
        removed = await social.client.delete(f"/v1/me/identities/{identity['id']}")
        assert removed.status_code == 204, removed.text
        assert (await other.get("/v1/session")).status_code == 401
    # The passkey session that unlinked it stays.
    assert (await social.client.get("/v1/session")).status_code == 200
    assert await audited(social, "sessions_revoked") == revoked + 1
    assert await social.scalar("SELECT count(*) FROM sessions WHERE method = 'oauth:oidc'") == 0


async def test_unlink_the_provider_of_the_current_session(
    social: Api, provider_http: httpx.AsyncClient
) -> None:
    back_to_app(await sign_in(social.client, provider_http))
    started = await social.post("/v1/me/identities/github", {"redirect_to": APP})
    callback = await at_provider(provider_http, started.json()["authorize_url"])
    assert back_to_app(await social.client.get(local(callback))) == {"linked": "github"}
    oidc_identity = next(
        i
        for i in (await social.client.get("/v1/me/identities")).json()["identities"]
        if i["provider"] == "oidc"
    )
    removed = await social.client.delete(f"/v1/me/identities/{oidc_identity['id']}")
    assert removed.status_code == 204, removed.text
    assert any(
        social.settings.cookie_name in c and "Max-Age=0" in c
        for c in removed.headers.get_list("set-cookie")
    )
    assert (await social.client.get("/v1/session")).status_code == 401
    # GitHub still signs the account in.
    assert back_to_app(await sign_in(social.client, provider_http, "github")) == {
        "signed_in": "github",
        "passkey_suggested": "true",
    }


async def test_unlink_last_way_in_refused(social: Api, provider_http: httpx.AsyncClient) -> None:
    back_to_app(await sign_in(social.client, provider_http))
    identity = (await social.client.get("/v1/me/identities")).json()["identities"][0]
    response = await social.client.delete(f"/v1/me/identities/{identity['id']}")
    assert response.status_code == 409
    assert problem_code(response) == "last_sign_in_method"
    assert len((await social.client.get("/v1/me/identities")).json()["identities"]) == 1

    # With a second provider linked, one of the two may go.
    started = await social.post("/v1/me/identities/github", {"redirect_to": APP})
    assert started.status_code == 200, started.text
    callback = await at_provider(provider_http, started.json()["authorize_url"])
    assert back_to_app(await social.client.get(local(callback))) == {"linked": "github"}
    removed = await social.client.delete(f"/v1/me/identities/{identity['id']}")
    assert removed.status_code == 204


async def test_identity_of_a_removed_provider_is_no_way_in(
    social: Api, provider_http: httpx.AsyncClient
) -> None:
    """An identity whose provider is no longer configured signs nobody in: it does not
    make the last configured one removable."""
    back_to_app(await sign_in(social.client, provider_http))
    me = (await social.client.get("/v1/me")).json()
    identity = (await social.client.get("/v1/me/identities")).json()["identities"][0]
    # Linked while "retired" was configured; the operator has since removed it.
    async with social.resources.databases.session() as db:
        db.add(
            Identity(
                id=uuid.uuid4(),
                user_id=uuid.UUID(me["id"]),
                provider="retired",
                subject="old-subject",
                created_at=datetime.now(UTC),
                last_used_at=datetime.now(UTC),
            )
        )
        await db.commit()
    response = await social.client.delete(f"/v1/me/identities/{identity['id']}")
    assert response.status_code == 409
    assert problem_code(response) == "last_sign_in_method"
    listed = (await social.client.get("/v1/me/identities")).json()["identities"]
    assert sorted(i["provider"] for i in listed) == ["oidc", "retired"]

    # With a second configured provider linked, one of the two may go.
    started = await social.post("/v1/me/identities/github", {"redirect_to": APP})
    assert started.status_code == 200, started.text
    callback = await at_provider(provider_http, started.json()["authorize_url"])
    assert back_to_app(await social.client.get(local(callback))) == {"linked": "github"}
    removed = await social.client.delete(f"/v1/me/identities/{identity['id']}")
    assert removed.status_code == 204


# --- step-up ---------------------------------------------------------------------------


async def test_social_session_steps_up_only_with_the_passkey(
    social: Api,
    authenticator: SoftAuthenticator,
    provider_http: httpx.AsyncClient,
) -> None:
    await _passkey_user_with_oidc(social, authenticator, provider_http)
    browser = await another_browser(social)
    async with browser:
        back_to_app(await sign_in(browser, provider_http))
        # A brand-new social session is not a step-up on an account that has a passkey.
        for method, path in [
            ("DELETE", "/v1/me/sessions"),
            ("POST", "/v1/me/passkeys/options"),
        ]:
            response = await browser.request(method, path, json={})
            assert response.status_code == 403
            assert problem_code(response) == "reauthentication_required"
        # The passkey ceremony with user verification is the way.
        options = await browser.post(
            "/v1/session/reauthenticate/options", json={"purpose": "sessions"}
        )
        assert options.json()["userVerification"] == "required"
        credential = authenticator.get(options.json(), origin=ORIGIN)
        verified = await browser.post("/v1/session/reauthenticate/verify", json=credential)
        assert verified.status_code == 200, verified.text
        assert (await browser.delete("/v1/me/sessions")).status_code == 200


async def test_account_without_passkey(social: Api, provider_http: httpx.AsyncClient) -> None:
    back_to_app(await sign_in(social.client, provider_http))
    response = await social.client.delete("/v1/me/sessions")
    assert response.status_code == 403
    assert problem_code(response) == "passkey_required"
    # Within the window of the social sign-in, the first passkey can be added ...
    authenticator = SoftAuthenticator()
    added = await social.add_passkey(authenticator)
    assert added.status_code == 201, added.text
    assert (await social.client.get("/v1/session")).status_code == 200
    # ... and from then on the passkey ceremony is the step-up.
    response = await social.client.delete("/v1/me/sessions")
    assert problem_code(response) == "reauthentication_required"


async def test_account_without_passkey_after_the_window(
    social: Api, provider_http: httpx.AsyncClient
) -> None:
    back_to_app(await sign_in(social.client, provider_http))
    old = datetime.now(UTC) - social.settings.reauth_window - timedelta(minutes=1)
    await social.execute("UPDATE sessions SET created_at = :old", old=old)
    response = await social.post("/v1/me/passkeys/options", {})
    assert response.status_code == 403
    assert problem_code(response) == "fresh_sign_in_required"
    # A new social sign-in opens the window again.
    back_to_app(await sign_in(social.client, provider_http))
    assert (await social.post("/v1/me/passkeys/options", {})).status_code == 200


async def test_passkey_session_method(social: Api, authenticator: SoftAuthenticator) -> None:
    signed_up = await social.sign_up(authenticator)
    assert signed_up.json()["session"]["method"] == "passkey"
    assert signed_up.json()["passkey_suggested"] is False


async def test_providers_listed(social: Api) -> None:
    listed = (await social.client.get("/v1/oauth/providers")).json()["providers"]
    assert {"name": "oidc", "display_name": "Test OIDC", "kind": "oidc"} in listed


async def test_no_secrets_in_logs(
    social: Api, provider_http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # as production runs (docs/security.md)
    verifier, challenge = pkce()
    callback = await at_provider(
        provider_http,
        await to_provider(
            social.client, mode="code", redirect_to=APP_REDIRECT, code_challenge=challenge
        ),
    )
    response = await social.client.get(local(callback))
    code = back_to_app(response, APP_REDIRECT)["code"]
    exchanged = (
        await social.post("/v1/oauth/exchange", {"code": code, "code_verifier": verifier})
    ).json()
    # The test's own clients log the URLs they follow (to the provider, and the callback
    # to the app); what the service itself logs, including its calls to the provider, stays.
    logged = "\n".join(
        r.getMessage()
        for r in caplog.records
        if not (
            r.name.startswith("httpx")
            and ("/authorize?" in r.getMessage() or f"{ORIGIN}/" in r.getMessage())
        )
    )
    assert "/token" in logged  # the service's own calls are in what is checked
    secrets_seen = [
        query(callback)["state"],
        query(callback)["code"],
        code,
        exchanged["session_token"],
        CLIENT_SECRET,
    ]
    assert not [s for s in secrets_seen if s in logged]


@pytest.mark.parametrize(
    ("name", "display_name"),
    [
        ("\u202eAda\u200b  Lovelace\u2069\u200e", "Ada Lovelace"),
        ("Ada\u0000\tLovelace", "AdaLovelace"),
        ("\u200b\u2066\u202e", None),  # nothing visible left: the username stands in
        ("\uff46\uff55\uff4c\uff4c width", "full width"),
        ("é" * 40, "é" * 32),  # what authenticators keep: 64 bytes
    ],
)
async def test_provider_names_are_cleaned_not_refused(
    social: Api,
    oidc: OidcProvider,
    provider_http: httpx.AsyncClient,
    name: str,
    display_name: str | None,
) -> None:
    oidc.knobs.user.name = name
    oidc.knobs.user.preferred_username = "ada"
    assert back_to_app(await sign_in(social.client, provider_http))["signed_in"] == "oidc"
    me = (await social.client.get("/v1/me")).json()
    assert me["display_name"] == (display_name or me["username"])
