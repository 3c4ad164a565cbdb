"""The recovery address: changing it (a link to the new address proves it), confirming
the change, removing it; the old verified address hears of each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.errors import (
    EmailTaken,
    RecoveryLinkInvalid,
)
from passkey_api.kit import tokens
from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import emails
from passkey_api.recovery.mailing import enabled, link_key, notified, notify, outbox_place
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.mail import Outbox
from passkey_api.storage.models import User
from passkey_api.users import repository as users

VERIFY_EMAIL = "verify_email"


async def start_email_change(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    user: User,
    *,
    email: str,
    client: ClientInfo,
    now: datetime,
) -> str:
    """Mail a verification link to a new recovery address; it is set when followed."""
    outbox = enabled(settings, outbox)
    address = emails.normalize(email)
    with outbox_place(outbox, settings) as place:
        assert place is not None
        token = tokens.new_token()
        await links.put(
            link_key(token),
            {"purpose": VERIFY_EMAIL, "user_id": str(user.id), "email": address},
            settings.recovery_link_lifetime,
        )
        await audit.record(
            db, "email_verification_sent", user_id=user.id, client=client, now=now, email=address
        )
        await db.commit()
        assert settings.smtp_from is not None
        base = settings.email_verification_url or settings.recovery_url or ""
        place.post(
            emails.verification_message(
                sender=settings.smtp_from,
                to=address,
                rp_name=settings.rp_name,
                url=emails.link(base, token),
                lifetime=settings.recovery_link_lifetime,
            )
        )
    return address


async def confirm_email(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    user: User,
    *,
    token: str,
    client: ClientInfo,
    now: datetime,
) -> User:
    """Follow a verification link, signed in as the user it was sent for."""
    old_address, old_verified_at = user.email, user.email_verified_at
    with outbox_place(outbox, settings, needed=notified(old_address, old_verified_at)) as place:
        state = await links.take(link_key(token))
        if (
            state is None
            or state.get("purpose") != VERIFY_EMAIL
            or state.get("user_id") != str(user.id)
        ):
            raise RecoveryLinkInvalid()
        address = str(state["email"])
        owner = await users.get_by_email(db, address)
        if owner is not None and owner.id != user.id:
            raise EmailTaken()
        try:
            await users.set_email(db, user.id, address, now)
            await audit.record(
                db, "email_verified", user_id=user.id, client=client, now=now, email=address
            )
            await db.commit()
        except IntegrityError:
            await db.rollback()
            raise EmailTaken() from None  # another account verified it in the meantime
        user.email, user.email_verified_at = address, now
        if old_address != address:  # the old mailbox hears of it, not the new one
            notify(
                place,
                settings,
                old_address,
                old_verified_at,
                emails.address_changed_notice,
                client=client,
                now=now,
            )
    return user


async def remove_email(
    db: AsyncSession,
    outbox: Outbox | None,
    settings: Settings,
    user: User,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    old_address, old_verified_at = user.email, user.email_verified_at
    with outbox_place(outbox, settings, needed=notified(old_address, old_verified_at)) as place:
        await users.set_email(db, user.id, None, None)
        await audit.record(db, "email_removed", user_id=user.id, client=client, now=now)
        await db.commit()
        user.email, user.email_verified_at = None, None
        notify(
            place,
            settings,
            old_address,
            old_verified_at,
            emails.address_removed_notice,
            client=client,
            now=now,
        )
