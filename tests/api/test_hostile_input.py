"""Inputs that once reached a 500: each is now a 4xx problem that writes nothing."""

from __future__ import annotations

import pytest

from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username, problem_code
from tests.softauthn import SoftAuthenticator, b64url


async def test_deeply_nested_client_data(api: Api) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    credential = authenticator.get(await api.sign_in_options(), origin=ORIGIN)
    credential["response"]["clientDataJSON"] = b64url(b"[" * 3000)
    response = await api.post("/v1/authentication/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "malformed_client_data")


@pytest.mark.parametrize("field", ["username", "rawId"])
async def test_lone_surrogates_with_rate_limits_on(make_api: ApiFactory, field: str) -> None:
    api = await make_api(rate_limits=True)
    path = "/v1/authentication/options" if field == "username" else "/v1/authentication/verify"
    response = await api.client.post(
        path,
        content=b'{"' + field.encode() + b'": "\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (400, 422)
    problem_code(response)


@pytest.mark.parametrize("text", ["a\u0000b", "tab\there", "\ud800"])
async def test_control_characters_in_stored_text(api: Api, text: str) -> None:
    body = {"username": new_username(), "display_name": text}
    response = await api.client.post(
        "/v1/registration/options",
        content=_json(body),
        headers={"content-type": "application/json"},
    )
    assert (response.status_code, problem_code(response)) == (422, "validation_error")
    await api.sign_up(SoftAuthenticator())
    for method, path, payload in (
        ("PATCH", "/v1/me", {"display_name": text}),
        ("PATCH", "/v1/me/passkeys/AAAA", {"name": text}),
    ):
        response = await api.client.request(
            method, path, content=_json(payload), headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
    options = await api.client.post(
        "/v1/authentication/options",
        content=_json({"username": text}),
        headers={"content-type": "application/json"},
    )
    if text == "\ud800":  # not even valid Unicode: refused while parsing
        assert (options.status_code, problem_code(options)) == (422, "validation_error")
    else:  # an impossible name is simply an unknown one
        assert options.status_code == 200
        assert len(options.json()["allowCredentials"]) == 1


async def test_credential_id_far_over_the_limit(api: Api) -> None:
    credential = SoftAuthenticator().create(
        (await api.post("/v1/registration/options", {"username": new_username()})).json(),
        origin=ORIGIN,
    )
    credential["rawId"] = credential["id"] = b64url(b"\x01" * 5000)
    response = await api.post("/v1/registration/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "credential_id_too_long")


def _json(value: object) -> bytes:
    import json

    # ensure_ascii keeps lone surrogates as \\ud800 escapes, as a hostile client sends them.
    return json.dumps(value, ensure_ascii=True).encode()
