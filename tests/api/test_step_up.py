"""The step-up (sudo mode) as users expect it: a passkey ceremony that starts a session
counts as the step-up for every purpose for PASSKEY_REAUTH_WINDOW, whenever the explicit
step-up would have taken the same assertion (OpenID Connect's auth_time and max_age)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from passkey_api.kit import tokens
from tests.api.conftest import ORIGIN, Api, problem_code
from tests.api.test_recovery_codes import device, recover, user_with_codes
from tests.softauthn import SoftAuthenticator

NATIVE = {"X-Client-Type": "native"}

# A sensitive action of each purpose that can be done at once and again, without effects
# that matter here: (method, path, JSON body).
PROBES: dict[str, tuple[str, str, Any]] = {
    "passkeys": ("POST", "/v1/me/passkeys/options", {}),
    "sessions": ("DELETE", "/v1/me/sessions", None),
    "recovery": ("POST", "/v1/me/recovery-codes", None),
}


async def allowed(client: httpx.AsyncClient, purpose: str, **kwargs: Any) -> bool:
    """Whether the session may do a sensitive action of `purpose` now (False: it is asked
    to step up first)."""
    method, path, body = PROBES[purpose]
    response = await client.request(method, path, json=body, **kwargs)
    if response.status_code == 403:
        assert problem_code(response) == "reauthentication_required", response.text
        assert response.json()["purpose"] == purpose
        return False
    assert response.status_code in (200, 201), response.text
    return True


def security_key(*, user_verifying: bool) -> SoftAuthenticator:
    return SoftAuthenticator(
        user_verifying=user_verifying, transports=["usb"], attachment="cross-platform"
    )


async def test_a_passkey_sign_up_is_the_step_up_for_every_purpose(api: Api) -> None:
    """Signed up with Touch ID a moment ago: "add a security key" asks for nothing more."""
    await api.sign_up(SoftAuthenticator())
    for purpose in PROBES:
        assert await allowed(api.client, purpose), purpose
    assert (await api.add_passkey(security_key(user_verifying=True))).status_code == 201


async def test_a_passkey_sign_in_is_the_step_up_until_the_window_ends(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    assert (await api.client.delete("/v1/session")).status_code == 204
    signed_in = await api.sign_in(laptop)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["session"]["user_verified"] is True
    for purpose in PROBES:
        assert await allowed(api.client, purpose), purpose
    await api.age_sign_in()
    for purpose in PROBES:
        assert not await allowed(api.client, purpose), purpose
    # Then the explicit step-up, for one purpose only.
    assert (await api.reauthenticate(laptop, "sessions")).status_code == 200
    assert await allowed(api.client, "sessions")
    assert not await allowed(api.client, "passkeys")


async def test_a_sign_in_without_user_verification_is_no_step_up_for_a_passkey_that_verifies(
    api: Api,
) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    assert (await api.client.delete("/v1/session")).status_code == 204
    signed_in = await api.sign_in(laptop, user_verified=False)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["session"]["user_verified"] is False
    for purpose in PROBES:
        assert not await allowed(api.client, purpose), purpose


async def test_presence_is_the_step_up_for_an_account_whose_passkeys_cannot_verify(
    api: Api,
) -> None:
    """The explicit step-up takes a presence-only assertion from a key that never verified
    anyone (step_up.options: "preferred"), so a sign-in with it counts too."""
    key = security_key(user_verifying=False)
    signed_up = await api.sign_up(key)
    assert signed_up.json()["session"]["user_verified"] is False
    assert await allowed(api.client, "passkeys")
    assert (await api.client.delete("/v1/session")).status_code == 204
    signed_in = await api.sign_in(key)
    assert signed_in.status_code == 200, signed_in.text
    for purpose in PROBES:
        assert await allowed(api.client, purpose), purpose


async def test_a_recovery_session_upgraded_by_its_new_passkey_is_stepped_up(api: Api) -> None:
    """After recovering, the user reviews the other sessions and signs out a thief's:
    the passkey just added is the step-up for that."""
    username, _, codes = await user_with_codes(api)
    async with device(api) as phone:
        assert (await recover(phone, username, codes[0])).status_code == 200
        options = await phone.post("/v1/me/passkeys/options", json={})
        assert options.status_code == 200, options.text
        credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)
        added = await phone.post("/v1/me/passkeys/verify", json=credential)
        assert added.status_code == 201, added.text
        assert added.json()["recovered"]["other_sessions"]
        revoked = await phone.delete("/v1/me/sessions")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"] == 1
    assert (await api.client.get("/v1/session")).status_code == 401


async def test_the_cached_session_carries_the_sign_in_step_up(api: Api) -> None:
    if api.settings.redis_url is None:
        pytest.skip("without Redis the app keeps no sessions (sessions/cache.py)")
    signed_up = await api.sign_up(SoftAuthenticator(), headers=NATIVE)
    signed = signed_up.json()["session_token"]
    bearer = {"Authorization": f"Bearer {signed}"}
    assert (await api.client.get("/v1/session", headers=bearer)).status_code == 200
    token = tokens.unsign(api.resources.secret_key, signed)
    assert token is not None
    lookup = await api.resources.session_cache.lookup(tokens.token_hash(token))
    assert lookup.found is not None, "the session check stored no copy"
    cached, _ = lookup.found
    stored = await api.scalar("SELECT stepped_up_at FROM sessions")
    assert stored is not None
    assert cached.stepped_up_at is not None
    assert cached.stepped_up_at == cached.created_at
    assert await allowed(api.client, "passkeys", headers=bearer)


# --- a step-up issues a new token -------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _step_up(
    api: Api, authenticator: SoftAuthenticator, purpose: str, **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    """The explicit step-up's two requests: (options, verify)."""
    options = await api.client.post(
        "/v1/session/reauthenticate/options", json={"purpose": purpose}, **kwargs
    )
    assert options.status_code == 200, options.text
    credential = authenticator.get(options.json(), origin=ORIGIN)
    verified = await api.client.post("/v1/session/reauthenticate/verify", json=credential, **kwargs)
    return options, verified


