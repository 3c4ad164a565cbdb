"""What every step that mails shares: whether mail is on, the outbox place a unit of work
takes before it changes anything, the notices to the owner (posted after the commit),
and the key an emailed link is stored under."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.config import Settings
from passkey_api.errors import (
    EmailRecoveryDisabled,
    MailQueueFull,
)
from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import attempts, emails
from passkey_api.storage.mail import Outbox, Place


def enabled(settings: Settings, outbox: Outbox | None) -> Outbox:
    if outbox is None or not settings.email_recovery:
        raise EmailRecoveryDisabled("This service sends no mail (PASSKEY_SMTP_* not set).")
    return outbox


def link_key(token: str) -> bytes:
    # The store holds only a hash of the token: a copy of Redis opens no link.
    return hashlib.sha256(token.encode("ascii")).digest()


def notified(address: str | None, verified_at: datetime | None) -> bool:
    """Whether an account's notices go anywhere: only to a verified address."""
    return address is not None and verified_at is not None


@contextlib.contextmanager
def outbox_place(
    outbox: Outbox | None, settings: Settings, *, needed: bool = True
) -> Iterator[Place | None]:
    """A place in the outbox for the message this unit of work may post, taken before it
    changes anything (a full outbox refuses it: MailQueueFull) and given back on the way
    out unless posted. None when mail is off or nothing can be sent."""
    if outbox is None or not settings.email_recovery or not needed:
        yield None
        return
    place = outbox.reserve()
    try:
        yield place
    finally:
        place.release()


async def place_or_give_back(
    db: AsyncSession, outbox: Outbox | None, settings: Settings, user_id: uuid.UUID
) -> Place | None:
    """A place for a code attempt's due notice; without room, the attempt is given back
    (what the unit of work did is rolled back: the code is not used up) and MailQueueFull
    goes up."""
    if outbox is None or not settings.email_recovery:
        return None
    try:
        return outbox.reserve()
    except MailQueueFull:
        await db.rollback()
        await attempts.give_back(db, user_id)
        await db.commit()
        raise


def notify(
    place: Place | None,
    settings: Settings,
    address: str | None,
    verified_at: datetime | None,
    notice: emails.Notice,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    """Post a notice to the account's recovery address, if it was verified and mail is
    configured (`place` from place); call only after the commit (what it tells has
    happened)."""
    if place is None or address is None or verified_at is None:
        return
    assert settings.smtp_from is not None
    place.post(
        notice(
            sender=settings.smtp_from, to=address, rp_name=settings.rp_name, when=now, client=client
        )
    )
