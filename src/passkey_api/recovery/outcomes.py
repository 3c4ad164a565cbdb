"""What a recovery attempt ends in: a restricted session started, or, at the ceiling of
failed attempts, the account's recovery codes paused (audited, the owner told)."""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import emails
from passkey_api.recovery.mailing import notify
from passkey_api.sessions import service as sessions
from passkey_api.storage.mail import Place
from passkey_api.storage.models import Session, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """A restricted (recovery) session and its raw token."""

    user: User
    session: Session
    token: str


async def start(
    db: AsyncSession,
    settings: Settings,
    user: User,
    method: str,
    *,
    client: ClientInfo,
    now: datetime,
) -> Started:
    token, session = await sessions.start(
        db,
        user=user,
        # Nothing verified the user: a code or a link is something they have, not are.
        user_verified=False,
        client=client,
        lifetimes=settings.recovery_session_lifetimes,
        now=now,
        scope=sessions.RECOVERY,
        method=method,
    )
    return Started(user=user, session=session, token=token)


@dataclass(frozen=True)
class Owner:
    """What a pause needs of the account (plain values, which a rollback leaves alone)."""

    id: uuid.UUID
    email: str | None
    email_verified_at: datetime | None

    @classmethod
    def of(cls, user: User | None) -> Owner | None:
        return None if user is None else cls(user.id, user.email, user.email_verified_at)


async def pause(
    db: AsyncSession,
    place: Place | None,
    settings: Settings,
    user: Owner | None,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    """The attempt that reached the ceiling failed: recovery codes of the account are
    paused (attempts.py holds that already; links still work); audit it and tell the
    owner, once per pause, in the place the attempt took in the outbox for its notice."""
    if user is None:
        return
    try:
        await audit.record(
            db,
            "recovery_paused",
            user_id=user.id,
            client=client,
            now=now,
            failures=settings.recovery_max_failures,
            until=(now + settings.recovery_pause).isoformat(),
        )
        await db.commit()
    except Exception:
        log.warning("could not write the audit event recovery_paused")
    notify(
        place,
        settings,
        user.email,
        user.email_verified_at,
        functools.partial(emails.recovery_paused_notice, pause=settings.recovery_pause),
        client=client,
        now=now,
    )
