"""/v1/me/passkeys and /v1/me: list, add, rename, remove, signals, recovery risk."""

from __future__ import annotations

import pytest

from tests.api.conftest import ORIGIN, Api, new_username, problem_code
from tests.softauthn import SoftAuthenticator, b64url, b64url_decode

GOOGLE_PM = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")


async def test_list_shows_provider_and_device_type(api: Api) -> None:
    synced = SoftAuthenticator(aaguid=GOOGLE_PM, backup_eligible=True, backup_state=True)
    response = await api.sign_up(synced, "gina")
    assert response.status_code == 201
    signals = response.json()["signals"]
    listing = (await api.client.get("/v1/me/passkeys")).json()
    [passkey] = listing["passkeys"]
    assert passkey["name"] == "Google Password Manager"
    assert passkey["provider"]["name"] == "Google Password Manager"
    assert passkey["provider"]["icon_light"].startswith("data:image/svg+xml;base64,")
    assert passkey["device_type"] == "multi_device"
    assert passkey["backup_eligible"] is True
    assert passkey["backup_state"] is True
    assert passkey["discoverable"] is True
    assert passkey["transports"] == ["internal"]
    assert passkey["last_used_at"] is None
    assert b64url_decode(passkey["id"]) == next(iter(synced.credentials))
    assert listing["recovery_risk"] is False
    assert listing["signals"] == signals
    accepted = signals["all_accepted_credentials"]
    assert accepted["rpId"] == "localhost"
    assert accepted["allAcceptedCredentialIds"] == [passkey["id"]]
    details = signals["current_user_details"]
    assert details == {
        "rpId": "localhost",
        "userId": accepted["userId"],
        "name": "gina",
        "displayName": "gina",
    }


async def test_unknown_aaguid_falls_back_to_transports(api: Api) -> None:
    key = SoftAuthenticator(transports=["usb"], attachment="cross-platform")
    await api.sign_up(key)
    listing = (await api.client.get("/v1/me/passkeys")).json()
    assert listing["passkeys"][0]["name"].startswith("Security key, ")  # and the day
    assert listing["passkeys"][0]["provider"]["name"] == "Security key"
    assert listing["passkeys"][0]["provider"]["icon_light"] is None
    assert listing["recovery_risk"] is True  # the only passkey is device-bound


