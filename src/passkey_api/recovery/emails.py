"""Recovery addresses and the messages sent to them (no I/O)."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from passkey_api.errors import InvalidEmail

MAX_LENGTH = 254
# A deliberately plain shape: ASCII, one @, a dotted domain. Whether it is a mailbox the
# user reads is proven by the link sent to it, not by a syntax check.
_ADDRESS = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


def normalize(raw: str) -> str:
    """The address as stored and compared: trimmed and lowercased (mailbox providers
    ignore case), or InvalidEmail."""
    address = raw.strip().lower()
    if len(address) > MAX_LENGTH or not _ADDRESS.match(address):
        raise InvalidEmail("This is not an email address (ASCII, name@domain.tld).")
    return address


def link(base: str, token: str) -> str:
    # In the fragment: browsers never send it to a server, so the token stays out of
    # access logs and Referer headers; the page reads it and POSTs it back.
    return f"{base}#token={token}"


def _message(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or None)
    message.set_content(text)
    return message


def _minutes(lifetime: timedelta) -> int:
    return max(1, round(lifetime.total_seconds() / 60))


def recovery_message(
    *, sender: str, to: str, rp_name: str, url: str, lifetime: timedelta
) -> EmailMessage:
    site = urlsplit(url).hostname or rp_name
    return _message(
        sender,
        to,
        f"Recover your {rp_name} account",
        f"Someone asked to recover the {rp_name} account of this address.\n\n"
        f"If it was you, open this link within {_minutes(lifetime)} minutes, on {site}, "
        "and add a new passkey:\n\n"
        f"{url}\n\n"
        "The link works once. If it was not you, ignore this message: nothing changes.\n",
    )


def verification_message(
    *, sender: str, to: str, rp_name: str, url: str, lifetime: timedelta
) -> EmailMessage:
    return _message(
        sender,
        to,
        f"Confirm your {rp_name} recovery address",
        f"Open this link within {_minutes(lifetime)} minutes, signed in to {rp_name}, to use "
        "this address to recover your account if you lose your passkeys:\n\n"
        f"{url}\n\n"
        "If you did not ask for this, ignore this message.\n",
    )
