"""Account management in a real Chromium: the passkey list, the step-up (re-authentication)
that sensitive actions need, adding a security key, removing a passkey and telling the
browser (Signal API), and revoking another device's session.

Every ceremony runs through navigator.credentials in the demo page, the way a single-page
app calls these routes: fetch, PublicKeyCredential.parseCreationOptionsFromJSON() /
parseRequestOptionsFromJSON(), then credential.toJSON() (see ACCOUNT_JS).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.e2e.harness import ARTIFACTS, AUTHENTICATORS, Server, Tab, open_tab
from tests.e2e.test_browser_passkeys import (
    CEREMONY,
    assert_problem,
    assert_signed_in,
    b64url,
    new_username,
)

pytestmark = pytest.mark.e2e

ADD_PASSKEY = "/v1/me/passkeys"  # POST <prefix>/options, then POST <prefix>/verify
REAUTHENTICATE = "/v1/session/reauthenticate"
# What an account page sends for "add a security key".
SECURITY_KEY = {"attachment": "cross-platform", "hints": ["security-key"]}

# One function for every call from the page. Without `ceremony` it is a plain fetch;
# with "create" or "get" it runs <path>/options -> navigator.credentials -> <path>/verify
# and also returns the options the server sent. Errors in the browser come back as
# status 0 with the DOMException's name, like the page's own window.passkey functions.
ACCOUNT_JS = """
async ({method, path, body, ceremony, timeoutMs}) => {
  const api = async (method, path, body) => {
    const init = {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
    };
    if (body !== null && body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    const text = await response.text();
    return {status: response.status, body: text ? JSON.parse(text) : null};
  };
  if (!ceremony) return api(method, path, body);
  const options = await api("POST", path + "/options", body);
  if (options.status !== 200) return {...options, options: null};
  let credential;
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    credential = ceremony === "create"
      ? await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.body), signal})
      : await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body), signal});
  } catch (error) {
    return {status: 0, body: {name: error.name, detail: error.message}, options: options.body};
  }
  const verified = await api("POST", path + "/verify", credential.toJSON());
  return {...verified, options: options.body};
}
"""

# PublicKeyCredential.signal*(payload), when the browser has it: {supported: bool}.
SIGNAL_JS = """
async ({name, payload}) => {
  if (typeof PublicKeyCredential[name] !== "function") return {supported: false};
  await PublicKeyCredential[name](payload);
  return {supported: true};
}
"""


# --- talking to the API from the page ---------------------------------------------------


async def _run(tab: Tab, **request: Any) -> dict[str, Any]:
    args = {"method": "GET", "body": None, "ceremony": None} | request
    result = await tab.page.evaluate(ACCOUNT_JS, args | {"timeoutMs": CEREMONY["timeoutMs"]})
    assert isinstance(result, dict), result
    return result


async def api(tab: Tab, method: str, path: str, body: Any = None) -> dict[str, Any]:
    return await _run(tab, method=method, path=path, body=body)


async def create(tab: Tab, prefix: str, body: dict[str, Any]) -> dict[str, Any]:
    return await _run(tab, path=prefix, body=body, ceremony="create")


async def get(tab: Tab, prefix: str, body: dict[str, Any]) -> dict[str, Any]:
    return await _run(tab, path=prefix, body=body, ceremony="get")


async def passkeys(tab: Tab) -> dict[str, Any]:
    result = await api(tab, "GET", "/v1/me/passkeys")
    assert result["status"] == 200, result
    body: dict[str, Any] = result["body"]
    return body


async def step_up(tab: Tab, purpose: str, allowed: set[str]) -> dict[str, Any]:
    """Re-authenticate for `purpose` with whichever authenticator the browser holds."""
    result = await get(tab, REAUTHENTICATE, {"purpose": purpose})
    assert result["status"] == 200, result
    options = result["options"]
    assert options["userVerification"] == "required"
    assert {c["id"] for c in options["allowCredentials"]} == allowed
    body: dict[str, Any] = result["body"]
    assert body["purpose"] == purpose
    assert body["valid_until"]
    assert body["session_token"] is None  # a browser gets the new token as a cookie
    return body


async def session_cookie(tab: Tab) -> str:
    return {c["name"]: c["value"] for c in await tab.context.cookies()}["passkey_session"]


def assert_needs_step_up(result: dict[str, Any], purpose: str) -> None:
    assert assert_problem(result, 403, "reauthentication_required")["purpose"] == purpose


# --- authenticators beyond the Tab's own one --------------------------------------------


def credential_id(credential: dict[str, Any]) -> str:
    """CDP's standard base64 credential id as the API's base64url."""
    return b64url(base64.b64decode(credential["credentialId"]))


async def plug(tab: Tab, kind: str) -> str:
    """One more virtual authenticator next to the Tab's (which stays plugged in)."""
    answer = await tab.cdp.send(
        "WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATORS[kind]}
    )
    return str(answer["authenticatorId"])


async def unplug(tab: Tab, authenticator_id: str) -> None:
    await tab.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator_id})


async def held(tab: Tab, authenticator_id: str) -> list[dict[str, Any]]:
    answer = await tab.cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    return list(answer["credentials"])


