"""Sign-in: discoverable and username-first, and every refusal the ceremony owes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from passkey_api.passkeys import repository as passkeys_repository
from tests.api.conftest import ORIGIN, Api, new_username, problem_code
from tests.softauthn import SoftAuthenticator, b64url, b64url_decode, tamper


async def _registered(api: Api, **kwargs: Any) -> tuple[SoftAuthenticator, str]:
    authenticator = SoftAuthenticator(**kwargs)
    username = new_username()
    response = await api.sign_up(authenticator, username)
    assert response.status_code == 201, response.text
    return authenticator, username


async def _verify(api: Api, credential: dict[str, Any]) -> tuple[int, str | None]:
    response = await api.post("/v1/authentication/verify", credential)
    if response.status_code == 200:
        return 200, None
    return response.status_code, problem_code(response)


async def test_discoverable_sign_in(api: Api) -> None:
    authenticator, username = await _registered(api)
    options = await api.sign_in_options()
    assert options["allowCredentials"] == []
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "preferred"
    assert len(b64url_decode(options["challenge"])) >= 32
    response = await api.post(
        "/v1/authentication/verify", authenticator.get(options, origin=ORIGIN)
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == username
    assert response.json()["session"]["user_verified"] is True
    assert "set-cookie" in response.headers
    assert await api.scalar("SELECT sign_count FROM passkeys") == 1
    assert await api.scalar("SELECT last_used_at IS NOT NULL FROM passkeys") in (True, 1)


async def test_username_first_lists_credentials_with_transports(api: Api) -> None:
    key = SoftAuthenticator(
        attestation="fido-u2f",
        discoverable=False,
        user_verifying=False,
        transports=["usb", "nfc"],
        attachment="cross-platform",
    )
    username = new_username()
    assert (await api.sign_up(key, username)).status_code == 201
    options = await api.sign_in_options(username.upper(), hints=["security-key"])
    assert options["hints"] == ["security-key"]
    [allowed] = options["allowCredentials"]
    assert b64url_decode(allowed["id"]) == next(iter(key.credentials))
    assert allowed["transports"] == ["nfc", "usb"]
    credential = key.get(options, origin=ORIGIN)
    assert credential["response"]["userHandle"] is None  # U2F keys hold no user handle
    response = await api.post("/v1/authentication/verify", credential)
    assert response.status_code == 200, response.text
    assert response.json()["session"]["user_verified"] is False


async def test_unknown_username_looks_like_a_known_one(api: Api) -> None:
    _, username = await _registered(api)
    known = await api.sign_in_options(username)
    unknown = await api.sign_in_options("nobody-" + username)
    again = await api.sign_in_options("nobody-" + username)
    assert known.keys() == unknown.keys()
    assert 1 <= len(unknown["allowCredentials"]) <= 3  # as many as accounts tend to hold
    for decoy in unknown["allowCredentials"]:
        assert decoy.keys() == known["allowCredentials"][0].keys()
    # Stable, so that asking twice does not expose a random decoy.
    assert unknown["allowCredentials"] == again["allowCredentials"]


async def test_counter_zero_authenticators_sign_in_repeatedly(api: Api) -> None:
    authenticator, _ = await _registered(api, counter_step=0, backup_eligible=True)
    for _ in range(3):
        options = await api.sign_in_options()
        assert await _verify(api, authenticator.get(options, origin=ORIGIN)) == (200, None)


async def test_wrong_origin(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    options = await api.sign_in_options()
    credential = authenticator.get(options, origin="https://evil.example")
    assert await _verify(api, credential) == (400, "origin_mismatch")


async def test_wrong_rp_id_hash(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    options = await api.sign_in_options()
    credential = authenticator.get(options, origin=ORIGIN, rp_id="evil.example")
    assert await _verify(api, credential) == (400, "rp_id_mismatch")


@pytest.mark.parametrize(
    "forgery", [{"cross_origin": True}, {"top_origin": "https://framing.example"}]
)
async def test_cross_origin_refused(
    api: Api, authenticator: SoftAuthenticator, forgery: dict[str, Any]
) -> None:
    await api.sign_up(authenticator)
    options = await api.sign_in_options()
    credential = authenticator.get(options, origin=ORIGIN, **forgery)
    assert await _verify(api, credential) == (400, "cross_origin_refused")


async def test_replayed_response(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN)
    assert await _verify(api, credential) == (200, None)
    assert await _verify(api, credential) == (400, "challenge_expired")


async def test_expired_challenge(make_api, authenticator: SoftAuthenticator) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    api = await make_api(challenge_ttl=timedelta(milliseconds=50))
    assert (await api.sign_up(authenticator)).status_code == 201
    options = await api.sign_in_options()
    await asyncio.sleep(0.2)
    credential = authenticator.get(options, origin=ORIGIN)
    assert await _verify(api, credential) == (400, "challenge_expired")


async def test_registration_challenge_cannot_finish_sign_in(
    api: Api, authenticator: SoftAuthenticator
) -> None:
    await api.sign_up(authenticator)
    registration = (await api.post("/v1/registration/options", {"username": "x"})).json()
    options = await api.sign_in_options()
    credential = authenticator.get(options, origin=ORIGIN, challenge=registration["challenge"])
    assert await _verify(api, credential) == (400, "ceremony_mismatch")
    # ...and the sign-in challenge cannot finish a sign-up either.
    signup_options = (await api.post("/v1/registration/options", {"username": "y"})).json()
    created = SoftAuthenticator().create(
        signup_options, origin=ORIGIN, challenge=options["challenge"]
    )
    response = await api.post("/v1/registration/verify", created)
    assert (response.status_code, problem_code(response)) == (400, "ceremony_mismatch")


async def test_client_data_type_must_match(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    options = await api.sign_in_options()
    credential = authenticator.get(options, origin=ORIGIN, client_data_type="webauthn.create")
    assert await _verify(api, credential) == (400, "client_data_type_mismatch")


@pytest.mark.parametrize("username_bound", [False, True])
async def test_a_response_refused_by_its_own_checks_reads_no_passkey(
    api: Api, monkeypatch: pytest.MonkeyPatch, username_bound: bool
) -> None:
    """What the response says of itself (its type, origin, ids) is checked before any
    passkey is read for it; the challenge is consumed all the same, and the refusal is
    audited for the account the ceremony was started for (none in a discoverable one),
    never for the owner of a passkey it did not look up."""
    authenticator, username = await _registered(api)
    options = await api.sign_in_options(username if username_bound else None)
    looked_up: list[bytes] = []
    lookup = passkeys_repository.get_with_user

    async def counted(databases: Any, credential_id: bytes) -> Any:
        looked_up.append(credential_id)
        return await lookup(databases, credential_id)

    monkeypatch.setattr(passkeys_repository, "get_with_user", counted)
    wrong = authenticator.get(options, origin=ORIGIN, client_data_type="webauthn.create")
    assert await _verify(api, wrong) == (400, "client_data_type_mismatch")
    assert looked_up == []
    again = authenticator.get(options, origin=ORIGIN)  # the same challenge, now taken
    assert await _verify(api, again) == (400, "challenge_expired")
    assert (await api.sign_in(authenticator, username)).status_code == 200
    # Each response that passed its own checks was looked up (while its challenge was
    # taken, in the same wait): the expired one and the last one.
    assert looked_up == [next(iter(authenticator.credentials))] * 2
    events = (await api.client.get("/v1/me/activity", params={"limit": 100})).json()["events"]
    refusals = [e["code"] for e in events if e["event"] == "sign_in" and not e["success"]]
    assert refusals == (["client_data_type_mismatch"] if username_bound else [])


async def test_tampered_signature(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN)
    credential["response"]["signature"] = tamper(credential["response"]["signature"])
    assert await _verify(api, credential) == (400, "invalid_credential")
    assert await api.scalar("SELECT count(*) FROM sessions") == 1  # only the sign-up's


async def test_tampered_authenticator_data(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN)
    credential["response"]["authenticatorData"] = tamper(
        credential["response"]["authenticatorData"]
    )
    status, code = await _verify(api, credential)
    assert status == 400
    assert code in ("invalid_credential", "sign_count_regression")


async def test_unknown_credential_carries_the_signal(api: Api) -> None:
    stranger = SoftAuthenticator()
    options = (await api.post("/v1/registration/options", {"username": "ghost"})).json()
    stranger.create(options, origin=ORIGIN)  # never sent: the service does not know it
    credential = stranger.get(await api.sign_in_options(), origin=ORIGIN)
    response = await api.post("/v1/authentication/verify", credential)
    assert response.status_code == 400
    assert problem_code(response) == "unknown_credential"
    assert response.json()["signal_unknown_credential"] == {
        "rpId": "localhost",
        "credentialId": credential["id"],
    }


async def test_user_handle_of_another_user(api: Api) -> None:
    mallory, _ = await _registered(api)
    _, alice_name = await _registered(api)
    alice_handle = b64url_decode(
        (await api.post("/v1/registration/options", {"username": "tmp"})).json()["user"]["id"]
    )
    del alice_handle
    # Mallory's credential with Alice's user handle: the pairing must be refused.
    async with api.resources.engine.connect() as connection:
        from sqlalchemy import text

        handle = (
            await connection.execute(
                text("SELECT user_handle FROM users WHERE username = :u"), {"u": alice_name}
            )
        ).scalar_one()
    credential = mallory.get(await api.sign_in_options(), origin=ORIGIN, user_handle=bytes(handle))
    assert await _verify(api, credential) == (400, "user_handle_mismatch")


async def test_credential_of_another_user_in_username_first(api: Api) -> None:
    mallory, _ = await _registered(api)
    _, alice_name = await _registered(api)
    options = await api.sign_in_options(alice_name)
    credential = mallory.get(options, origin=ORIGIN, credential_id=next(iter(mallory.credentials)))
    # As a bad signature: a credential off the list must not tell whose it is.
    assert await _verify(api, credential) == (400, "invalid_credential")


async def test_discoverable_sign_in_needs_a_user_handle(api: Api) -> None:
    authenticator, _ = await _registered(api)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN, user_handle=None)
    assert await _verify(api, credential) == (400, "user_handle_missing")


async def test_sign_count_regression(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    for _ in range(3):
        assert await _verify(
            api, authenticator.get(await api.sign_in_options(), origin=ORIGIN)
        ) == (
            200,
            None,
        )
    stale = authenticator.get(await api.sign_in_options(), origin=ORIGIN, sign_count=2)
    assert await _verify(api, stale) == (400, "sign_count_regression")
    assert await api.scalar("SELECT sign_count FROM passkeys") == 3


async def test_backup_eligibility_cannot_change(api: Api, authenticator: SoftAuthenticator) -> None:
    await api.sign_up(authenticator)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN, backup_eligible=True)
    assert await _verify(api, credential) == (400, "backup_eligibility_changed")


async def test_user_verification_required_on_sign_in(make_api) -> None:  # type: ignore[no-untyped-def]
    api = await make_api(user_verification="required")
    authenticator = SoftAuthenticator()
    assert (await api.sign_up(authenticator)).status_code == 201
    options = await api.sign_in_options()
    assert options["userVerification"] == "required"
    credential = authenticator.get(options, origin=ORIGIN, user_verified=False)
    assert await _verify(api, credential) == (400, "user_verification_required")


async def test_concurrent_double_submit_gives_one_session(
    api: Api, authenticator: SoftAuthenticator
) -> None:
    await api.sign_up(authenticator)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN)
    results = await asyncio.gather(*(_verify(api, credential) for _ in range(20)))
    assert results.count((200, None)) == 1
    assert all(result == (400, "challenge_expired") for result in results if result[0] != 200)
    assert await api.scalar("SELECT count(*) FROM sessions") == 2  # sign-up + one sign-in


# --- malformed input -------------------------------------------------------------------


async def _valid_assertion(api: Api) -> dict[str, Any]:
    authenticator, _ = await _registered(api)
    return authenticator.get(await api.sign_in_options(), origin=ORIGIN)


@pytest.mark.parametrize("bad", ["AA==", "AA+/", "AA.B", "A", "AB", " AA"])
async def test_malformed_base64url(api: Api, bad: str) -> None:
    credential = await _valid_assertion(api)
    credential["response"]["signature"] = bad
    response = await api.post("/v1/authentication/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "invalid_base64url")


async def test_malformed_json(api: Api) -> None:
    response = await api.client.post(
        "/v1/authentication/verify",
        content=b'{"id": "AA", ',
        headers={"content-type": "application/json"},
    )
    assert (response.status_code, problem_code(response)) == (400, "malformed_json")


async def test_unknown_fields_and_wrong_types(api: Api) -> None:
    credential = await _valid_assertion(api)
    response = await api.post("/v1/authentication/verify", credential | {"extra": 1})
    assert (response.status_code, problem_code(response)) == (422, "validation_error")
    response = await api.post("/v1/authentication/verify", credential | {"type": 7})
    assert (response.status_code, problem_code(response)) == (422, "validation_error")
    response = await api.post("/v1/authentication/verify", [credential])
    assert (response.status_code, problem_code(response)) == (422, "validation_error")


async def test_client_data_not_json(api: Api) -> None:
    credential = await _valid_assertion(api)
    credential["response"]["clientDataJSON"] = b64url(b"\xff\xfe not json")
    response = await api.post("/v1/authentication/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "malformed_client_data")


async def test_client_data_challenge_not_base64url(api: Api) -> None:
    credential = await _valid_assertion(api)
    client_data = json.loads(b64url_decode(credential["response"]["clientDataJSON"]))
    client_data["challenge"] = client_data["challenge"] + "=="
    credential["response"]["clientDataJSON"] = b64url(json.dumps(client_data).encode())
    response = await api.post("/v1/authentication/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "malformed_client_data")


async def test_authenticator_data_junk(api: Api) -> None:
    credential = await _valid_assertion(api)
    credential["response"]["authenticatorData"] = b64url(b"\x01" * 10)
    response = await api.post("/v1/authentication/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "malformed_authenticator_data")


async def test_attestation_object_junk_cbor(api: Api) -> None:
    options = (await api.post("/v1/registration/options", {"username": new_username()})).json()
    credential = SoftAuthenticator().create(options, origin=ORIGIN)
    credential["response"]["attestationObject"] = b64url(b"\xa3\x63fmt\x64none\xff\x00")
    response = await api.post("/v1/registration/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "malformed_attestation")
    assert await api.scalar("SELECT count(*) FROM users") == 0


async def test_credential_id_over_1023_bytes(api: Api) -> None:
    options = (await api.post("/v1/registration/options", {"username": new_username()})).json()
    credential = SoftAuthenticator(credential_id_length=1024).create(options, origin=ORIGIN)
    response = await api.post("/v1/registration/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "credential_id_too_long")
    assert await api.scalar("SELECT count(*) FROM users") == 0


async def test_id_and_raw_id_must_agree(api: Api) -> None:
    credential = await _valid_assertion(api)
    credential["id"] = b64url(b"another-id")
    assert await _verify(api, credential) == (400, "invalid_credential")


async def test_unknown_username_refuses_every_credential(api: Api) -> None:
    """The attacker's own passkey must fail for an unknown name exactly as for a real one."""
    attacker, _ = await _registered(api)
    _, victim = await _registered(api)
    api.client.cookies.clear()
    for name in (victim, "nobody-" + victim):
        options = await api.sign_in_options(name)
        credential = attacker.get(
            options, origin=ORIGIN, credential_id=next(iter(attacker.credentials))
        )
        assert await _verify(api, credential) == (400, "invalid_credential"), name
        options = await api.sign_in_options(name)
        credential = attacker.get(
            options, origin=ORIGIN, credential_id=next(iter(attacker.credentials)), user_handle=None
        )
        assert await _verify(api, credential) == (400, "invalid_credential"), name


async def test_decoys_vary_like_real_credentials(api: Api) -> None:
    shapes = set()
    for n in range(40):
        for decoy in (await api.sign_in_options(f"ghost-{n}"))["allowCredentials"]:
            shapes.add((len(b64url_decode(decoy["id"])), tuple(decoy["transports"])))
    assert len(shapes) >= 3
