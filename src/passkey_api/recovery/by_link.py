"""Recovery by emailed link: a link sent to the account's verified recovery address
(the same answer whether or not the address is known), and redeemed once for a
restricted session."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.errors import (
    EmailRecoveryDisabled,
    RecoveryLinkInvalid,
)
from passkey_api.kit import tokens
from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import attempts, emails
from passkey_api.recovery.mailing import enabled, link_key, notify, outbox_place
from passkey_api.recovery.outcomes import Owner, Started, pause, start
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.mail import Outbox
from passkey_api.users import repository as users

RECOVER = "recover"

# What send_recovery_link leaves for after the answer.
AfterAnswer = Callable[[], Awaitable[None]]


async def send_recovery_link(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    *,
    email: str,
    client: ClientInfo,
    now: datetime,
) -> AfterAnswer:
    """Mail a one-time recovery link if the address recovers an account. Known or not,
    the same work happens here (a place in the outbox, a lookup, a stored token, an audit
    row); building and posting the message, or giving the place back, is what the caller
    runs after the answer, so the answer's time tells nothing either."""
    outbox = enabled(settings, outbox)
    address = emails.normalize(email)
    place = outbox.reserve()
    try:
        user = await users.get_by_email(db, address)
        # A pause of codes (attempts.py) does not stop links: the owner's way back in.
        target = user if user is not None and user.disabled_at is None else None
        token = tokens.new_token()
        # An unknown address gets a token bound to no account: stored alike, opening nothing.
        await links.put(
            link_key(token),
            {
                "purpose": RECOVER,
                "user_id": str(target.id) if target is not None else None,
                "email": address,
            },
            settings.recovery_link_lifetime,
        )
        await audit.record(
            db,
            "recovery_email_requested",
            user_id=target.id if target is not None else None,
            client=client,
            now=now,
            success=target is not None,
            code=None if target is not None else "unknown_address",
        )
        await db.commit()
    except BaseException:
        place.release()
        raise

    async def after_answer() -> None:
        try:
            if target is not None:
                assert settings.recovery_url is not None
                assert settings.smtp_from is not None
                place.post(
                    emails.recovery_message(
                        sender=settings.smtp_from,
                        to=address,
                        rp_name=settings.rp_name,
                        url=emails.link(settings.recovery_url, token),
                        lifetime=settings.recovery_link_lifetime,
                    )
                )
        finally:
            place.release()

    return after_answer


async def redeem_link(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    *,
    token: str,
    client: ClientInfo,
    now: datetime,
) -> Started:
    """Follow a recovery link: a restricted session, once; `recovery_link_invalid` for an
    unknown, used or expired link, or one whose address no longer recovers the account."""
    if not settings.email_recovery:
        raise EmailRecoveryDisabled()
    # Before the link is taken: a full outbox must not cost the owner their link.
    with outbox_place(outbox, settings) as place:
        state = await links.take(link_key(token))
        user_id = state.get("user_id") if state is not None else None
        user = await users.get(db, uuid.UUID(user_id)) if isinstance(user_id, str) else None
        if (
            state is None
            or state.get("purpose") != RECOVER
            or user is None
            or user.disabled_at is not None
            or user.email != state.get("email")
        ):
            # Only a real link names an account (tokens cannot be guessed): a failed one
            # (its address no longer the account's) counts against the account's ceiling;
            # one naming none, against a stand-in (the same write, and the same commit).
            # A valid link is never refused for a pause: that stops codes only.
            attempt = await attempts.reserve(
                db,
                user.id if user is not None else attempts.stand_in(),
                now=now,
                settings=settings,
            )
            await db.commit()
            owner = Owner.of(user)  # read before the failure's rollback expires `user`
            await audit.record_failure(
                db,
                "recovery_link_used",
                user_id=user.id if user is not None else None,
                client=client,
                now=now,
                code=RecoveryLinkInvalid.code,
            )
            if attempt == settings.recovery_max_failures:
                await pause(db, place, settings, owner, client=client, now=now)
            raise RecoveryLinkInvalid()
        await attempts.reset(db, user.id)
        started = await start(db, settings, user, "recovery_email", client=client, now=now)
        await audit.record(
            db,
            "recovery_link_used",
            user_id=user.id,
            client=client,
            now=now,
            session=str(started.session.id),
        )
        await db.commit()
        notify(
            place,
            settings,
            user.email,
            user.email_verified_at,
            emails.link_used_notice,
            client=client,
            now=now,
        )
    return started
