"""Conditional create (WebAuthn Level 3, 7.1 step 14): a passkey added with
`mediation: "conditional"` may come without user presence, and only then. The browser
offers it after a sign-in without a passkey (social or recovery), when it may make the
passkey without a gesture; every other registration still needs the UP flag."""

from __future__ import annotations

from tests.api.conftest import ORIGIN, Api, new_username, problem_code
from tests.softauthn import SoftAuthenticator


async def _passkeys(api: Api) -> int:
    return int(await api.scalar("SELECT count(*) FROM passkeys"))


async def _begin(api: Api, **body: object) -> dict[str, object]:
    options = await api.post("/v1/me/passkeys/options", body)
    assert options.status_code == 200, options.text
    result: dict[str, object] = options.json()
    return result


async def test_a_conditional_create_is_accepted_without_user_presence(api: Api) -> None:
    await api.sign_up(SoftAuthenticator())
    phone = SoftAuthenticator()
    options = await _begin(api, mediation="conditional")
    added = await api.post(
        "/v1/me/passkeys/verify", phone.create(options, origin=ORIGIN, user_present=False)
    )
    assert added.status_code == 201, added.text
    assert await _passkeys(api) == 2
    # The audit trail says how it was made.
    details = await api.scalar(
        "SELECT details FROM audit_events WHERE event = 'passkey_added' ORDER BY at DESC LIMIT 1"
    )
    assert "conditional" in str(details)
    # And it signs in like any other passkey.
    assert (await api.sign_in(phone)).status_code == 200


async def test_without_conditional_mediation_user_presence_is_required(api: Api) -> None:
    await api.sign_up(SoftAuthenticator())
    key = SoftAuthenticator()
    options = await _begin(api)
    refused = await api.post(
        "/v1/me/passkeys/verify", key.create(options, origin=ORIGIN, user_present=False)
    )
    assert (refused.status_code, problem_code(refused)) == (400, "user_presence_required")
    assert await _passkeys(api) == 1


async def test_sign_up_always_needs_user_presence(api: Api) -> None:
    key = SoftAuthenticator()
    username = new_username()
    # A sign-up cannot ask for conditional mediation...
    asked = await api.post(
        "/v1/registration/options", {"username": username, "mediation": "conditional"}
    )
    assert (asked.status_code, problem_code(asked)) == (422, "validation_error")
    # ...and without the UP flag it is refused, with nothing written.
    options = await api.post("/v1/registration/options", {"username": username})
    assert options.status_code == 200, options.text
    refused = await api.post(
        "/v1/registration/verify",
        key.create(options.json(), origin=ORIGIN, user_present=False),
    )
    assert (refused.status_code, problem_code(refused)) == (400, "user_presence_required")
    assert await api.scalar("SELECT count(*) FROM users WHERE username = :u", u=username) == 0


async def test_conditional_mediation_relaxes_nothing_else(api: Api) -> None:
    await api.sign_up(SoftAuthenticator())
    key = SoftAuthenticator()
    options = await _begin(api, mediation="conditional")
    wrong_origin = await api.post(
        "/v1/me/passkeys/verify",
        key.create(options, origin="https://evil.example", user_present=False),
    )
    assert (wrong_origin.status_code, problem_code(wrong_origin)) == (400, "origin_mismatch")
    # The challenge was used up by the failed verify, conditional or not.
    again = await api.post(
        "/v1/me/passkeys/verify", key.create(options, origin=ORIGIN, user_present=False)
    )
    assert (again.status_code, problem_code(again)) == (400, "challenge_expired")
    assert await _passkeys(api) == 1


async def test_conditional_mediation_is_the_only_value(api: Api) -> None:
    await api.sign_up(SoftAuthenticator())
    refused = await api.post("/v1/me/passkeys/options", {"mediation": "silent"})
    assert (refused.status_code, problem_code(refused)) == (422, "validation_error")
