"""GET /v1/me/passkeys tells whether losing one device locks the user out (`recovery_risk`)
and, when it does not, what keeps the account reachable (`recovery_safeguards`): passkeys
on two or more authenticators, a synced passkey, unused recovery codes, a verified
recovery address; each in a sentence a person can read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import Api, ApiFactory
from tests.api.test_recovery_email import _mail_api, user_with_address
from tests.smtp import SmtpServer, smtp_server
from tests.softauthn import SoftAuthenticator

GOOGLE_PM = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")


@pytest.fixture(scope="module")
async def smtp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    async with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


def security_key() -> SoftAuthenticator:
    return SoftAuthenticator(transports=["usb"], attachment="cross-platform")


async def listing(api: Api) -> dict[str, Any]:
    response = await api.client.get("/v1/me/passkeys")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def kinds(body: dict[str, Any]) -> list[str]:
    return [safeguard["kind"] for safeguard in body["recovery_safeguards"]]


async def test_one_device_bound_passkey_is_a_risk(api: Api) -> None:
    await api.sign_up(security_key())
    body = await listing(api)
    assert body["recovery_risk"] is True
    assert body["recovery_safeguards"] == []
    assert "lose it" in body["recovery_advice"]


async def test_a_second_device_bound_key_protects_the_account(api: Api) -> None:
    """The issue's case: a laptop's device-bound passkey, then a security key; both have
    the same (all-zero) AAGUID, yet they are two authenticators: adding a passkey lists
    every passkey of the account in excludeCredentials, so no authenticator holds two."""
    laptop = SoftAuthenticator()
    await api.sign_up(laptop)
    added = await api.add_passkey(security_key(), attachment="cross-platform")
    assert added.status_code == 201, added.text
    body = await listing(api)
    assert body["recovery_risk"] is False
    assert kinds(body) == ["passkeys_on_several_authenticators"]
    [safeguard] = body["recovery_safeguards"]
    assert "2 " in safeguard["detail"]
    assert body["recovery_advice"] is None


async def test_two_keys_of_one_model_are_two_authenticators(api: Api) -> None:
    yubikey = bytes.fromhex("ee882879721c491397753dfcce97072a")  # YubiKey 5 Series
    first = SoftAuthenticator(aaguid=yubikey, transports=["usb"], attachment="cross-platform")
    await api.sign_up(first)
    second = SoftAuthenticator(aaguid=yubikey, transports=["usb"], attachment="cross-platform")
    assert (await api.add_passkey(second)).status_code == 201
    body = await listing(api)
    assert body["recovery_risk"] is False
    assert kinds(body) == ["passkeys_on_several_authenticators"]


async def test_a_synced_passkey_protects_the_account(api: Api) -> None:
    synced = SoftAuthenticator(aaguid=GOOGLE_PM, backup_eligible=True, backup_state=True)
    await api.sign_up(synced)
    body = await listing(api)
    assert body["recovery_risk"] is False
    assert kinds(body) == ["synced_passkey"]
    assert "Google Password Manager" in body["recovery_safeguards"][0]["detail"]


async def test_two_synced_passkeys_of_one_manager_are_one_authenticator(api: Api) -> None:
    phone = SoftAuthenticator(aaguid=GOOGLE_PM, backup_eligible=True, backup_state=True)
    await api.sign_up(phone)
    tablet = SoftAuthenticator(aaguid=GOOGLE_PM, backup_eligible=True, backup_state=True)
    assert (await api.add_passkey(tablet)).status_code == 201
    body = await listing(api)
    # One Google account may hold both: it is the synced passkey that protects it.
    assert kinds(body) == ["synced_passkey"]


async def test_unused_recovery_codes_protect_the_account(api: Api) -> None:
    await api.sign_up(security_key())
    made = await api.client.post("/v1/me/recovery-codes")
    assert made.status_code == 201, made.text
    body = await listing(api)
    assert body["recovery_risk"] is False
    assert kinds(body) == ["recovery_codes"]
    assert "10 unused recovery codes" in body["recovery_safeguards"][0]["detail"]


async def test_a_verified_recovery_address_protects_the_account(
    make_api: ApiFactory, smtp: SmtpServer
) -> None:
    api = await _mail_api(make_api, smtp)
    await user_with_address(api, smtp)
    body = await listing(api)
    assert body["recovery_risk"] is False
    assert kinds(body) == ["recovery_address"]


async def test_every_safeguard_is_listed(api: Api) -> None:
    synced = SoftAuthenticator(aaguid=GOOGLE_PM, backup_eligible=True, backup_state=True)
    await api.sign_up(synced)
    assert (await api.add_passkey(security_key())).status_code == 201
    assert (await api.client.post("/v1/me/recovery-codes")).status_code == 201
    body = await listing(api)
    assert kinds(body) == ["passkeys_on_several_authenticators", "synced_passkey", "recovery_codes"]
