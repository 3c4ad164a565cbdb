"""Rotating the secret key (README: Rotating the secret key): what was made under key A
keeps working once the service restarts with PASSKEY_SECRET_KEY=B and
PASSKEY_SECRET_KEY_PREVIOUS=A, and is refused with B alone, where it depended on the key:
sessions, recovery codes of the old form, social sign-in flows in flight and their
one-time codes. Emailed links and decoy credential ids do not depend on it.

Each test makes its values on one app (key A), then restarts: two apps on the same
database and Redis, one with B alone and one with B and previous A. The embedded
backend's stores live in the process, so a restart would lose anything in flight whatever
the key: there the new apps take over the first one's stores, as replicas share Redis."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from passkey_api.kit import tokens
from passkey_api.recovery import codes
from passkey_api.storage.db import insert_row
from passkey_api.storage.models import RecoveryCode
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.api.test_oauth import (
    APP_REDIRECT,
    at_provider,
    back_to_app,
    local,
    pkce,
    to_provider,
)
from tests.api.test_recovery_codes import device, recover, user_with_codes
from tests.api.test_recovery_email import _mail_api, ask_for_link, link_in_mail, user_with_address
from tests.oauth_servers import CLIENT_ID, CLIENT_SECRET, OidcProvider, serving
from tests.services import SECRET_KEY
from tests.smtp import SmtpServer, smtp_server
from tests.softauthn import SoftAuthenticator, b64url_decode

KEY_A = SECRET_KEY  # what make_api signs with unless told otherwise
KEY_B = "rotated-" + secrets.token_urlsafe(32)
NATIVE = {"X-Client-Type": "native"}


async def restarted(make_api: ApiFactory, before: Api, **overrides: Any) -> Api:
    """The service restarted with other settings, on the same database and Redis; on the
    embedded backend, with the in-process stores of `before` (see the module's doc)."""
    after = await make_api(**overrides)
    if before.settings.redis_url is not None:
        return after
    transport = after.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: Any = transport.app
    app.state.resources = dataclasses.replace(
        app.state.resources, challenges=before.resources.challenges, links=before.resources.links
    )
    return dataclasses.replace(after, resources=app.state.resources)


async def rotations(make_api: ApiFactory, before: Api, **settings: Any) -> tuple[Api, Api]:
    """(key B alone, key B with A as the previous key)."""
    new_only = await restarted(make_api, before, secret_key=KEY_B, **settings)
    rotated = await restarted(
        make_api, before, secret_key=KEY_B, secret_key_previous=[KEY_A], **settings
    )
    return new_only, rotated


def browser(api: Api, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
    """A browser on the allowed origin talking to `api`, with the cookies it kept."""
    return httpx.AsyncClient(
        transport=api.client._transport,
        base_url=ORIGIN,
        headers={"Origin": ORIGIN},
        cookies=cookies,
    )


async def test_sessions_signed_before_keep_working(make_api: ApiFactory) -> None:
    before = await make_api()
    name = before.settings.cookie_name
    authenticator = SoftAuthenticator()
    assert (await before.sign_up(authenticator)).status_code == 201
    cookie = before.client.cookies[name]
    native = await before.sign_in(authenticator, headers=NATIVE)
    bearer = {"Authorization": f"Bearer {native.json()['session_token']}"}

    new_only, rotated = await rotations(make_api, before)
    for api, status in ((new_only, 401), (rotated, 200)):
        async with browser(api) as client:
            client.cookies.set(name, cookie)
            assert (await client.get("/v1/session")).status_code == status
            client.cookies.clear()
            assert (await client.get("/v1/session", headers=bearer)).status_code == status

    # Set again on its first request (here the session slides as well), signed with B.
    soon = datetime.now(UTC) + timedelta(days=1)
    await rotated.execute("UPDATE sessions SET expires_at = :soon", soon=soon)
    async with browser(rotated) as client:
        client.cookies.set(name, cookie)
        slid = await client.get("/v1/session")
        assert slid.status_code == 200
        resigned = slid.cookies[name]
    assert resigned != cookie
    assert tokens.unsign(KEY_B.encode(), resigned) == tokens.unsign(KEY_A.encode(), cookie)
    async with browser(new_only) as client:
        client.cookies.set(name, resigned)
        assert (await client.get("/v1/session")).status_code == 200


async def test_a_cookie_signed_with_the_previous_key_is_signed_again(
    make_api: ApiFactory,
) -> None:
    """Any request the cookie signs in re-issues it under the current key, slid or not, so
    that browsers stop depending on the previous key soon after the restart."""
    before = await make_api()
    name = before.settings.cookie_name
    laptop = SoftAuthenticator()
    session_id = (await before.sign_up(laptop)).json()["session"]["id"]
    assert (await before.reauthenticate(laptop, "sessions")).status_code == 200
    cookie = before.client.cookies[name]
    assert (await before.client.get("/v1/session")).cookies.get(name) is None  # A is current

    new_only, rotated = await rotations(make_api, before)
    async with browser(rotated) as client:
        client.cookies.set(name, cookie)
        session = await client.get("/v1/session")
        assert session.status_code == 200
        assert len(session.headers.get_list("set-cookie")) == 1
        resigned = session.cookies[name]
        # The same token, signed with B: verified under B alone, as the current key.
        token = tokens.unsign(KEY_A.encode(), cookie)
        assert token is not None
        assert tokens.verify(KEY_B.encode(), resigned) == (token, False)
        again = await client.get("/v1/session")
        assert (again.status_code, again.headers.get("set-cookie")) == (200, None)
    async with browser(new_only) as client:  # the previous key dropped: still signed in
        client.cookies.set(name, resigned)
        assert (await client.get("/v1/session")).status_code == 200
    # Revoking the session with the old cookie clears it, without setting it again first.
    async with browser(rotated) as client:
        client.cookies.set(name, cookie)
        revoked = await client.delete(f"/v1/me/sessions/{session_id}")
        assert revoked.status_code == 204, revoked.text
        [cleared] = [c for c in revoked.headers.get_list("set-cookie") if c.startswith(name)]
        assert "Max-Age=0" in cleared


async def _user_with_old_codes(api: Api) -> tuple[str, list[str]]:
    """A user whose codes were made before lookups: HMACs with the key `api` runs on."""
    username = new_username()
    async with browser(api) as client:
        options = await client.post("/v1/registration/options", json={"username": username})
        credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)
        assert (await client.post("/v1/registration/verify", json=credential)).status_code == 201
    user_id = uuid.UUID(
        str(await api.scalar("SELECT id FROM users WHERE username = :name", name=username))
    )
    old = ["ABCD-EFGH-JK23", "23AB-CDEF-GHJK"]
    async with api.resources.sessionmaker() as db:
        for code in old:
            digest = codes.digest(api.resources.secret_key, user_id, code)
            row = RecoveryCode(id=uuid.uuid4(), user_id=user_id, code_hash=digest, created_at=now())
            await insert_row(db, row)
        await db.commit()
    return username, old


def now() -> datetime:
    return datetime.now(UTC)


async def test_recovery_codes_made_before_keep_working(make_api: ApiFactory) -> None:
    before = await make_api()
    username, _, made = await user_with_codes(before)  # today's form: no key in them
    old_username, old = await _user_with_old_codes(before)

    new_only, rotated = await rotations(make_api, before)
    async with device(new_only) as client:
        assert (await recover(client, username, made[0])).status_code == 200
        refused = await recover(client, old_username, old[0])
        assert (refused.status_code, problem_code(refused)) == (400, "recovery_failed")
    async with device(rotated) as client:
        assert (await recover(client, username, made[1])).status_code == 200
        assert (await recover(client, old_username, old[0])).status_code == 200
        used = await recover(client, old_username, old[0])
        assert (used.status_code, problem_code(used)) == (400, "recovery_failed")


@pytest.fixture(scope="module")
async def smtp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


async def test_emailed_links_do_not_depend_on_the_key(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    """A link's token is random and stored as its SHA-256, with no key: a link mailed
    before the rotation opens the account after it, even with B alone."""
    before = await _mail_api(make_api, smtp)
    _, address, _ = await user_with_address(before, smtp)  # one message: the verification
    async with device(before) as client:
        assert (await ask_for_link(client, address)).status_code == 202
    _, token = await link_in_mail(smtp, address, 2)

    new_only = await restarted(
        make_api,
        before,
        secret_key=KEY_B,
        **{k: getattr(before.settings, k) for k in ("smtp_host", "smtp_port", "smtp_from")},
        smtp_starttls=False,
        recovery_url=before.settings.recovery_url,
    )
    async with device(new_only) as client:
        opened = await client.post("/v1/recovery/email/verify", json={"token": token})
        assert opened.status_code == 200, opened.text
        assert opened.json()["session"]["scope"] == "recovery"


@pytest.fixture(scope="module")
def oidc() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    with serving(provider.app) as url:
        provider.issuer = url
        provider.redirect_uris.add(f"{ORIGIN}/v1/oauth/oidc/callback")
        yield provider


def _social(oidc: OidcProvider) -> dict[str, Any]:
    provider = {
        "kind": "oidc",
        "issuer": oidc.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    return {"oauth_providers": {"oidc": provider}, "oauth_app_redirects": [APP_REDIRECT]}


async def test_social_sign_ins_in_flight_finish(make_api: ApiFactory, oidc: OidcProvider) -> None:
    """A browser at the provider when the key changes comes back and is signed in; a
    native app's one-time code made before is still exchanged."""
    oidc.reset()
    before = await make_api(**_social(oidc))
    async with httpx.AsyncClient(timeout=10) as provider_http, browser(before) as app:
        # A browser flow, at the provider: its state was remembered under A.
        callback = local(await at_provider(provider_http, await to_provider(before.client)))
        # A native app's flow, back from the provider with its one-time code, made under A.
        verifier, challenge = pkce()
        native = {"mode": "code", "redirect_to": APP_REDIRECT, "code_challenge": challenge}
        native_callback = await at_provider(provider_http, await to_provider(app, **native))
        code = back_to_app(await app.get(local(native_callback)), APP_REDIRECT)["code"]
    exchange = {"code": code, "code_verifier": verifier}

    new_only, rotated = await rotations(make_api, before, **_social(oidc))
    # B alone finds neither (and takes neither: they are under A's keys).
    async with browser(new_only, before.client.cookies) as client:
        refused = await client.get(callback)
        assert problem_code(refused) == "oauth_state_invalid"
    refused = await new_only.post("/v1/oauth/exchange", exchange)
    assert (refused.status_code, problem_code(refused)) == (400, "oauth_code_invalid")
    # With A as the previous key, both finish.
    async with browser(rotated, before.client.cookies) as client:
        assert back_to_app(await client.get(callback))["signed_in"] == "oidc"
        assert (await client.get("/v1/session")).status_code == 200
    exchanged = await rotated.post("/v1/oauth/exchange", exchange)
    assert exchanged.status_code == 200, exchanged.text
    bearer = {"Authorization": f"Bearer {exchanged.json()['session_token']}"}
    assert (await rotated.client.get("/v1/session", headers=bearer)).status_code == 200


async def test_decoys_do_not_change_with_the_key(make_api: ApiFactory) -> None:
    """A real account's credentials stay what they were across a rotation, and so must an
    unknown name's decoy: it is keyed with the database's decoy seed, not the secret key.
    Otherwise polling names across the rotation tells which exist, and once the previous
    key is dropped a decoy kept from before answers as an unknown credential."""
    before = await make_api()
    mallory, alice = SoftAuthenticator(), SoftAuthenticator()
    assert (await before.sign_up(mallory)).status_code == 201
    known = new_username()
    assert (await before.sign_up(alice, known)).status_code == 201
    before.client.cookies.clear()
    names = [known, *("nobody-" + new_username() for _ in range(3))]
    listed = [(await before.sign_in_options(name))["allowCredentials"] for name in names]

    new_only, rotated = await rotations(make_api, before)
    for api in (new_only, rotated):
        assert [(await api.sign_in_options(name))["allowCredentials"] for name in names] == listed
    # Shown again in a discoverable sign-in, with B alone too: a registered credential
    # with a bad signature (not an unknown one), as the real account's is.
    for api in (new_only, rotated):
        for allowed in listed:
            forged = mallory.get(await api.sign_in_options(), origin=ORIGIN)
            forged["id"] = forged["rawId"] = allowed[0]["id"]
            response = await api.post("/v1/authentication/verify", forged)
            assert (response.status_code, problem_code(response)) == (400, "invalid_credential")
    # Nor can one be registered.
    options = await new_only.post("/v1/registration/options", {"username": new_username()})
    credential = SoftAuthenticator().create(
        options.json(), origin=ORIGIN, credential_id=b64url_decode(listed[1][0]["id"])
    )
    response = await new_only.post("/v1/registration/verify", credential)
    assert (response.status_code, problem_code(response)) == (409, "credential_exists")
