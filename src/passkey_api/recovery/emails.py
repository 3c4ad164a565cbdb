"""Recovery addresses and the messages sent to them (no I/O): recovery and verification
links, and notices to the account owner when a way into the account was used or changed."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import urlsplit

from passkey_api.errors import InvalidEmail
from passkey_api.kit import user_agents
from passkey_api.kit.client_info import ClientInfo

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


# --- notices to the account owner (security events; no codes, no links, no tokens) -------


class Notice(Protocol):
    """What each notice below is: the message for one kind of event."""

    def __call__(
        self, *, sender: str, to: str, rp_name: str, when: datetime, client: ClientInfo
    ) -> EmailMessage: ...


# An IP address comes from the connection (or a trusted proxy); still, one line, capped.
_MAX_IP = 64


def _one_line(text: str) -> str:
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned[:_MAX_IP] + ("..." if len(cleaned) > _MAX_IP else "")


def _notice(
    *,
    sender: str,
    to: str,
    rp_name: str,
    subject: str,
    happened: str,
    when: datetime,
    client: ClientInfo,
) -> EmailMessage:
    lines = [happened, "", f"When: {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"]
    if client.ip:
        lines.append(f"IP address: {_one_line(client.ip)}")
    # The User-Agent is the client's to choose: told in our words from fixed lists (a
    # browser, a system), never quoted, and marked as the device's own claim.
    lines.append(
        f"Browser and system, as the device reported it: {user_agents.describe(client.user_agent)}"
    )
    lines += [
        "",
        "If this was you, there is nothing to do.",
        "",
        f"If it was not you, someone else may have a way into your {rp_name} account: sign "
        "in with your passkey, sign out the sessions and remove the passkeys you do not "
        "recognise, make new recovery codes and check your recovery address. If you cannot "
        f"sign in any more, contact {rp_name} support.",
    ]
    # Wrapped as mail readers expect plain text (and so sent as is, not quoted-printable).
    text = "\n".join(textwrap.fill(line, 72) if line else "" for line in lines)
    return _message(sender, to, subject, text + "\n")


def code_used_notice(
    *, sender: str, to: str, rp_name: str, when: datetime, client: ClientInfo
) -> EmailMessage:
    return _notice(
        sender=sender,
        to=to,
        rp_name=rp_name,
        subject=f"A recovery code was used for your {rp_name} account",
        happened=f"One of your recovery codes was used to get into your {rp_name} account "
        "without a passkey. That code no longer works.",
        when=when,
        client=client,
    )


def link_used_notice(
    *, sender: str, to: str, rp_name: str, when: datetime, client: ClientInfo
) -> EmailMessage:
    return _notice(
        sender=sender,
        to=to,
        rp_name=rp_name,
        subject=f"A recovery link was used for your {rp_name} account",
        happened=f"A recovery link sent to this address was used to get into your {rp_name} "
        "account without a passkey.",
        when=when,
        client=client,
    )


def address_changed_notice(
    *, sender: str, to: str, rp_name: str, when: datetime, client: ClientInfo
) -> EmailMessage:
    # Sent to the old address, which therefore does not learn the new one.
    return _notice(
        sender=sender,
        to=to,
        rp_name=rp_name,
        subject=f"Your {rp_name} recovery address was changed",
        happened=f"This address is no longer the recovery address of your {rp_name} account: "
        "another address replaced it.",
        when=when,
        client=client,
    )


def address_removed_notice(
    *, sender: str, to: str, rp_name: str, when: datetime, client: ClientInfo
) -> EmailMessage:
    return _notice(
        sender=sender,
        to=to,
        rp_name=rp_name,
        subject=f"Your {rp_name} recovery address was removed",
        happened=f"This address is no longer the recovery address of your {rp_name} account: "
        "the account can no longer be recovered by email.",
        when=when,
        client=client,
    )


def codes_generated_notice(
    *, sender: str, to: str, rp_name: str, when: datetime, client: ClientInfo
) -> EmailMessage:
    return _notice(
        sender=sender,
        to=to,
        rp_name=rp_name,
        subject=f"New recovery codes were made for your {rp_name} account",
        happened=f"A new set of recovery codes was made for your {rp_name} account. The "
        "previous codes no longer work.",
        when=when,
        client=client,
    )


def recovery_paused_notice(
    *, sender: str, to: str, rp_name: str, when: datetime, client: ClientInfo, pause: timedelta
) -> EmailMessage:
    hours = max(1, round(pause.total_seconds() / 3600))
    return _notice(
        sender=sender,
        to=to,
        rp_name=rp_name,
        subject=f"Recovery codes of your {rp_name} account are paused",
        happened=f"There were too many failed attempts to get into your {rp_name} account "
        "with a recovery code or link, the last one as below. Recovery with codes is "
        f"paused for {hours} hours: no recovery code works until then. A recovery link "
        "mailed to this address still works: ask for one where you sign in. To lift the "
        "pause now, sign in with your passkey; it was not affected.",
        when=when,
        client=client,
    )