async def set_presence(tab: Tab, authenticator_id: str, *, enabled: bool) -> None:
    """Whether the authenticator answers at once; without it, it waits for a touch that
    never comes, so another authenticator answers the ceremony."""
    await tab.cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation",
        {"authenticatorId": authenticator_id, "enabled": enabled},
    )


@pytest.fixture
async def other_tab(server: Server, browser: Browser) -> AsyncIterator[Tab]:
    """A second device: its own browser context (cookies) and virtual authenticators."""
    async with open_tab(server, browser) as tab:
        yield tab


async def laptop_user_with_security_key(tab: Tab) -> tuple[str, str, str, str]:
    """A user signed up on the laptop's platform authenticator (tab.authenticator_id) who
    then added a USB security key, plugged in next to it (cross-platform attachment: only
    the key may answer). Returns (username, laptop passkey id, key passkey id, the key's
    authenticator id)."""
    laptop_authenticator = await tab.add_authenticator("internal")
    await tab.open()
    username = new_username("laptop")
    assert_signed_in(await tab.call("signUp", username, "", CEREMONY), 201, username)
    (laptop,) = await held(tab, laptop_authenticator)
    key_authenticator = await plug(tab, "usb")
    added = await create(tab, ADD_PASSKEY, SECURITY_KEY)
    assert added["status"] == 201, added
    (key,) = await held(tab, key_authenticator)
    assert added["body"]["id"] == credential_id(key)
    assert await held(tab, laptop_authenticator) == [laptop]  # not used to create
    return username, credential_id(laptop), credential_id(key), key_authenticator


# --- the tests --------------------------------------------------------------------------


async def test_add_a_security_key_then_sign_in_with_it(tab: Tab) -> None:
    """The issue's scenario: sign up on a laptop, add a USB security key (no second
    prompt: the sign-up's user verification is the step-up), then sign in with the key
    alone (the laptop's authenticator gone from the browser)."""
    await tab.add_authenticator("internal")
    await tab.open()
    username = new_username("laptop")
    signed_up = assert_signed_in(
        await tab.call("signUp", username, "Ada Lovelace", CEREMONY), 201, username
    )
    (laptop_credential,) = await tab.credentials()

    listed = await passkeys(tab)
    (laptop,) = listed["passkeys"]
    assert laptop["id"] == credential_id(laptop_credential)
    assert "internal" in laptop["transports"]
    assert laptop["device_type"] == "single_device"
    assert laptop["provider"]["name"]
    assert listed["recovery_risk"] is True  # one device-bound passkey: add another
    accepted = listed["signals"]["all_accepted_credentials"]
    assert accepted["rpId"] == "localhost"
    assert accepted["allAcceptedCredentialIds"] == [laptop["id"]]

    # Adding a passkey is sensitive, but the user verified with the laptop a moment ago,
    # signing up: that is the step-up, so the laptop is not asked again. It goes away; the
    # USB key is the only one left to answer.
    await tab.add_authenticator("usb")
    added = await create(tab, ADD_PASSKEY, SECURITY_KEY)
    assert added["status"] == 201, added
    options = added["options"]
    assert [c["id"] for c in options["excludeCredentials"]] == [laptop["id"]]
    assert options["authenticatorSelection"]["authenticatorAttachment"] == "cross-platform"
    assert options["hints"] == ["security-key"]
    assert options["user"]["name"] == username
    key = added["body"]
    (key_credential,) = await tab.credentials()
    assert key["id"] == credential_id(key_credential)
    assert "usb" in key["transports"]
    assert key["device_type"] == "single_device"

    listed = await passkeys(tab)
    by_id = {p["id"]: p for p in listed["passkeys"]}
    assert set(by_id) == {laptop["id"], key["id"]}
    assert "usb" in by_id[key["id"]]["transports"]
    assert "internal" in by_id[laptop["id"]]["transports"]
    assert set(listed["signals"]["all_accepted_credentials"]["allAcceptedCredentialIds"]) == set(
        by_id
    )

    assert (await tab.call("signOut"))["status"] == 204
    assert_problem(await tab.session(), 401, "not_authenticated")

    # Username first, as for any security key: the service lists both passkeys and the
    # browser, which holds only the key, signs with it.
    signed_in = assert_signed_in(
        await tab.call("signInWithUsername", username, CEREMONY), 200, username
    )
    assert signed_in["user"]["id"] == signed_up["user"]["id"]
    assert signed_in["session"]["id"] != signed_up["session"]["id"]
    current = assert_signed_in(await tab.session(), 200, username)
    assert current["session"]["id"] == signed_in["session"]["id"]
    assert current["session"]["user_verified"] is True
    (used,) = await tab.credentials()
    assert used["signCount"] > key_credential["signCount"]
    used_at = {p["id"]: p["last_used_at"] for p in (await passkeys(tab))["passkeys"]}
    assert used_at[key["id"]] is not None

    shots = ARTIFACTS / tab.server.backend
    shots.mkdir(parents=True, exist_ok=True)
    await tab.page.set_viewport_size({"width": 960, "height": 860})
    await tab.open()
    await tab.page.wait_for_function("() => document.body.dataset.view === 'account'")
    await tab.page.screenshot(path=shots / "06-added-security-key.png", full_page=True)


