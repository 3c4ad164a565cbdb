"""Abuse and hostile input: CSRF origin check, CORS, body cap, rate limits, races, logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from passkey_api.api.dependencies import CurrentSession, OptionalSession
from passkey_api.web import headers as security_headers
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.softauthn import SoftAuthenticator


def _client(api: Api, ip: str | None = None, **headers: str) -> httpx.AsyncClient:
    transport = api.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    if ip is not None:
        transport = httpx.ASGITransport(app=transport.app, client=(ip, 5000))
    return httpx.AsyncClient(transport=transport, base_url=ORIGIN, headers=headers)


# --- CSRF: the origin check ----------------------------------------------------------------


async def test_cookie_state_change_from_another_origin_is_refused(api: Api) -> None:
    await api.sign_up(SoftAuthenticator())
    cookies = dict(api.client.cookies)
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site"},
        {},
    ):
        async with _client(api, **headers) as attacker:
            attacker.cookies.update(cookies)
            response = await attacker.delete("/v1/session")
            assert (response.status_code, problem_code(response)) == (
                403,
                "origin_not_allowed",
            ), headers
            response = await attacker.patch("/v1/me", json={"display_name": "pwned"})
            assert response.status_code == 403
    # Reads are not state changes; the allowed origin and same-origin fetches pass.
    assert (await api.client.get("/v1/session")).status_code == 200
    for headers in ({"Referer": ORIGIN + "/x"}, {"Sec-Fetch-Site": "same-origin"}):
        async with _client(api, **headers) as friend:
            friend.cookies.update(cookies)
            response = await friend.patch("/v1/me", json={"display_name": "ok"})
            assert response.status_code == 200, headers


async def test_bearer_requests_are_exempt(api: Api) -> None:
    token = (await api.sign_up(SoftAuthenticator(), headers={"X-Client-Type": "native"})).json()[
        "session_token"
    ]
    async with _client(api, Authorization=f"Bearer {token}") as app:
        assert (await app.patch("/v1/me", json={"display_name": "Native"})).status_code == 200
        assert (await app.delete("/v1/session")).status_code == 204


async def test_ceremonies_without_cookie_need_no_origin(api: Api) -> None:
    async with _client(api) as native:
        response = await native.post("/v1/authentication/options", json={})
        assert response.status_code == 200


# --- CORS ------------------------------------------------------------------------------


async def test_cors_allows_only_the_configured_origins(make_api: ApiFactory) -> None:
    spa = "https://app.localhost:5173"
    api = await make_api(origins=[ORIGIN, spa])
    preflight = await api.client.options(
        "/v1/registration/options",
        headers={
            "Origin": spa,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == spa
    assert preflight.headers["access-control-allow-credentials"] == "true"
    refused = await api.client.options(
        "/v1/registration/options",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers
    simple = await api.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


# --- input limits ------------------------------------------------------------------------


async def test_body_over_the_cap_is_413(api: Api) -> None:
    huge = {"username": "x", "display_name": "y" * 70_000}
    response = await api.post("/v1/registration/options", huge)
    assert (response.status_code, problem_code(response)) == (413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1000

    response = await api.client.post(
        "/v1/authentication/options", content=chunks(), headers={"content-type": "application/json"}
    )
    assert (response.status_code, problem_code(response)) == (413, "payload_too_large")


@pytest.mark.parametrize(
    "body",
    [
        {"username": "a", "display_name": "b", "nope": 1},
        {"username": 5},
        {"username": ["a"]},
        {"username": "a", "hints": ["bluetooth"]},
        {"username": "a", "hints": ["hybrid"] * 4},
        {"username": "a", "attachment": "usb"},
        {"username": "\u0000bad"},
        {"username": "a" * 65},
    ],
)
async def test_bad_options_bodies_are_4xx_problems(api: Api, body: dict) -> None:  # type: ignore[type-arg]
    response = await api.post("/v1/registration/options", body)
    assert response.status_code == 422
    assert problem_code(response) in ("validation_error", "invalid_username")


# --- rate limits ----------------------------------------------------------------------------


async def test_ceremonies_are_limited_per_ip(make_api: ApiFactory) -> None:
    api = await make_api(rate_limits=True, rate_limit_ip="5/minute")
    ip = f"198.51.100.{secrets.randbelow(250) + 1}-{secrets.token_hex(3)}"
    async with _client(api, ip=ip) as client:
        statuses = [
            (await client.post("/v1/authentication/options", json={})).status_code for _ in range(7)
        ]
        assert statuses[:5] == [200] * 5
        last = await client.post("/v1/authentication/options", json={})
        assert (last.status_code, problem_code(last)) == (429, "rate_limited")
        assert 1 <= int(last.headers["retry-after"]) <= 60
    # Another client is not affected.
    async with _client(api, ip=ip + "-other") as other:
        assert (await other.post("/v1/authentication/options", json={})).status_code == 200


async def test_ceremonies_are_limited_per_username(make_api: ApiFactory) -> None:
    api = await make_api(rate_limits=True, rate_limit_username="3/minute")
    name = new_username()
    async with _client(api, ip=f"ip-{secrets.token_hex(4)}") as client:
        codes = []
        for n in range(5):
            spelling = name.upper() if n % 2 else name  # one account, however spelled
            response = await client.post("/v1/authentication/options", json={"username": spelling})
            codes.append(response.status_code)
        assert codes == [200, 200, 200, 429, 429]
        # Other names from the same client are not affected...
        other = await client.post("/v1/authentication/options", json={"username": name + "x"})
        assert other.status_code == 200
    # ...and the limited client cannot lock the account's owner out.
    async with _client(api, ip=f"ip-{secrets.token_hex(4)}") as owner:
        response = await owner.post("/v1/authentication/options", json={"username": name})
        assert response.status_code == 200


async def test_requests_count_whether_or_not_their_body_is_valid(make_api: ApiFactory) -> None:
    """Limits are counted before routing: a flood of malformed bodies is a flood too."""
    api = await make_api(rate_limits=True, rate_limit_ip="3/minute")
    async with _client(api, ip=f"ip-{secrets.token_hex(4)}") as client:
        for body in (b"{not json", b'{"username": 5}', b"[]"):
            response = await client.post(
                "/v1/authentication/verify",
                content=body,
                headers={"content-type": "application/json"},
            )
            assert response.status_code in (400, 422), response.text
        refused = await client.post("/v1/authentication/options", json={})
        assert (refused.status_code, problem_code(refused)) == (429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["instance"].startswith("urn:request:")


async def test_a_route_reading_the_session_twice_counts_once(make_api: ApiFactory) -> None:
    """An embedder's route may take both CurrentSession and OptionalSession: the session
    is resolved, and counted against its limit, once per request."""
    api = await make_api(rate_limits=True, rate_limit_session="4/minute")
    transport = api.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app

    @app.get("/reports")  # type: ignore[attr-defined, untyped-decorator]
    async def reports(active: CurrentSession, maybe: OptionalSession) -> dict[str, bool]:
        return {"same": maybe is active}

    await api.sign_up(SoftAuthenticator())
    answers = [await api.client.get("/reports") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert answers[0].json() == {"same": True}


async def test_sessions_are_limited(make_api: ApiFactory) -> None:
    api = await make_api(rate_limits=True, rate_limit_session="3/minute")
    await api.sign_up(SoftAuthenticator())
    statuses = [(await api.client.get("/v1/me")).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(make_api: ApiFactory) -> None:
    plain = await make_api()
    await plain.sign_up(SoftAuthenticator(), headers={"X-Forwarded-For": "192.0.2.55"})
    assert await plain.scalar("SELECT ip FROM sessions") == "203.0.113.7"

    proxied = await make_api(trusted_proxies=["203.0.113.0/24"])
    await proxied.client.delete("/v1/session")
    await proxied.sign_up(
        SoftAuthenticator(), headers={"X-Forwarded-For": "192.0.2.99, 203.0.113.9"}
    )
    assert (
        await proxied.scalar("SELECT ip FROM sessions ORDER BY created_at DESC LIMIT 1")
        == "192.0.2.99"
    )


# --- races ---------------------------------------------------------------------------------


async def test_fifty_submissions_of_one_assertion_make_one_session(api: Api) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN)
    responses = await asyncio.gather(
        *(api.post("/v1/authentication/verify", credential) for _ in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 49
    assert await api.scalar("SELECT count(*) FROM sessions") == 2


async def test_fifty_sign_ups_for_one_username_make_one_account(api: Api) -> None:
    name = new_username()
    options = await asyncio.gather(
        *(api.post("/v1/registration/options", {"username": name}) for _ in range(50))
    )
    credentials = [SoftAuthenticator().create(o.json(), origin=ORIGIN) for o in options]
    responses = await asyncio.gather(*(api.post("/v1/registration/verify", c) for c in credentials))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 49, statuses
    assert {problem_code(r) for r in responses if r.status_code == 409} == {"username_taken"}
    assert await api.scalar("SELECT count(*) FROM users") == 1
    assert await api.scalar("SELECT count(*) FROM passkeys") == 1


# --- secrets stay out of the logs -------------------------------------------------------


async def test_logs_hold_no_tokens_challenges_or_credentials(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what `passkey-api serve` runs at
    authenticator = SoftAuthenticator()
    options = (await api.post("/v1/registration/options", {"username": new_username()})).json()
    created = authenticator.create(options, origin=ORIGIN)
    signed_up = await api.post(
        "/v1/registration/verify", created, headers={"X-Client-Type": "native"}
    )
    request = await api.sign_in_options()
    asserted = authenticator.get(request, origin=ORIGIN)
    await api.post("/v1/authentication/verify", asserted)
    bad = authenticator.get(await api.sign_in_options(), origin=ORIGIN)
    bad["response"]["signature"] = bad["response"]["signature"][::-1]
    await api.post("/v1/authentication/verify", bad)
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    secrets_seen = [
        signed_up.json()["session_token"],
        signed_up.json()["session_token"].split(".")[0],
        options["challenge"],
        request["challenge"],
        created["rawId"],
        created["response"]["attestationObject"][:40],
        asserted["response"]["signature"],
        *api.client.cookies.values(),
    ]
    assert "HTTP Request" in text  # the capture did see the traffic
    leaked = [secret for secret in secrets_seen if secret in text]
    assert not leaked


# --- headers and sessions ---------------------------------------------------------------


async def test_security_headers_everywhere(api: Api) -> None:
    for path in ("/", "/healthz", "/v1/session", "/nowhere"):
        response = await api.client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer"
    page = await api.client.get("/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    for path in ("/v1/session", "/v1/authentication/options"):
        response = await api.client.request("POST" if "options" in path else "GET", path, json={})
        assert response.headers["cache-control"] == "no-store", path


async def test_the_page_runs_only_its_own_script_and_style(api: Api) -> None:
    """The built-in page's CSP allows its one inline script and style by their SHA-256,
    never 'unsafe-inline' (so no injected script or handler attribute runs); any other
    HTML gets no script at all."""
    page = await api.client.get("/")
    directives = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    for kind in ("script", "style"):
        [text] = re.findall(rf"<{kind}>(.*?)</{kind}>", page.text, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert directives[f"{kind}-src"] == f"'sha256-{digest}'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert directives["connect-src"] == "'self'"
    assert "script-src 'none'" in security_headers._HTML_CSP


async def test_tokens_in_urls_are_never_accepted(api: Api) -> None:
    token = (await api.sign_up(SoftAuthenticator(), headers={"X-Client-Type": "native"})).json()[
        "session_token"
    ]
    api.client.cookies.clear()
    for query in ({"token": token}, {"session_token": token}, {"access_token": token}):
        assert (await api.client.get("/v1/session", params=query)).status_code == 401


async def test_demotion_by_hand_acts_on_the_next_request_once_the_epoch_ends(api: Api) -> None:
    from passkey_api import cli

    name = new_username()
    await api.sign_up(SoftAuthenticator(), name)
    assert await cli._create_admin(api.settings, name) == 0
    assert (await api.client.get("/v1/admin/users")).status_code == 200
    async with api.resources.engine.begin() as connection:
        from sqlalchemy import text

        await connection.execute(text("""UPDATE users SET roles = '["user"]'"""))
    # SQL written around the service: what the operator's guide says to do next (delete
    # the epoch's key in Redis), short of waiting PASSKEY_SESSION_CACHE_TTL.
    await api.resources.session_cache.epoch.end("by hand", leave=True)
    response = await api.client.get("/v1/admin/users")
    assert (response.status_code, problem_code(response)) == (403, "forbidden")


# --- second review ---------------------------------------------------------------------


async def test_forwarded_for_lines_written_by_the_client_do_not_count(
    make_api: ApiFactory,
) -> None:
    api = await make_api(trusted_proxies=["203.0.113.0/24"])
    # The client wrote the first line; the trusted proxy appended the second.
    headers = [("X-Forwarded-For", "9.9.9.9"), ("X-Forwarded-For", "198.51.100.4")]
    options = await api.post("/v1/registration/options", {"username": new_username()})
    credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)
    response = await api.client.post("/v1/registration/verify", json=credential, headers=headers)
    assert response.status_code == 201
    assert await api.scalar("SELECT ip FROM sessions") == "198.51.100.4"
    await api.client.delete("/v1/session")
    junk = [("X-Forwarded-For", "not-an-ip, <script>")]
    await api.sign_up(SoftAuthenticator(), headers=dict(junk))
    assert (
        await api.scalar("SELECT ip FROM sessions ORDER BY created_at DESC LIMIT 1")
        == "203.0.113.7"
    )


async def test_odd_referer_and_cookies_do_not_bypass_or_break_the_origin_check(
    api: Api,
) -> None:
    await api.sign_up(SoftAuthenticator())
    session_cookie = "; ".join(f"{k}={v}" for k, v in api.client.cookies.items())
    async with _client(api) as attacker:
        for headers in (
            {"Referer": "http://[oops/", "Cookie": session_cookie},
            {"Origin": "https://evil.example", "Cookie": "a=b c; " + session_cookie},
            {"Origin": "https://evil.example", "Cookie": 'a="x; ' + session_cookie},
        ):
            response = await attacker.patch(
                "/v1/me", json={"display_name": "pwned"}, headers=headers
            )
            assert (response.status_code, problem_code(response)) == (
                403,
                "origin_not_allowed",
            ), headers
            assert response.json()["instance"].startswith("urn:request:")


async def test_cors_does_not_extend_to_related_origins(make_api: ApiFactory) -> None:
    api = await make_api(related_origins=["https://example.co.uk"])
    preflight = await api.client.options(
        "/v1/me",
        headers={"Origin": "https://example.co.uk", "Access-Control-Request-Method": "PATCH"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_junk_tokens_count_against_the_client(make_api: ApiFactory) -> None:
    api = await make_api(rate_limits=True, rate_limit_session="3/minute")
    async with _client(api, ip=f"ip-{secrets.token_hex(4)}") as client:
        statuses = [
            (
                await client.get("/v1/me", headers={"Authorization": f"Bearer {n}{'x' * 40}"})
            ).status_code
            for n in range(5)
        ]
    assert statuses == [401, 401, 401, 429, 429]


async def test_limits_and_headers_hold_when_another_app_mounts_this_one(
    make_api: ApiFactory,
) -> None:
    """Mounted under a prefix, the app's routes see the path without it: so must the
    rate limits and the API's no-store header, which are decided before routing."""
    api = await make_api(rate_limits=True, rate_limit_ip="2/minute")
    transport = api.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    parent = Starlette(routes=[Mount("/auth", app=transport.app)])
    mounted = httpx.ASGITransport(app=parent, client=(f"ip-{secrets.token_hex(4)}", 5000))
    async with httpx.AsyncClient(transport=mounted, base_url=ORIGIN) as client:
        answers = [await client.post("/auth/v1/authentication/options", json={}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["cache-control"] == "no-store"
