"""Sign-up: options, verify, and every refusal the registration ceremony owes."""

from __future__ import annotations

import pytest

from tests.api.conftest import ORIGIN, Api, new_username, problem_code
from tests.softauthn import EDDSA, ES256, RS256, SoftAuthenticator, b64url_decode


async def test_options_follow_the_contract(api: Api) -> None:
    response = await api.post(
        "/v1/registration/options",
        {
            "username": "Alice",
            "display_name": "Alice A.",
            "attachment": "cross-platform",
            "hints": ["security-key"],
        },
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    options = response.json()
    assert options["rp"] == {"id": "localhost", "name": "passkey-api"}
    assert options["user"]["name"] == "Alice"
    assert options["user"]["displayName"] == "Alice A."
    handle = b64url_decode(options["user"]["id"])
    assert len(handle) >= 16
    assert b"Alice" not in handle
    assert len(b64url_decode(options["challenge"])) >= 32
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [EDDSA, ES256, RS256]
    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "preferred"
    assert selection["userVerification"] == "preferred"
    assert selection["authenticatorAttachment"] == "cross-platform"
    assert options["extensions"] == {"credProps": True}
    assert options["hints"] == ["security-key"]
    assert options["attestation"] == "none"


async def test_options_differ_every_time(api: Api) -> None:
    first = (await api.post("/v1/registration/options", {"username": "bob"})).json()
    second = (await api.post("/v1/registration/options", {"username": "bob"})).json()
    assert first["challenge"] != second["challenge"]
    assert first["user"]["id"] != second["user"]["id"]


async def test_user_verification_required_by_setting(make_api) -> None:  # type: ignore[no-untyped-def]
    api = await make_api(user_verification="required")
    options = (await api.post("/v1/registration/options", {"username": "carol"})).json()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    lazy = SoftAuthenticator(user_verifying=False)
    credential = lazy.create(options, origin=ORIGIN)
    response = await api.post("/v1/registration/verify", credential)
    assert response.status_code == 400
    assert problem_code(response) == "user_verification_required"


@pytest.mark.parametrize("alg", [ES256, EDDSA, RS256])
@pytest.mark.parametrize("attestation", ["none", "packed"])
async def test_sign_up_stores_the_credential(api: Api, alg: int, attestation: str) -> None:
    authenticator = SoftAuthenticator(
        alg=alg,
        attestation=attestation,
        transports=["internal", "hybrid"],
        backup_eligible=True,
        backup_state=True,
        aaguid=bytes.fromhex("fbfc3007154e4ecc8c0b6e020557d7bd"),
    )
    username = new_username()
    response = await api.sign_up(authenticator, username)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["username"] == username
    assert body["session"]["user_verified"] is True
    assert "session_token" not in body or body["session_token"] is None
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    row = await api.scalar(
        "SELECT transports || '|' || aaguid || '|' || attestation_format FROM passkeys"
    )
    assert "hybrid" in row
    assert "internal" in row
    assert "fbfc3007-154e-4ecc-8c0b-6e020557d7bd" in row
    assert row.endswith("|" + attestation)
    assert await api.scalar("SELECT backup_eligible FROM passkeys") in (True, 1)
    assert await api.scalar("SELECT discoverable FROM passkeys") in (True, 1)


async def test_u2f_key_registers_non_discoverable(api: Api) -> None:
    key = SoftAuthenticator(
        attestation="fido-u2f",
        discoverable=False,
        user_verifying=False,
        transports=["usb"],
        attachment="cross-platform",
        credential_id_length=64,
    )
    response = await api.sign_up(key)
    assert response.status_code == 201, response.text
    assert await api.scalar("SELECT discoverable FROM passkeys") in (False, 0)
    assert await api.scalar("SELECT attestation_format FROM passkeys") == "fido-u2f"
    assert response.json()["session"]["user_verified"] is False


async def test_username_taken_case_and_width_insensitive(api: Api) -> None:
    assert (await api.sign_up(SoftAuthenticator(), "Dave")).status_code == 201
    for spelling in ("dave", "DAVE", "\uff24\uff41\uff56\uff45"):  # the last is full-width
        response = await api.post("/v1/registration/options", {"username": spelling})
        assert response.status_code == 409
        assert problem_code(response) == "username_taken"


async def test_username_taken_between_options_and_verify(api: Api) -> None:
    first = (await api.post("/v1/registration/options", {"username": "erin"})).json()
    second = (await api.post("/v1/registration/options", {"username": "erin"})).json()
    ok = await api.post("/v1/registration/verify", SoftAuthenticator().create(first, origin=ORIGIN))
    assert ok.status_code == 201
    late = await api.post(
        "/v1/registration/verify", SoftAuthenticator().create(second, origin=ORIGIN)
    )
    assert late.status_code == 409
    assert problem_code(late) == "username_taken"
    assert await api.scalar("SELECT count(*) FROM users") == 1


async def test_credential_registered_twice_is_a_conflict(api: Api) -> None:
    authenticator = SoftAuthenticator()
    assert (await api.sign_up(authenticator)).status_code == 201
    credential_id = next(iter(authenticator.credentials))
    options = (await api.post("/v1/registration/options", {"username": new_username()})).json()
    twin = SoftAuthenticator().create(options, origin=ORIGIN, credential_id=credential_id)
    response = await api.post("/v1/registration/verify", twin)
    assert response.status_code == 409
    assert problem_code(response) == "credential_exists"
    assert await api.scalar("SELECT count(*) FROM users") == 1
    assert await api.scalar("SELECT count(*) FROM passkeys") == 1


@pytest.mark.parametrize("username", ["", "   "])
async def test_an_empty_username_says_so(api: Api, username: str) -> None:
    for path in ("/v1/registration/options", "/v1/authentication/options"):
        response = await api.post(path, {"username": username})
        assert (response.status_code, problem_code(response)) == (422, "invalid_username"), path
        assert response.json()["detail"] == "The username is empty."


@pytest.mark.parametrize(
    ("display_name", "accepted"),
    [("a" * 64, True), ("é" * 32, True), ("é" * 33, False), ("😀" * 17, False), ("a" * 65, False)],
)
async def test_display_names_are_counted_in_utf8_bytes(
    api: Api, display_name: str, accepted: bool
) -> None:
    """What authenticators keep (WebAuthn L3 §5.4.3): 64 bytes, not 64 characters."""
    response = await api.post(
        "/v1/registration/options", {"username": new_username(), "display_name": display_name}
    )
    if accepted:
        assert response.status_code == 200, response.text
        return
    assert (response.status_code, problem_code(response)) == (422, "validation_error")
    (error,) = response.json()["errors"]
    assert error["loc"][-1] == "display_name"
    assert "64 bytes" in error["msg"]
