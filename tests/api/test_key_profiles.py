"""Only keys that can be trusted are stored, and only those verify: every key profile the
reviews found accepted is refused at sign-up, with nothing written; a key stored before
the profiles were enforced is refused at sign-in and listed by `passkeys audit`."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import cbor2
import pytest
from click.testing import CliRunner

from passkey_api.cli import main
from tests.api.conftest import ORIGIN, Api, new_username, problem_code
from tests.forge import with_key
from tests.softauthn import EDDSA, SoftAuthenticator, b64url
from tests.unit.test_cose import REFUSED, _ed25519, _p256, _with

IDENTITY = b"\x01" + bytes(31)  # the Ed25519 identity point: a key that verifies anything


async def _register_with_key(api: Api, key: bytes) -> Any:
    options = await api.post("/v1/registration/options", {"username": new_username()})
    credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)
    return await api.post("/v1/registration/verify", with_key(credential, key))


async def _nothing_written(api: Api) -> None:
    assert await api.scalar("SELECT count(*) FROM users") == 0
    assert await api.scalar("SELECT count(*) FROM passkeys") == 0
    assert await api.scalar("SELECT count(*) FROM sessions") == 0


@pytest.mark.parametrize("name", REFUSED)
async def test_sign_up_refuses_the_key(api: Api, name: str) -> None:
    response = await _register_with_key(api, cbor2.dumps(REFUSED[name]()))
    assert (response.status_code, problem_code(response)) == (400, "invalid_public_key")
    await _nothing_written(api)


async def test_sign_up_refuses_an_algorithm_not_offered(api: Api) -> None:
    response = await _register_with_key(api, cbor2.dumps(_with(_p256(), alg=-35)))
    assert (response.status_code, problem_code(response)) == (400, "unsupported_algorithm")
    await _nothing_written(api)


async def test_adding_a_passkey_refuses_the_key_too(api: Api) -> None:
    laptop = SoftAuthenticator()
    assert (await api.sign_up(laptop)).status_code == 201
    assert (await api.reauthenticate(laptop, "passkeys")).status_code == 200
    options = await api.post("/v1/me/passkeys/options", {})
    credential = SoftAuthenticator().create(options.json(), origin=ORIGIN)
    forged = with_key(credential, cbor2.dumps(_with(_ed25519(), x=IDENTITY)))
    response = await api.post("/v1/me/passkeys/verify", forged)
    assert (response.status_code, problem_code(response)) == (400, "invalid_public_key")
    assert await api.scalar("SELECT count(*) FROM passkeys") == 1


def _forged_assertion(options: dict[str, Any], credential_id: bytes) -> dict[str, Any]:
    """An assertion made without any secret: R = identity, S = 0, which verifies every
    message under the identity key."""
    holder = SoftAuthenticator(alg=EDDSA)
    holder.create(
        {
            "rp": {"id": "localhost", "name": "x"},
            "user": {"id": b64url(b"u"), "name": "u", "displayName": "u"},
            "challenge": options["challenge"],
            "pubKeyCredParams": [{"type": "public-key", "alg": EDDSA}],
        },
        origin=ORIGIN,
        credential_id=credential_id,
    )
    assertion = holder.get(options, origin=ORIGIN, credential_id=credential_id, user_handle=None)
    assertion["response"]["signature"] = b64url(IDENTITY + bytes(32))
    return assertion


async def test_a_stored_small_order_key_cannot_sign_in(api: Api) -> None:
    """A key stored before the profiles (here written by hand, as an old release did)
    would let anyone who knows the username sign in with no secret at all."""
    laptop = SoftAuthenticator(alg=EDDSA)
    username = new_username()
    assert (await api.sign_up(laptop, username)).status_code == 201
    api.client.cookies.clear()
    credential_id = next(iter(laptop.credentials))
    await api.execute(
        "UPDATE passkeys SET public_key = :key",
        key=cbor2.dumps(_with(_ed25519(), x=IDENTITY)),
    )
    # Username first: refused as any forgery is, so that it tells nothing of the account.
    options = await api.sign_in_options(username)
    forged = _forged_assertion(options, credential_id)
    response = await api.post("/v1/authentication/verify", forged)
    assert (response.status_code, problem_code(response)) == (400, "invalid_credential")
    # Discoverable (no username asked about): the key's fault said plainly.
    forged = _forged_assertion(await api.sign_in_options(), credential_id)
    response = await api.post("/v1/authentication/verify", forged)
    assert (response.status_code, problem_code(response)) == (403, "untrusted_public_key")
    assert await api.scalar("SELECT count(*) FROM sessions") == 1  # the sign-up's alone


async def test_passkeys_audit_lists_untrusted_keys(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = new_username(), new_username()
    assert (await api.sign_up(SoftAuthenticator(), good)).status_code == 201
    assert (await api.sign_up(SoftAuthenticator(), bad)).status_code == 201
    for name in ("PASSKEY_ENV", "PASSKEY_REDIS_URL", "PASSKEY_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PASSKEY_DATABASE_URL", api.settings.resolved_database_url)
    monkeypatch.setenv("PASSKEY_SECRET_KEY", "k" * 40)
    clean = await asyncio.to_thread(CliRunner().invoke, main, ["passkeys", "audit"])
    assert clean.exit_code == 0, clean.output

    await api.execute(
        "UPDATE passkeys SET public_key = :key WHERE user_id = "
        "(SELECT id FROM users WHERE username = :name)",
        key=cbor2.dumps(_with(_p256(), alg=-8)),
        name=bad,
    )
    found = await asyncio.to_thread(CliRunner().invoke, main, ["passkeys", "audit"])
    assert found.exit_code == 1
    assert bad in found.output
    assert good not in found.output


async def test_rsa_keys_past_4096_bits_are_refused(api: Api) -> None:
    """No authenticator makes them; a huge key only costs storage and cache memory."""
    from tests.unit.test_cose import _rsa

    response = await _register_with_key(api, cbor2.dumps(_rsa(8192)))
    assert (response.status_code, problem_code(response)) == (400, "invalid_public_key")
    await _nothing_written(api)


async def test_an_account_holds_at_most_50_passkeys(api: Api) -> None:
    from sqlmodel import select

    from passkey_api.ceremonies.add_passkey import MAX_PASSKEYS_PER_USER
    from passkey_api.storage.models import Passkey

    laptop = SoftAuthenticator()
    assert (await api.sign_up(laptop)).status_code == 201
    # The others written through the ORM, to reach the bound quickly.
    async with api.resources.databases.session() as db:
        first = (await db.exec(select(Passkey))).one()
        for index in range(MAX_PASSKEYS_PER_USER - 1):
            copy = first.model_dump()
            copy.update(id=uuid.uuid4(), credential_id=os.urandom(16), name=f"key {index}")
            db.add(Passkey(**copy))
        await db.commit()
    assert await api.scalar("SELECT count(*) FROM passkeys") == MAX_PASSKEYS_PER_USER
    options = await api.post("/v1/me/passkeys/options", {})
    assert (options.status_code, problem_code(options)) == (409, "too_many_passkeys")
