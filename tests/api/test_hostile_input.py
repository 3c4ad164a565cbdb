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
        assert 1 <= len(options.json()["allowCredentials"]) <= 3  # its decoys


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


# Bidi controls and zero-width or otherwise invisible code points (Default_Ignorable_Code_Point):
# a name shown to admins and handed to authenticators must read as it is stored (RFC 8266).
INVISIBLE = [
    "Alice\u202e\u2066nimda\u2069\u200b",  # right-to-left override, isolates, zero width space
    "admin\u200e",  # left-to-right mark
    "\u061cname",  # Arabic letter mark
    "ro\u00adot",  # soft hyphen
    "\ufeffname",  # zero width no-break space
    "a\u2060b",  # word joiner
    "a\u034fb",  # combining grapheme joiner
    "a\u200db",  # zero width joiner outside the scripts whose words need it
]


@pytest.mark.parametrize("text", INVISIBLE)
async def test_invisible_and_bidi_code_points_in_names(api: Api, text: str) -> None:
    response = await api.post(
        "/v1/registration/options", {"username": new_username(), "display_name": text}
    )
    assert (response.status_code, problem_code(response)) == (422, "validation_error")
    authenticator = SoftAuthenticator()
    user = (await api.sign_up(authenticator)).json()["user"]
    credential_id = b64url(next(iter(authenticator.credentials)))
    for path, payload in (
        ("/v1/me", {"display_name": text}),
        (f"/v1/me/passkeys/{credential_id}", {"name": text}),
    ):
        response = await api.client.patch(path, json=payload)
        assert (response.status_code, problem_code(response)) == (422, "validation_error"), path
    me = (await api.client.get("/v1/me")).json()
    assert me["display_name"] == user["display_name"]
    passkeys = (await api.client.get("/v1/me/passkeys")).json()["passkeys"]
    assert text not in {p["name"] for p in passkeys}


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("Zoë Ünal", "Zoë Ünal"),
        ("名前", "名前"),
        ("مرحبا بك", "مرحبا بك"),
        ("क्\u200dष", "क्\u200dष"),  # a joiner where the script needs it (after a virama)
        ("  Ada\u3000\u00a0Lovelace ", "Ada Lovelace"),  # other spaces: one ASCII space
        ("\uff46\uff55\uff4c\uff4c width", "full width"),  # NFKC, as RFC 8266 enforces it
    ],
)
async def test_names_in_any_script_are_kept(api: Api, text: str, stored: str) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    credential_id = b64url(next(iter(authenticator.credentials)))
    me = await api.client.patch("/v1/me", json={"display_name": text})
    assert me.status_code == 200, me.text
    assert me.json()["user"]["display_name"] == stored
    renamed = await api.client.patch(f"/v1/me/passkeys/{credential_id}", json={"name": text})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == stored


# NFKC (which RFC 8266 enforces) expands some code points: U+FDFA is 18 characters, U+33AF
# six. The limits hold for the name as stored, not as sent, on both backends.
@pytest.mark.parametrize(
    "text",
    ["\ufdfa" * 4, "\u33af" * 64, "\ufdfa" * 3 + "x" * 11],
    ids=["fdfa-x4", "33af-x64", "65-characters"],
)
async def test_names_that_nfkc_expands_past_the_limit(api: Api, text: str) -> None:
    response = await api.post(
        "/v1/registration/options", {"username": new_username(), "display_name": text}
    )
    assert (response.status_code, problem_code(response)) == (422, "validation_error")
    authenticator = SoftAuthenticator()
    user = (await api.sign_up(authenticator)).json()["user"]
    credential_id = b64url(next(iter(authenticator.credentials)))
    before = (await api.client.get("/v1/me/passkeys")).json()["passkeys"][0]["name"]
    for path, payload in (
        ("/v1/me", {"display_name": text}),
        (f"/v1/me/passkeys/{credential_id}", {"name": text}),
    ):
        response = await api.client.patch(path, json=payload)
        assert (response.status_code, problem_code(response)) == (422, "validation_error"), path
    assert (await api.client.get("/v1/me")).json()["display_name"] == user["display_name"]
    passkeys = (await api.client.get("/v1/me/passkeys")).json()["passkeys"]
    assert passkeys[0]["name"] == before


async def test_an_expanded_passkey_name_that_fits_is_kept(api: Api) -> None:
    authenticator = SoftAuthenticator()
    await api.sign_up(authenticator)
    credential_id = b64url(next(iter(authenticator.credentials)))
    text = "\ufdfa" * 3 + "x" * 10  # 3 * 18 + 10 = 64 characters once enforced
    renamed = await api.client.patch(f"/v1/me/passkeys/{credential_id}", json={"name": text})
    assert renamed.status_code == 200, renamed.text
    assert len(renamed.json()["name"]) == 64