async def test_a_step_up_issues_a_new_cookie_and_the_old_one_stops_working(api: Api) -> None:
    """OWASP ASVS 5.0 7.2.4: a copy of the cookie taken before the step-up does not gain it,
    nor does it work at all any more. The session stays the same one."""
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    await api.age_sign_in()
    name = api.settings.cookie_name
    old = api.client.cookies[name]
    before = await api.client.get("/v1/session")  # with Redis, the session check's copy
    assert before.status_code == 200
    _, stepped = await _step_up(api, laptop, "passkeys")
    assert stepped.status_code == 200, stepped.text
    assert stepped.json()["purpose"] == "passkeys"
    assert stepped.json()["session_token"] is None  # a browser gets the cookie
    cookies = [c for c in stepped.headers.get_list("set-cookie") if c.startswith(name + "=")]
    assert len(cookies) == 1, cookies
    new = api.client.cookies[name]
    assert new != old
    assert cookies[0].startswith(f"{name}={new};")

    async with device(api) as thief:
        thief.cookies.set(name, old)
        stale = await thief.get("/v1/session")
        assert (stale.status_code, problem_code(stale)) == (401, "not_authenticated")
        denied = await thief.post("/v1/me/passkeys/options", json={})
        assert (denied.status_code, problem_code(denied)) == (401, "not_authenticated")

    after = await api.client.get("/v1/session")
    assert after.status_code == 200, after.text
    assert after.json()["session"] == before.json()["session"]  # id, created_at, expiry
    assert await api.scalar("SELECT count(*) FROM sessions") == 1
    assert await allowed(api.client, "passkeys")
    assert not await allowed(api.client, "sessions")  # a step-up for one purpose only


async def test_a_step_up_issues_a_new_bearer_token_and_the_old_one_stops_working(
    api: Api,
) -> None:
    laptop = SoftAuthenticator()
    old = (await api.sign_up(laptop, headers=NATIVE)).json()["session_token"]
    await api.age_sign_in()
    assert (await api.client.get("/v1/session", headers=_bearer(old))).status_code == 200
    _, stepped = await _step_up(api, laptop, "sessions", headers=_bearer(old))
    assert stepped.status_code == 200, stepped.text
    assert "set-cookie" not in stepped.headers
    new = stepped.json()["session_token"]
    assert isinstance(new, str)
    assert new != old
    stale = await api.client.get("/v1/session", headers=_bearer(old))
    assert (stale.status_code, problem_code(stale)) == (401, "not_authenticated")
    stale = await api.client.delete("/v1/me/sessions", headers=_bearer(old))
    assert (stale.status_code, problem_code(stale)) == (401, "not_authenticated")
    current = await api.client.get("/v1/session", headers=_bearer(new))
    assert current.status_code == 200, current.text
    assert await allowed(api.client, "sessions", headers=_bearer(new))
    assert not await allowed(api.client, "passkeys", headers=_bearer(new))


async def test_a_step_up_that_also_slides_the_session_sets_only_the_new_cookie(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    await api.age_sign_in()
    name = api.settings.cookie_name
    old = api.client.cookies[name]
    options = await api.post("/v1/session/reauthenticate/options", {"purpose": "passkeys"})
    # Less than half of the idle lifetime left: the step-up's own request slides it.
    soon = datetime.now(UTC) + api.settings.session_lifetime / 4
    await api.execute("UPDATE sessions SET expires_at = :soon", soon=soon)
    credential = laptop.get(options.json(), origin=ORIGIN)
    stepped = await api.post("/v1/session/reauthenticate/verify", credential)
    assert stepped.status_code == 200, stepped.text
    cookies = [c for c in stepped.headers.get_list("set-cookie") if c.startswith(name + "=")]
    assert len(cookies) == 1, cookies
    assert api.client.cookies[name] != old
    session = (await api.client.get("/v1/session")).json()["session"]
    assert datetime.fromisoformat(session["expires_at"]) > soon
