"""No username oracle through the decoy: in a ceremony bound to a username, a forged
answer gets the same status and body whether the account exists or not, and whatever
the forgery (unknown credential, another account's, the listed one with a bad signature,
its flags or user handle changed)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

import pytest

from passkey_api import keys
from tests.api.conftest import ORIGIN, Api, new_username
from tests.softauthn import SoftAuthenticator, b64url, b64url_decode

Forge = Callable[[SoftAuthenticator, dict[str, Any]], dict[str, Any]]


def _as_listed(mallory: SoftAuthenticator, options: dict[str, Any], **get: Any) -> dict[str, Any]:
    """Mallory's own assertion, presented under the id the options list."""
    listed = options["allowCredentials"][0]["id"]
    own = next(iter(mallory.credentials))
    forged = mallory.get(options, origin=ORIGIN, credential_id=own, **get)
    forged["id"] = forged["rawId"] = listed
    return forged


def _unknown(mallory: SoftAuthenticator, options: dict[str, Any]) -> dict[str, Any]:
    forged = _as_listed(mallory, options)
    forged["id"] = forged["rawId"] = b64url(os.urandom(32))
    return forged


FORGERIES: dict[str, Forge] = {
    "the listed id, another key's signature": _as_listed,
    "the listed id, backup eligibility changed": lambda m, o: _as_listed(
        m, o, backup_eligible=True, backup_state=True
    ),
    "the listed id, another user handle": lambda m, o: _as_listed(m, o, user_handle=os.urandom(32)),
    "the listed id, no user handle": lambda m, o: _as_listed(m, o, user_handle=None),
    "the listed id, a counter of 0": lambda m, o: _as_listed(m, o, sign_count=0),
    "an unknown credential": _unknown,
    "the attacker's own passkey": lambda m, o: m.get(
        o, origin=ORIGIN, credential_id=next(iter(m.credentials))
    ),
}


async def _answer(api: Api, username: str, mallory: SoftAuthenticator, forge: Forge) -> Any:
    options = await api.sign_in_options(username)
    response = await api.post("/v1/authentication/verify", forge(mallory, options))
    body = response.json()
    body.pop("instance", None)  # the request id, different for every request
    return response.status_code, body


@pytest.mark.parametrize("name", FORGERIES)
async def test_known_and_unknown_usernames_answer_alike(api: Api, name: str) -> None:
    alice = SoftAuthenticator(counter_step=5)
    known = new_username()
    assert (await api.sign_up(alice, known)).status_code == 201
    assert (await api.sign_in(alice, known)).status_code == 200  # the counter moves on
    mallory = SoftAuthenticator()
    assert (await api.sign_up(mallory)).status_code == 201
    api.client.cookies.clear()

    real = await _answer(api, known, mallory, FORGERIES[name])
    decoy = await _answer(api, "nobody-" + known, mallory, FORGERIES[name])
    assert real == decoy
    assert real[0] == 400
    assert real[1]["code"] == "invalid_credential"


async def test_the_decoy_stays_the_same_for_a_name(api: Api) -> None:
    first = await api.sign_in_options("nobody-at-all")
    second = await api.sign_in_options("nobody-at-all")
    assert first["allowCredentials"] == second["allowCredentials"]
    assert len(b64url_decode(first["allowCredentials"][0]["id"])) >= 16


async def test_the_decoy_is_not_keyed_with_the_signing_key(api: Api) -> None:
    """Whoever knows the session-signing key (a leaked or placeholder one) must not be able
    to tell a decoy from a real credential: the decoys have a key of their own, derived
    from it under a label of their own."""
    name = "nobody-" + new_username()
    listed = b64url_decode((await api.sign_in_options(name))["allowCredentials"][0]["id"])
    signing = api.resources.secret_key
    with_signing_key = hmac.new(signing, b"decoy:" + name.encode(), hashlib.sha512).digest()
    assert with_signing_key[1 : 1 + len(listed)] != listed
    decoy_key = keys.derive(signing, keys.DECOY_CREDENTIALS)
    assert decoy_key != signing
    expected = hmac.new(decoy_key, b"decoy:" + name.encode(), hashlib.sha512).digest()
    assert expected[1 : 1 + len(listed)] == listed


async def test_discoverable_sign_in_still_signals_an_unknown_credential(api: Api) -> None:
    mallory = SoftAuthenticator()
    assert (await api.sign_up(mallory)).status_code == 201
    api.client.cookies.clear()
    options = await api.sign_in_options()
    forged = mallory.get(options, origin=ORIGIN)
    forged["id"] = forged["rawId"] = b64url(os.urandom(32))
    response = await api.post("/v1/authentication/verify", forged)
    body = response.json()
    assert (response.status_code, body["code"]) == (400, "unknown_credential")
    assert body["signal_unknown_credential"] == {"rpId": "localhost", "credentialId": forged["id"]}


async def test_a_step_up_refuses_an_unknown_credential_as_a_bad_signature(api: Api) -> None:
    laptop = SoftAuthenticator()
    assert (await api.sign_up(laptop)).status_code == 201
    options = (await api.post("/v1/session/reauthenticate/options", {"purpose": "passkeys"})).json()
    forged = laptop.get(options, origin=ORIGIN)
    forged["id"] = forged["rawId"] = b64url(os.urandom(32))
    response = await api.post("/v1/session/reauthenticate/verify", forged)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_credential")
