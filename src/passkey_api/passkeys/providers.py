"""Which product made a passkey, from its AAGUID (the community passkey-authenticator-aaguids
list, shipped in data/aaguid.json; `scripts/refresh-aaguids` updates it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

# What an authenticator built into a computer or phone is called when its model is not
# known: true on every device that shows it (so never "This device").
PLATFORM = "Computer or phone"

# AAGUIDs are all zero when the authenticator hides its model (U2F keys, attestation
# "none" on some platforms): the transports are then the best hint.
_BY_TRANSPORT = (
    ("internal", PLATFORM),
    ("hybrid", "Phone or tablet"),
    ("usb", "Security key"),
    ("nfc", "Security key"),
    ("ble", "Security key"),
    ("smart-card", "Smart card"),
)


@dataclass(frozen=True)
class Provider:
    name: str
    icon_light: str | None
    icon_dark: str | None
    known: bool


@cache
def _catalogue() -> dict[str, dict[str, str]]:
    text = resources.files("passkey_api").joinpath("data/aaguid.json").read_text()
    data: dict[str, dict[str, str]] = json.loads(text)
    return data


def provider(aaguid: str, transports: list[str]) -> Provider:
    entry = _catalogue().get(aaguid.lower())
    if entry is not None:
        return Provider(entry["name"], entry.get("icon_light"), entry.get("icon_dark"), True)
    for transport, name in _BY_TRANSPORT:
        if transport in transports:
            return Provider(name, None, None, False)
    return Provider("Passkey", None, None, False)
