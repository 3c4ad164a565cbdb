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

from passkey_api.ceremonies import decoys
from passkey_api.kit import keys
from tests.api.conftest import ORIGIN, Api, ApiFactory, new_username
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


def _decoy_under(key: bytes, name: str, length: int) -> bytes:
    """A decoy id as ceremonies/decoys.py makes one, under `key`: a body from the name's
    MAC, ending in a MAC of the body."""
    body = hmac.new(key, b"id:" + name.encode(), hashlib.sha512).digest()[1 : 1 + length - 8]
    return body + hmac.new(key, b"tag:" + body, hashlib.sha256).digest()[:8]


async def test_the_decoy_is_keyed_with_the_seed_not_the_secret_key(api: Api) -> None:
    """Whoever knows the secret key (a leaked or placeholder one) must not be able to tell
    a decoy from a real credential, and a rotation of it must not change the decoys: they
    are keyed from the database's random seed, under a label of their own."""
    name = "nobody-" + new_username()
    listed = b64url_decode((await api.sign_in_options(name))["allowCredentials"][0]["id"])
    signing = api.resources.secret_key
    for key in (signing, keys.derive(signing, keys.DECOY_CREDENTIALS)):
        assert _decoy_under(key, name, len(listed)) != listed
        assert not decoys.is_decoy(key, listed)
    seed = await api.scalar("SELECT seed FROM decoy_seed")
    assert len(seed) == 32
    assert await api.resources.decoy_seed.get() == seed
    decoy_key = keys.derive(seed, keys.DECOY_CREDENTIALS)
    assert _decoy_under(seed, name, len(listed)) != listed  # not the seed itself either
    assert _decoy_under(decoy_key, name, len(listed)) == listed
    assert decoys.is_decoy(seed, listed)


async def test_unknown_names_list_as_many_decoys_as_accounts_hold_passkeys(api: Api) -> None:
    """A real account lists every passkey it holds; were each decoy alone, an answer listing
    two would prove an account. Some unknown names list two or three decoys, each of its
    own id and shape, the same on every asking, and every one of them answers as a
    registered credential wherever it is shown."""
    mallory = SoftAuthenticator()
    assert (await api.sign_up(mallory)).status_code == 201
    api.client.cookies.clear()
    names = [f"nobody-{n}-{new_username()}" for n in range(200)]
    listed = {name: (await api.sign_in_options(name))["allowCredentials"] for name in names}
    for name in names:
        assert (await api.sign_in_options(name))["allowCredentials"] == listed[name]
    counts = [len(allowed) for allowed in listed.values()]
    assert set(counts) <= {1, 2, 3}
    assert counts.count(1) > len(names) / 2  # mostly one, as most accounts hold one
    several = [allowed for allowed in listed.values() if len(allowed) > 1]
    assert several
    for allowed in several:
        ids = [b64url_decode(descriptor["id"]) for descriptor in allowed]
        assert len(set(ids)) == len(ids)
        for descriptor, credential_id in zip(allowed, ids, strict=True):
            assert len(credential_id) >= 16
            assert descriptor["transports"]
            forged = mallory.get(await api.sign_in_options(), origin=ORIGIN)
            forged["id"] = forged["rawId"] = descriptor["id"]
            response = await api.post("/v1/authentication/verify", forged)
            assert (response.status_code, response.json()["code"]) == (400, "invalid_credential")
            options = await api.post("/v1/registration/options", {"username": new_username()})
            created = SoftAuthenticator().create(
                options.json(), origin=ORIGIN, credential_id=credential_id
            )
            response = await api.post("/v1/registration/verify", created)
            assert (response.status_code, response.json()["code"]) == (409, "credential_exists")
    # Shapes vary within a name's list too, not only between names.
    assert any(len({len(d["id"]) for d in allowed}) > 1 for allowed in several)
    assert await api.scalar("SELECT count(*) FROM users") == 1


async def test_every_replica_lists_the_same_decoy(make_api: ApiFactory) -> None:
    """Two processes on one database (one made the seed at its start-up, the other read
    it): the same decoy for a name, and each recognises the other's."""
    first, second = await make_api(), await make_api(secret_key="another-" + "y" * 40)
    name = "nobody-" + new_username()
    assert await first.sign_in_options(name) != await second.sign_in_options(name)  # challenges
    listed = [(await api.sign_in_options(name))["allowCredentials"] for api in (first, second)]
    assert listed[0] == listed[1]
    assert await first.scalar("SELECT count(*) FROM decoy_seed") == 1


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


async def _listed_id(api: Api, username: str) -> str:
    options = await api.sign_in_options(username)
    return str(options["allowCredentials"][0]["id"])


async def test_discoverable_sign_in_tells_no_decoy_from_a_real_credential(api: Api) -> None:
    """The decoy of an unknown name, shown again in a discoverable sign-in, answers as a
    real user's listed credential does (a bad signature), not as an unknown one."""
    known = new_username()
    assert (await api.sign_up(SoftAuthenticator(), known)).status_code == 201
    mallory = SoftAuthenticator()
    assert (await api.sign_up(mallory)).status_code == 201
    api.client.cookies.clear()
    answers = []
    for name in (known, "nobody-" + known):
        listed = await _listed_id(api, name)
        options = await api.sign_in_options()
        forged = mallory.get(options, origin=ORIGIN)
        forged["id"] = forged["rawId"] = listed
        response = await api.post("/v1/authentication/verify", forged)
        body = response.json()
        body.pop("instance", None)
        answers.append((response.status_code, body))
    assert answers[0] == answers[1]
    assert answers[0][1]["code"] == "invalid_credential"


async def test_a_decoy_id_cannot_be_registered(api: Api) -> None:
    """A registration presenting a listed id answers 409 for a real credential and for a
    decoy alike, and a decoy never becomes somebody's passkey."""
    known = new_username()
    assert (await api.sign_up(SoftAuthenticator(), known)).status_code == 201
    api.client.cookies.clear()
    answers = []
    for name in (known, "nobody-" + known):
        listed = b64url_decode(await _listed_id(api, name))
        options = await api.post("/v1/registration/options", {"username": new_username()})
        credential = SoftAuthenticator().create(options.json(), origin=ORIGIN, credential_id=listed)
        response = await api.post("/v1/registration/verify", credential)
        body = response.json()
        body.pop("instance", None)
        answers.append((response.status_code, body))
    assert answers[0] == answers[1]
    assert answers[0][1]["code"] == "credential_exists"
    assert await api.scalar("SELECT count(*) FROM users") == 1


async def test_a_pre_profile_key_tells_nothing_in_a_username_bound_sign_in(api: Api) -> None:
    """A passkey whose stored key predates the key profiles answers a forged assertion
    in a username-bound ceremony as any other account's would; a discoverable sign-in,
    which names no username, says what is wrong with it."""
    import cbor2

    from tests.unit.test_cose import _p256, _with

    known = new_username()
    laptop = SoftAuthenticator()
    assert (await api.sign_up(laptop, known)).status_code == 201
    await api.execute(
        "UPDATE passkeys SET public_key = :key", key=cbor2.dumps(_with(_p256(), alg=-8))
    )
    mallory = SoftAuthenticator()
    assert (await api.sign_up(mallory)).status_code == 201
    api.client.cookies.clear()
    real = await _answer(api, known, mallory, _as_listed)
    decoy = await _answer(api, "nobody-" + known, mallory, _as_listed)
    assert real == decoy
    response = await api.sign_in(laptop)
    assert (response.status_code, response.json()["code"]) == (403, "untrusted_public_key")
