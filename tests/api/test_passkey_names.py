"""What a new passkey is called: its provider's name when the AAGUID list knows it, and
otherwise a name that stays true on every device that shows it (never "This device"):
what kind of authenticator it is, or the browser and system it was made in, with the
date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.api.conftest import ORIGIN, Api
from tests.softauthn import SoftAuthenticator

GOOGLE_PM = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")
CHROME_ON_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_ON_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Safari/605.1.15"
)


def today() -> str:
    now = datetime.now(UTC)
    return f"{now.day} {now:%b %Y}"


async def sign_up_named(api: Api, authenticator: SoftAuthenticator, user_agent: str) -> str:
    response = await api.sign_up(authenticator, headers={"User-Agent": user_agent})
    assert response.status_code == 201, response.text
    return await only_name(api)


async def only_name(api: Api) -> str:
    [passkey] = (await api.client.get("/v1/me/passkeys")).json()["passkeys"]
    assert passkey["provider"]["name"] != "This device"
    return str(passkey["name"])


async def add(api: Api, authenticator: SoftAuthenticator, user_agent: str, **body: Any) -> Any:
    options = await api.post("/v1/me/passkeys/options", body)
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json(), origin=ORIGIN)
    added = await api.post("/v1/me/passkeys/verify", credential, headers={"User-Agent": user_agent})
    assert added.status_code == 201, added.text
    return added.json()


async def test_a_platform_passkey_is_named_after_its_browser_and_day(api: Api) -> None:
    laptop = SoftAuthenticator(transports=["internal"], attachment="platform")
    assert await sign_up_named(api, laptop, CHROME_ON_LINUX) == f"Chrome on Linux, {today()}"


async def test_a_synced_platform_passkey_of_an_unknown_provider(api: Api) -> None:
    # iCloud Keychain gives an all-zero AAGUID: the list cannot name it.
    mac = SoftAuthenticator(
        transports=["hybrid", "internal"],
        attachment="platform",
        backup_eligible=True,
        backup_state=True,
    )
    assert await sign_up_named(api, mac, SAFARI_ON_MAC) == f"Safari on macOS, {today()}"


async def test_a_security_key_is_a_security_key_everywhere(api: Api) -> None:
    key = SoftAuthenticator(transports=["usb", "nfc"], attachment="cross-platform")
    assert await sign_up_named(api, key, CHROME_ON_LINUX) == f"Security key, {today()}"


async def test_a_phone_over_hybrid_is_a_phone_not_this_device(api: Api) -> None:
    # A phone reached by QR code reports its own transports, "internal" among them.
    phone = SoftAuthenticator(transports=["hybrid", "internal"], attachment="cross-platform")
    assert await sign_up_named(api, phone, CHROME_ON_LINUX) == f"Phone or tablet, {today()}"


async def test_an_unknown_browser_still_gets_a_true_name(api: Api) -> None:
    laptop = SoftAuthenticator(transports=["internal"], attachment="platform")
    assert await sign_up_named(api, laptop, "curl/8.5.0") == f"Computer or phone, {today()}"


async def test_a_known_provider_keeps_its_name(api: Api) -> None:
    synced = SoftAuthenticator(aaguid=GOOGLE_PM, backup_eligible=True, backup_state=True)
    assert await sign_up_named(api, synced, CHROME_ON_LINUX) == "Google Password Manager"


async def test_an_added_passkey_is_named_by_the_same_rule(api: Api) -> None:
    laptop = SoftAuthenticator(transports=["internal"], attachment="platform")
    await sign_up_named(api, laptop, SAFARI_ON_MAC)
    key = SoftAuthenticator(transports=["usb"], attachment="cross-platform")
    added = await add(api, key, SAFARI_ON_MAC, attachment="cross-platform")
    assert added["name"] == f"Security key, {today()}"
    assert added["provider"]["name"] == "Security key"
