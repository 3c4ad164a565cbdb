"""Strict WebAuthn structures: every attestation object or authenticator data that
py_webauthn would have read leniently is refused with its code, and nothing is written.
Then a hostile-input sweep: generated mutations never give a 500 or a stored row."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

import cbor2
import pytest

from tests.api.conftest import ORIGIN, Api, new_username, problem_code
from tests.forge import (
    auth_data_of,
    map_bytes,
    with_attestation_object,
    with_auth_data,
    with_extensions,
    with_key,
)
from tests.softauthn import SoftAuthenticator, b64url, b64url_decode


async def _registration(api: Api, **authenticator: Any) -> dict[str, Any]:
    options = await api.post("/v1/registration/options", {"username": new_username()})
    return SoftAuthenticator(**authenticator).create(options.json(), origin=ORIGIN)


def _object(credential: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = cbor2.loads(b64url_decode(credential["response"]["attestationObject"]))
    return value


def _t(text: str) -> bytes:
    return cbor2.dumps(text)


def _parts(credential: dict[str, Any]) -> dict[str, bytes]:
    obj = _object(credential)
    return {k: cbor2.dumps(v) for k, v in obj.items()}


Forgery = Callable[[dict[str, Any]], dict[str, Any]]

ATTESTATION_FORGERIES: dict[str, Forgery] = {
    "bytes after the map": lambda c: with_attestation_object(c, cbor2.dumps(_object(c)) + b"\x00"),
    "a key twice": lambda c: with_attestation_object(
        c,
        map_bytes(
            (_t("fmt"), _parts(c)["fmt"]),
            (_t("fmt"), _parts(c)["fmt"]),
            (_t("attStmt"), _parts(c)["attStmt"]),
            (_t("authData"), _parts(c)["authData"]),
        ),
    ),
    "an extra key": lambda c: with_attestation_object(c, cbor2.dumps({**_object(c), "extra": 1})),
    "no fmt": lambda c: with_attestation_object(
        c, cbor2.dumps({k: v for k, v in _object(c).items() if k != "fmt"})
    ),
    "no attStmt": lambda c: with_attestation_object(
        c, cbor2.dumps({k: v for k, v in _object(c).items() if k != "attStmt"})
    ),
    "no authData": lambda c: with_attestation_object(
        c, cbor2.dumps({k: v for k, v in _object(c).items() if k != "authData"})
    ),
    "attStmt an array": lambda c: with_attestation_object(
        c, cbor2.dumps({**_object(c), "attStmt": []})
    ),
    "none with an attStmt": lambda c: with_attestation_object(
        c, cbor2.dumps({**_object(c), "attStmt": {"sig": b"\x00"}})
    ),
    "fmt as bytes": lambda c: with_attestation_object(
        c, cbor2.dumps({**_object(c), "fmt": b"none"})
    ),
    "a tag around the map": lambda c: with_attestation_object(
        c, b"\xd9\xd9\xf7" + cbor2.dumps(_object(c))
    ),
    "an indefinite-length map": lambda c: with_attestation_object(
        c,
        b"\xbf" + b"".join(_t(k) + cbor2.dumps(v) for k, v in _object(c).items()) + b"\xff",
    ),
    "not a map": lambda c: with_attestation_object(c, cbor2.dumps([1, 2, 3])),
}


@pytest.mark.parametrize("name", ATTESTATION_FORGERIES)
async def test_malformed_attestation_objects(api: Api, name: str) -> None:
    credential = ATTESTATION_FORGERIES[name](await _registration(api))
    response = await api.post("/v1/registration/verify", credential)
    assert (response.status_code, problem_code(response)) == (422, "malformed_attestation")
    assert await api.scalar("SELECT count(*) FROM users") == 0


AUTH_DATA_FORGERIES: dict[str, Forgery] = {
    "bytes after the key without ED": lambda c: with_auth_data(c, auth_data_of(c) + b"\x00"),
    "a CBOR map after the key without ED": lambda c: with_auth_data(
        c, auth_data_of(c) + cbor2.dumps({"credProtect": 1})
    ),
    "ED with no extensions": lambda c: with_extensions(c, b""),
    "ED with an array": lambda c: with_extensions(c, cbor2.dumps([1])),
    "ED with two maps": lambda c: with_extensions(c, cbor2.dumps({"a": 1}) + cbor2.dumps({"b": 2})),
    "ED with bytes after the map": lambda c: with_extensions(c, cbor2.dumps({"a": 1}) + b"\x00"),
    "ED with integer keys": lambda c: with_extensions(c, cbor2.dumps({1: 1})),
    "ED with a key twice": lambda c: with_extensions(
        c, map_bytes((_t("a"), b"\x01"), (_t("a"), b"\x02"))
    ),
    "no attested credential data": lambda c: with_auth_data(
        c, bytes([*auth_data_of(c)[:32], auth_data_of(c)[32] & ~0x40]) + auth_data_of(c)[33:37]
    ),
    "cut short": lambda c: with_auth_data(c, auth_data_of(c)[:60]),
    "a credential id longer than the data": lambda c: with_auth_data(
        c, auth_data_of(c)[:53] + struct.pack(">H", 1000) + auth_data_of(c)[55:]
    ),
}


@pytest.mark.parametrize("name", AUTH_DATA_FORGERIES)
async def test_malformed_authenticator_data_at_sign_up(api: Api, name: str) -> None:
    credential = AUTH_DATA_FORGERIES[name](await _registration(api))
    response = await api.post("/v1/registration/verify", credential)
    assert (response.status_code, problem_code(response)) == (
        422,
        "malformed_authenticator_data",
    ), name
    assert await api.scalar("SELECT count(*) FROM users") == 0


async def test_well_formed_extensions_are_accepted(api: Api) -> None:
    credential = with_extensions(await _registration(api), cbor2.dumps({"credProtect": 2}))
    response = await api.post("/v1/registration/verify", credential)
    assert response.status_code == 201, response.text


async def test_the_stored_key_is_the_slice_the_authenticator_signed(api: Api) -> None:
    """A COSE key in another (valid) key order: py_webauthn re-encodes what it decodes,
    so it would have stored other bytes than the authenticator's."""
    credential = await _registration(api)
    auth_data = auth_data_of(credential)
    (id_length,) = struct.unpack_from(">H", auth_data, 53)
    key = cbor2.loads(auth_data[55 + id_length :])
    reordered = b"\xa5" + b"".join(
        cbor2.dumps(label) + cbor2.dumps(key[label]) for label in (-3, -2, -1, 3, 1)
    )
    assert reordered != cbor2.dumps(key, canonical=True)
    response = await api.post("/v1/registration/verify", with_key(credential, reordered))
    assert response.status_code == 201, response.text
    assert bytes(await api.scalar("SELECT public_key FROM passkeys")) == reordered