async def test_adding_needs_a_fresh_step_up(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    await api.age_sign_in()  # past the sign-up's own step-up
    denied = await api.post("/v1/me/passkeys/options", {})
    assert (denied.status_code, problem_code(denied)) == (403, "reauthentication_required")
    assert denied.json()["purpose"] == "passkeys"

    stepped = await api.reauthenticate(laptop, "passkeys")
    assert stepped.status_code == 200, stepped.text
    assert stepped.json()["purpose"] == "passkeys"
    assert await api.scalar("SELECT count(*) FROM sessions") == 1  # no new session

    key = SoftAuthenticator(transports=["usb", "nfc"], attachment="cross-platform")
    options = (
        await api.post(
            "/v1/me/passkeys/options", {"attachment": "cross-platform", "hints": ["security-key"]}
        )
    ).json()
    assert [b64url_decode(c["id"]) for c in options["excludeCredentials"]] == list(
        laptop.credentials
    )
    assert options["excludeCredentials"][0]["transports"] == ["internal"]
    assert options["hints"] == ["security-key"]
    assert options["authenticatorSelection"]["authenticatorAttachment"] == "cross-platform"
    # The laptop's authenticator refuses to register twice, like a browser.
    with pytest.raises(ValueError, match="InvalidStateError"):
        laptop.create(options, origin=ORIGIN)
    added = await api.post("/v1/me/passkeys/verify", key.create(options, origin=ORIGIN))
    assert added.status_code == 201, added.text
    assert added.json()["name"].startswith("Security key, ")
    assert added.json()["transports"] == ["nfc", "usb"]
    assert await api.scalar("SELECT count(*) FROM passkeys") == 2
    assert await api.scalar("SELECT count(*) FROM users") == 1


async def test_step_up_for_one_purpose_does_not_open_another(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    await api.age_sign_in()  # past the sign-up's own step-up
    assert (await api.reauthenticate(laptop, "sessions")).status_code == 200
    denied = await api.post("/v1/me/passkeys/options", {})
    assert problem_code(denied) == "reauthentication_required"


async def test_step_up_expires(make_api) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    api = await make_api(reauth_window=timedelta(seconds=0))
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    assert (await api.reauthenticate(laptop, "passkeys")).status_code == 200
    denied = await api.post("/v1/me/passkeys/options", {})
    assert (denied.status_code, problem_code(denied)) == (403, "reauthentication_required")


async def test_step_up_needs_user_verification(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    options = (await api.post("/v1/session/reauthenticate/options", {"purpose": "passkeys"})).json()
    assert options["userVerification"] == "required"
    credential = laptop.get(options, origin=ORIGIN, user_verified=False)
    response = await api.post("/v1/session/reauthenticate/verify", credential)
    assert (response.status_code, problem_code(response)) == (400, "user_verification_required")


async def test_step_up_only_with_own_passkeys(api: Api) -> None:
    mallory = SoftAuthenticator()
    await api.sign_up(mallory)
    alice = SoftAuthenticator()
    api.client.cookies.clear()
    await api.sign_up(alice)  # the client is now Alice
    options = (await api.post("/v1/session/reauthenticate/options", {"purpose": "passkeys"})).json()
    assert [b64url_decode(c["id"]) for c in options["allowCredentials"]] == list(alice.credentials)
    forged = mallory.get(options, origin=ORIGIN, credential_id=next(iter(mallory.credentials)))
    response = await api.post("/v1/session/reauthenticate/verify", forged)
    assert (response.status_code, problem_code(response)) == (400, "invalid_credential")


async def test_sign_in_challenge_cannot_step_up(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    options = await api.sign_in_options()
    credential = laptop.get(options, origin=ORIGIN)
    response = await api.post("/v1/session/reauthenticate/verify", credential)
    assert (response.status_code, problem_code(response)) == (400, "ceremony_mismatch")


async def test_rename_and_signals(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    passkey_id = b64url(next(iter(laptop.credentials)))
    response = await api.client.patch(
        f"/v1/me/passkeys/{passkey_id}", json={"name": "  Work  laptop "}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Work laptop"
    assert response.json()["signals"]["all_accepted_credentials"]["allAcceptedCredentialIds"] == [
        passkey_id
    ]
    listing = (await api.client.get("/v1/me/passkeys")).json()
    assert listing["passkeys"][0]["name"] == "Work laptop"
    for bad in ({"name": ""}, {"name": "x" * 65}, {"name": "ok", "extra": 1}, {}):
        response = await api.client.patch(f"/v1/me/passkeys/{passkey_id}", json=bad)
        assert response.status_code == 422, bad


async def test_display_name_change_signals(api: Api) -> None:
    await api.sign_up(SoftAuthenticator(), "hal")
    response = await api.client.patch("/v1/me", json={"display_name": "Hal 9000"})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["display_name"] == "Hal 9000"
    assert body["signals"]["current_user_details"]["displayName"] == "Hal 9000"
    assert body["signals"]["current_user_details"]["name"] == "hal"
    signals = (await api.client.get("/v1/me/signals")).json()
    assert signals["current_user_details"]["displayName"] == "Hal 9000"


async def test_remove_needs_step_up_and_refuses_the_last(api: Api) -> None:
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    laptop_id = b64url(next(iter(laptop.credentials)))
    await api.age_sign_in()  # past the sign-up's own step-up
    assert problem_code(await api.client.delete(f"/v1/me/passkeys/{laptop_id}")) == (
        "reauthentication_required"
    )
    assert (await api.reauthenticate(laptop, "passkeys")).status_code == 200
    last = await api.client.delete(f"/v1/me/passkeys/{laptop_id}")
    assert (last.status_code, problem_code(last)) == (409, "last_passkey")

    key = SoftAuthenticator(transports=["usb"], attachment="cross-platform")
    assert (await api.add_passkey(key)).status_code == 201
    removed = await api.client.delete(f"/v1/me/passkeys/{laptop_id}")
    assert removed.status_code == 204
    signals = (await api.client.get("/v1/me/signals")).json()
    assert signals["all_accepted_credentials"]["allAcceptedCredentialIds"] == [
        b64url(next(iter(key.credentials)))
    ]
    # The removed passkey no longer signs in, and the service says to forget it.
    credential = laptop.get(await api.sign_in_options(), origin=ORIGIN)
    refused = await api.post("/v1/authentication/verify", credential)
    assert problem_code(refused) == "unknown_credential"


async def test_another_users_passkey_is_not_found(api: Api) -> None:
    mallory = SoftAuthenticator()
    await api.sign_up(mallory)
    mallory_id = b64url(next(iter(mallory.credentials)))
    api.client.cookies.clear()
    alice = SoftAuthenticator()
    await api.sign_up(alice)
    assert (await api.reauthenticate(alice, "passkeys")).status_code == 200
    for request in (
        api.client.patch(f"/v1/me/passkeys/{mallory_id}", json={"name": "mine"}),
        api.client.delete(f"/v1/me/passkeys/{mallory_id}"),
        api.client.delete("/v1/me/passkeys/not-base64url!"),
        api.client.delete(f"/v1/me/passkeys/{b64url(b'nothing')}"),
    ):
        response = await request
        assert (response.status_code, problem_code(response)) == (404, "not_found")
    assert await api.scalar("SELECT count(*) FROM passkeys") == 2


async def test_routes_need_a_session(api: Api) -> None:
    for method, path in (
        ("GET", "/v1/me"),
        ("GET", "/v1/me/passkeys"),
        ("POST", "/v1/me/passkeys/options"),
        ("GET", "/v1/me/sessions"),
        ("DELETE", "/v1/me/sessions"),
        ("GET", "/v1/me/signals"),
        ("GET", "/v1/me/activity"),
        ("POST", "/v1/session/reauthenticate/options"),
    ):
        response = await api.client.request(method, path, json={"purpose": "passkeys"})
        assert (response.status_code, problem_code(response)) == (401, "not_authenticated"), path


async def test_activity_records_what_happened(api: Api) -> None:
    laptop = SoftAuthenticator()
    username = new_username()
    await api.sign_up(laptop, username)
    assert (await api.sign_in(laptop)).status_code == 200
    stale = laptop.get(await api.sign_in_options(), origin=ORIGIN, sign_count=0)
    assert (await api.post("/v1/authentication/verify", stale)).status_code == 400
    events = (await api.client.get("/v1/me/activity")).json()
    kinds = [(e["event"], e["success"], e["code"]) for e in events["events"]]
    assert kinds == [
        ("sign_in", False, "sign_count_regression"),
        ("sign_in", True, None),
        ("sign_up", True, None),
    ]
    assert events["total"] == 3
    assert events["events"][0]["ip"] == "203.0.113.7"


async def test_u2f_only_user_can_step_up_with_presence(api: Api) -> None:
    key = SoftAuthenticator(
        attestation="fido-u2f",
        discoverable=False,
        user_verifying=False,
        transports=["usb"],
        attachment="cross-platform",
    )
    name = new_username()
    assert (await api.sign_up(key, name)).status_code == 201
    options = (await api.post("/v1/session/reauthenticate/options", {"purpose": "passkeys"})).json()
    assert options["userVerification"] == "preferred"
    response = await api.post("/v1/session/reauthenticate/verify", key.get(options, origin=ORIGIN))
    assert response.status_code == 200, response.text
    phone = SoftAuthenticator(transports=["hybrid"], backup_eligible=True)
    assert (await api.add_passkey(phone)).status_code == 201
    # A passkey that can verify its user must do so to step up; the old key still may not.
    options = (await api.post("/v1/session/reauthenticate/options", {"purpose": "sessions"})).json()
    assert options["userVerification"] == "preferred"
    lazy = phone.get(options, origin=ORIGIN, user_verified=False)
    refused = await api.post("/v1/session/reauthenticate/verify", lazy)
    assert (refused.status_code, problem_code(refused)) == (400, "user_verification_required")
    options = (await api.post("/v1/session/reauthenticate/options", {"purpose": "sessions"})).json()
    verified = phone.get(options, origin=ORIGIN)
    assert (await api.post("/v1/session/reauthenticate/verify", verified)).status_code == 200


async def test_step_up_is_never_weaker_than_sign_in(make_api) -> None:  # type: ignore[no-untyped-def]
    """A passkey that never verified its user cannot step up without UV once the service
    requires UV for sign-in."""
    lenient = await make_api()
    laptop, lazy = SoftAuthenticator(), SoftAuthenticator(user_verifying=False)
    await lenient.sign_up(laptop)
    assert (await lenient.add_passkey(lazy)).status_code == 201
    strict = await make_api(user_verification="required")
    strict.client.cookies.update(lenient.client.cookies)
    await strict.age_sign_in()
    options = await strict.post("/v1/session/reauthenticate/options", {"purpose": "recovery"})
    assert options.json()["userVerification"] == "required"
    credential = lazy.get(options.json(), origin=ORIGIN)
    response = await strict.post("/v1/session/reauthenticate/verify", credential)
    assert (response.status_code, problem_code(response)) == (400, "user_verification_required")
