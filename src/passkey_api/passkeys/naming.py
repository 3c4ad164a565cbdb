"""What a new passkey is called until its owner renames it.

The name is stored once and then shown on every device the owner signs in from, so it
must stay true everywhere: never "This device". The provider's name when the AAGUID list
knows the authenticator; otherwise what kind of authenticator it is (the attachment the
browser reported, then the transports), or, for one built into the computer or phone the
ceremony ran on, the browser and system it was made in (named from fixed lists, never
quoted from the header); and the day it was made, so that two of a kind differ.
"""

from __future__ import annotations

from datetime import datetime

from passkey_api.kit import user_agents
from passkey_api.kit.text import PASSKEY_NAME_LENGTH
from passkey_api.passkeys.providers import PLATFORM, provider

_ROAMING = (
    ("hybrid", "Phone or tablet"),
    ("usb", "Security key"),
    ("nfc", "Security key"),
    ("ble", "Security key"),
    ("smart-card", "Smart card"),
)


def new_passkey_name(
    *,
    aaguid: str,
    transports: list[str],
    attachment: str | None,
    user_agent: str | None,
    created_at: datetime,
) -> str:
    found = provider(aaguid, transports)
    if found.known:
        return found.name
    name = f"{_kind(transports, attachment, user_agent)}, {_day(created_at)}"
    return name[:PASSKEY_NAME_LENGTH]


def _kind(transports: list[str], attachment: str | None, user_agent: str | None) -> str:
    # A browser reports "cross-platform" for a passkey made on another device (a phone
    # over hybrid, a security key); without an attachment, "internal" says built in.
    roaming = attachment == "cross-platform" or (
        attachment is None and "internal" not in transports
    )
    if not roaming:
        return _made_in(user_agent)
    for transport, kind in _ROAMING:
        if transport in transports:
            return kind
    return "Phone or security key"


def _made_in(user_agent: str | None) -> str:
    """`Chrome on Linux`, `Safari`, `A computer or phone` for a browser we cannot name."""
    if not user_agent:
        return PLATFORM
    browser = user_agents.browser(user_agent)
    system = user_agents.system(user_agent)
    if browser == user_agents.UNKNOWN_BROWSER:
        return f"{system} device" if system else PLATFORM
    return f"{browser} on {system}" if system else browser


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(moment: datetime) -> str:
    """`5 Dec 2026`, in UTC: the same words whatever the process's locale."""
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"
