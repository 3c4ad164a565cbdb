"""Sign-up, sign-in and sessions through the demo page in a real Chromium, with CDP virtual
authenticators standing in for a laptop, a FIDO2 security key, a U2F-only key and a phone.

Each test drives the page's window.passkey functions (the same code its buttons run) and
asserts on the API's status codes and JSON; test_console.py clicks through the page itself.
"""

from __future__ import annotations

import base64
import os
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.harness import Tab, b64

pytestmark = pytest.mark.e2e

# The page's "use a phone or security key" option sends these hints.
OTHER_DEVICE = ["hybrid", "security-key"]
# No ceremony in these tests waits for a person: a hung one fails in seconds, not minutes.
CEREMONY = {"timeoutMs": 15_000}


def new_username(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def assert_signed_in(result: dict[str, Any], status: int, username: str) -> dict[str, Any]:
    assert result["status"] == status, result
    body: dict[str, Any] = result["body"]
    assert body["user"]["username"] == username
    assert set(body["session"]) == {
        "id",
        "created_at",
        "expires_at",
        "user_verified",
        "scope",
        "method",
    }
    assert body["session"]["scope"] == "full"
    assert body["session"]["method"] == "passkey"
    # A browser gets an HttpOnly cookie, never the token itself.
    assert body.get("session_token") is None
    return body


def assert_problem(result: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    assert result["status"] == status, result
    body: dict[str, Any] = result["body"]
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:passkey-api:problem:{code}"
    assert body["detail"]
    return body


async def wait_for_session(tab: Tab) -> dict[str, Any]:
    """Poll GET /v1/session for up to 10 s until it answers 200 (for a sign-in the page
    starts by itself)."""
    for _ in range(100):
        result = await tab.session()
        if result["status"] == 200:
            break
        await tab.page.wait_for_timeout(100)
    return result


@pytest.mark.parametrize(
    ("kind", "sign_in"),
    [
        ("internal", "discoverable"),
        ("usb", "discoverable"),
        ("hybrid", "discoverable"),
        ("u2f", "username-first"),
    ],
)
async def test_sign_up_sign_out_sign_in(tab: Tab, kind: str, sign_in: str) -> None:
    await tab.add_authenticator(kind)
    await tab.open()
    username = new_username(kind)
    # The phone is reached through the page's "use a phone or security key" option.
    options = CEREMONY | ({"hints": OTHER_DEVICE} if kind == "hybrid" else {})

    signed_up = assert_signed_in(
        await tab.call("signUp", username, "Ada Lovelace", options), 201, username
    )
    assert signed_up["user"]["display_name"] == "Ada Lovelace"
    user_id = signed_up["user"]["id"]
    held = await tab.credentials()
    assert len(held) == 1
    # resident_key "preferred": discoverable wherever the authenticator can store one.
    assert held[0]["isResidentCredential"] is (kind != "u2f")

    current = assert_signed_in(await tab.session(), 200, username)
    assert current["user"]["id"] == user_id
    assert current["session"]["id"] == signed_up["session"]["id"]
    assert current["session"]["user_verified"] is (kind != "u2f")

    assert (await tab.call("signOut"))["status"] == 204
    assert_problem(await tab.session(), 401, "not_authenticated")

    if sign_in == "discoverable":
        result = await tab.call("signIn", options)
    else:
        result = await tab.call("signInWithUsername", username, options)
    signed_in = assert_signed_in(result, 200, username)
    assert signed_in["user"]["id"] == user_id
    assert signed_in["session"]["id"] != signed_up["session"]["id"]

    current = assert_signed_in(await tab.session(), 200, username)
    assert current["session"]["id"] == signed_in["session"]["id"]
    (after,) = await tab.credentials()
    assert after["signCount"] > held[0]["signCount"]


async def test_u2f_key_cannot_sign_in_without_a_username(tab: Tab) -> None:
    await tab.add_authenticator("u2f")
    await tab.open()
    username = new_username("u2f")
    assert_signed_in(await tab.call("signUp", username, "", CEREMONY), 201, username)
    assert (await tab.call("signOut"))["status"] == 204

    # Discoverable sign-in: navigator.credentials.get() rejects, nothing reaches the server.
    result = await tab.call("signIn", {"timeoutMs": 5_000})
    assert result["status"] == 0, result
    assert result["body"]["name"] == "NotAllowedError"
    assert_problem(await tab.session(), 401, "not_authenticated")

    # Username-first still works: the service lists the key's credential.
    assert_signed_in(await tab.call("signInWithUsername", username, CEREMONY), 200, username)


async def test_session_cookie_is_httponly(tab: Tab) -> None:
    await tab.add_authenticator("internal")
    await tab.open()
    username = new_username("cookie")
    assert_signed_in(await tab.call("signUp", username, "", CEREMONY), 201, username)

    assert "passkey_session" not in await tab.page.evaluate("document.cookie")
    cookies = {cookie["name"]: cookie for cookie in await tab.context.cookies()}
    cookie = cookies["passkey_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["domain"] == "localhost"  # host-only
    assert_signed_in(await tab.session(), 200, username)

    assert (await tab.call("signOut"))["status"] == 204
    assert "passkey_session" not in {cookie["name"] for cookie in await tab.context.cookies()}


async def test_taken_username_is_refused(tab: Tab) -> None:
    await tab.add_authenticator("usb")
    await tab.open()
    username = new_username("taken")
    assert_signed_in(await tab.call("signUp", username, "", CEREMONY), 201, username)
    assert (await tab.call("signOut"))["status"] == 204

    # Someone else, with another key, wants the same name, however it is cased.
    await tab.add_authenticator("usb")
    for attempt in (username, username.upper()):
        assert_problem(await tab.call("signUp", attempt, "", CEREMONY), 409, "username_taken")
    # Refused at the options step: the authenticator was never asked to make a credential.
    assert await tab.credentials() == []
    assert_problem(await tab.session(), 401, "not_authenticated")


async def test_unknown_passkey_is_signalled_to_the_authenticator(tab: Tab) -> None:
    """A passkey the service does not know (say, its account was deleted) answers
    unknown_credential; the page passes signal_unknown_credential to
    PublicKeyCredential.signalUnknownCredential() and the authenticator forgets it."""
    await tab.add_authenticator("usb")
    key = ec.generate_private_key(ec.SECP256R1())
    credential_id = os.urandom(16)
    await tab.add_credential(
        {
            "credentialId": b64(credential_id),
            "isResidentCredential": True,
            "rpId": "localhost",
            "privateKey": b64(
                key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ),
            "userHandle": b64(os.urandom(32)),
            "signCount": 0,
            "userName": "ghost",
            "userDisplayName": "Ghost",
        }
    )
    await tab.open()
    assert await tab.page.evaluate("typeof PublicKeyCredential.signalUnknownCredential") == (
        "function"
    )

    body = assert_problem(await tab.call("signIn", CEREMONY), 400, "unknown_credential")
    assert body["signal_unknown_credential"] == {
        "rpId": "localhost",
        "credentialId": b64url(credential_id),
    }
    assert await tab.credentials() == []
    assert_problem(await tab.session(), 401, "not_authenticated")


async def test_autofill_signs_in_on_page_load(tab: Tab) -> None:
    """Conditional mediation: the page starts an autofill sign-in on load. Chromium's virtual
    environment answers it at once with the platform authenticator's passkey, as if the
    user had picked it from the username field's suggestions."""
    await tab.add_authenticator("internal")
    await tab.open()
    assert await tab.page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()")
    assert await tab.page.get_attribute("#signin-name", "autocomplete") == "username webauthn"
    username = new_username("autofill")
    signed_up = assert_signed_in(await tab.call("signUp", username, "", CEREMONY), 201, username)
    assert (await tab.call("signOut"))["status"] == 204
    assert_problem(await tab.session(), 401, "not_authenticated")

    await tab.open()
    current = assert_signed_in(await wait_for_session(tab), 200, username)
    assert current["user"]["id"] == signed_up["user"]["id"]
    assert current["session"]["id"] != signed_up["session"]["id"]