def _sign_in_auth_data(credential: dict[str, Any]) -> bytes:
    return b64url_decode(credential["response"]["authenticatorData"])


async def _assertion(api: Api) -> tuple[SoftAuthenticator, dict[str, Any], dict[str, Any]]:
    laptop = SoftAuthenticator()
    assert (await api.sign_up(laptop)).status_code == 201
    api.client.cookies.clear()
    options = await api.sign_in_options()
    return laptop, options, laptop.get(options, origin=ORIGIN)


def _resigned(
    laptop: SoftAuthenticator, credential: dict[str, Any], auth_data: bytes
) -> dict[str, Any]:
    """The assertion with other authenticator data, signed again by the real key: only
    the structure is wrong, never the signature."""
    import hashlib

    cred = next(iter(laptop.credentials.values()))
    client_data = b64url_decode(credential["response"]["clientDataJSON"])
    credential["response"]["authenticatorData"] = b64url(auth_data)
    credential["response"]["signature"] = b64url(
        cred.sign(auth_data + hashlib.sha256(client_data).digest())
    )
    return credential


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("bytes after the header without ED", lambda a: a + b"\x00"),
        ("ED with no extensions", lambda a: bytes([*a[:32], a[32] | 0x80]) + a[33:]),
        (
            "ED with bytes after the map",
            lambda a: bytes([*a[:32], a[32] | 0x80]) + a[33:] + cbor2.dumps({"a": 1}) + b"\0",
        ),
        ("ED with an array", lambda a: bytes([*a[:32], a[32] | 0x80]) + a[33:] + b"\x80"),
        ("AT in an assertion", lambda a: bytes([*a[:32], a[32] | 0x40]) + a[33:]),
        ("shorter than 37 bytes", lambda a: a[:36]),
    ],
)
async def test_malformed_authenticator_data_at_sign_in(
    api: Api, name: str, change: Callable[[bytes], bytes]
) -> None:
    laptop, _, credential = await _assertion(api)
    forged = _resigned(laptop, credential, change(_sign_in_auth_data(credential)))
    response = await api.post("/v1/authentication/verify", forged)
    assert (response.status_code, problem_code(response)) == (
        422,
        "malformed_authenticator_data",
    ), name
    assert await api.scalar("SELECT count(*) FROM sessions") == 1  # the sign-up's


async def test_sign_in_with_well_formed_extensions(api: Api) -> None:
    laptop, _, credential = await _assertion(api)
    auth_data = _sign_in_auth_data(credential)
    extended = bytes([*auth_data[:32], auth_data[32] | 0x80]) + auth_data[33:]
    forged = _resigned(laptop, credential, extended + cbor2.dumps({"appid": False}))
    response = await api.post("/v1/authentication/verify", forged)
    assert response.status_code == 200, response.text


def _mutations(seed: int, raw: bytes, count: int) -> list[bytes]:
    """Byte flips, cuts, insertions and appended CBOR, reproducible from the seed."""
    rng = random.Random(seed)
    found: list[bytes] = []
    for _ in range(count):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(4)
            at = rng.randrange(len(data))
            if kind == 0:
                data[at] = rng.randrange(256)
            elif kind == 1:
                del data[at : at + rng.randint(1, 8)]
            elif kind == 2:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            else:
                data += cbor2.dumps(rng.choice([0, -1, b"", "", [], {}, {"a": 1}, 1.5, None]))
        found.append(bytes(data))
    return found


async def test_mutated_registrations_never_500_nor_store(api: Api) -> None:
    """Mutations of valid attestation objects, through the whole API: a clean problem or
    a success, and every key stored one of the accepted profiles, each with its user."""
    from passkey_api.kit import cose

    outcomes: set[int] = set()
    for seed in range(80):
        credential = await _registration(api)
        raw = b64url_decode(credential["response"]["attestationObject"])
        (mutated,) = _mutations(seed, raw, 1)
        response = await api.post(
            "/v1/registration/verify", with_attestation_object(credential, mutated)
        )
        assert response.status_code < 500, (seed, response.text)
        if response.status_code != 201:
            problem_code(response)
        outcomes.add(response.status_code)
    assert outcomes - {201}, "no mutation was refused: the sweep tests nothing"
    async with api.resources.engine.connect() as connection:
        from sqlalchemy import text

        keys = (await connection.execute(text("SELECT public_key FROM passkeys"))).scalars()
        for key in keys:
            cose.load(bytes(key))
    assert await api.scalar("SELECT count(*) FROM passkeys") == await api.scalar(
        "SELECT count(*) FROM users"
    )