async def test_removed_passkey_is_signalled_to_the_browser(tab: Tab) -> None:
    """Remove the laptop's passkey from the account (after a step-up with the security
    key), then pass GET /v1/me/signals to signalAllAcceptedCredentials(): the laptop's
    authenticator forgets the passkey the service no longer accepts."""
    username, laptop_id, key_id, key_authenticator = await laptop_user_with_security_key(tab)
    laptop_authenticator = tab.authenticator_id
    assert laptop_authenticator is not None

    # A fresh session, signed in with the key: the laptop does not answer this time.
    assert (await tab.call("signOut"))["status"] == 204
    await set_presence(tab, laptop_authenticator, enabled=False)
    assert_signed_in(await tab.call("signInWithUsername", username, CEREMONY), 200, username)
    await tab.server.age_sign_in()  # that sign-in's own step-up is over
    assert_needs_step_up(await api(tab, "DELETE", f"/v1/me/passkeys/{laptop_id}"), "passkeys")
    (key_before,) = await held(tab, key_authenticator)
    before = await tab.session()
    old_cookie = await session_cookie(tab)
    await step_up(tab, "passkeys", {laptop_id, key_id})
    (key_after,) = await held(tab, key_authenticator)
    assert key_after["signCount"] > key_before["signCount"]  # the key confirmed it
    await set_presence(tab, laptop_authenticator, enabled=True)
    # The same session under a new token: the browser took the new cookie by itself.
    assert await session_cookie(tab) != old_cookie
    assert (await tab.session())["body"]["session"] == before["body"]["session"]

    removed = await api(tab, "DELETE", f"/v1/me/passkeys/{laptop_id}")
    assert removed["status"] == 204, removed
    assert_problem(await api(tab, "DELETE", f"/v1/me/passkeys/{laptop_id}"), 404, "not_found")
    listed = await passkeys(tab)
    assert [p["id"] for p in listed["passkeys"]] == [key_id]
    assert_problem(await api(tab, "DELETE", f"/v1/me/passkeys/{key_id}"), 409, "last_passkey")

    signals = await api(tab, "GET", "/v1/me/signals")
    assert signals["status"] == 200, signals
    accepted = signals["body"]["all_accepted_credentials"]
    assert accepted["rpId"] == "localhost"
    assert accepted["allAcceptedCredentialIds"] == [key_id]
    assert signals["body"]["current_user_details"]["name"] == username
    # The laptop still offers the removed passkey until the browser is told.
    assert [credential_id(c) for c in await held(tab, laptop_authenticator)] == [laptop_id]

    result = await tab.page.evaluate(
        SIGNAL_JS, {"name": "signalAllAcceptedCredentials", "payload": accepted}
    )
    assert result == {"supported": True}  # Chromium has the Signal API
    assert await held(tab, laptop_authenticator) == []
    assert [credential_id(c) for c in await held(tab, key_authenticator)] == [key_id]


async def test_revoke_another_devices_session(tab: Tab, other_tab: Tab) -> None:
    """Two devices of one user: the laptop lists the sessions, steps up for "sessions" and
    revokes the other device's, whose very next request is refused."""
    username, laptop_id, key_id, key_authenticator = await laptop_user_with_security_key(tab)
    laptop = assert_signed_in(await tab.session(), 200, username)

    # The security key moves to the other computer (its credential goes with it).
    (key,) = await held(tab, key_authenticator)
    await unplug(tab, key_authenticator)
    await other_tab.add_authenticator("usb")
    await other_tab.add_credential(key)
    await other_tab.open()
    other = assert_signed_in(
        await other_tab.call("signInWithUsername", username, CEREMONY), 200, username
    )
    assert other["session"]["id"] != laptop["session"]["id"]

    listed = await api(tab, "GET", "/v1/me/sessions")
    assert listed["status"] == 200, listed
    sessions = {s["id"]: s for s in listed["body"]["sessions"]}
    assert set(sessions) == {laptop["session"]["id"], other["session"]["id"]}
    assert sessions[laptop["session"]["id"]]["current"] is True
    assert sessions[other["session"]["id"]]["current"] is False
    assert "Chrome" in (sessions[other["session"]["id"]]["user_agent"] or "")

    revoke = f"/v1/me/sessions/{other['session']['id']}"
    await tab.server.age_sign_in()  # the sign-up's own step-up is over
    assert_needs_step_up(await api(tab, "DELETE", revoke), "sessions")
    await step_up(tab, "sessions", {laptop_id, key_id})  # with the laptop, the key is away
    revoked = await api(tab, "DELETE", revoke)
    assert revoked["status"] == 204, revoked

    assert_problem(await other_tab.session(), 401, "not_authenticated")
    assert_signed_in(await tab.session(), 200, username)
    listed = await api(tab, "GET", "/v1/me/sessions")
    assert [s["id"] for s in listed["body"]["sessions"]] == [laptop["session"]["id"]]
    assert_problem(await api(tab, "DELETE", revoke), 404, "not_found")
