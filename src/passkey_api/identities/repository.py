"""Queries on identities (accounts at social sign-in providers). Repositories build
queries and flush; services commit."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.storage.db import insert_row
from passkey_api.storage.models import Identity, Passkey, Session, User


async def add(db: AsyncSession, identity: Identity) -> None:
    await insert_row(db, identity)


async def get_by_subject(db: AsyncSession, provider: str, subject: str) -> Identity | None:
    result = await db.exec(
        select(Identity).where(Identity.provider == provider, Identity.subject == subject)
    )
    return result.first()


async def get_owned(
    db: AsyncSession, user_id: uuid.UUID, identity_id: uuid.UUID
) -> Identity | None:
    result = await db.exec(
        select(Identity).where(Identity.id == identity_id, Identity.user_id == user_id)
    )
    return result.first()


async def list_for_user(db: AsyncSession, user_id: uuid.UUID) -> list[Identity]:
    result = await db.exec(
        select(Identity)
        .where(Identity.user_id == user_id)
        .order_by(col(Identity.created_at), col(Identity.id))
    )
    return list(result.all())


async def record_use(
    db: AsyncSession,
    identity_id: uuid.UUID,
    *,
    email: str | None,
    email_verified: bool,
    now: datetime,
) -> None:
    """The provider's current email replaces the stored one: it is what it vouches for now."""
    await db.exec(
        update(Identity)
        .where(col(Identity.id) == identity_id)
        .values(email=email, email_verified=email_verified, last_used_at=now)
    )


async def lock_email(db: AsyncSession, email: str) -> None:
    """Serialise the sign-ups that claim this verified email, until the end of the
    transaction: on PostgreSQL a transaction-level advisory lock on the email, so that a
    second sign-up's account_with_email() waits for the first one's commit and then sees
    its identity. SQLite needs none: its writers take turns, and the caller checks again
    after its INSERT (which waits for the other writer's commit)."""
    if db.get_bind().dialect.name == "postgresql":
        key = f"passkey-api:email:{email.strip().lower()}"
        await db.exec(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def account_with_email(
    db: AsyncSession, email: str, *, other_than: uuid.UUID | None = None
) -> uuid.UUID | None:
    """The account that already knows this (lowercased) email as verified, if any
    (other than `other_than`).

    THE one place that decides whether an email belongs to an existing account, for the
    rule that a social sign-in never takes over an account by email: an account's own
    verified recovery address (users.email is only set once its link was followed), or a
    verified email of one of its linked identities.
    """
    own_query = select(User.id).where(
        col(User.email) == email.strip().lower(), col(User.email_verified_at).is_not(None)
    )
    linked_query = select(Identity.user_id).where(
        col(Identity.email) == email, col(Identity.email_verified).is_(True)
    )
    if other_than is not None:
        own_query = own_query.where(col(User.id) != other_than)
        linked_query = linked_query.where(col(Identity.user_id) != other_than)
    user_id = (await db.exec(own_query)).first()
    if user_id is not None:
        return user_id
    result = await db.exec(linked_query.order_by(col(Identity.created_at)).limit(1))
    return result.first()


async def delete_unless_last(
    db: AsyncSession,
    user_id: uuid.UUID,
    identity_id: uuid.UUID,
    *,
    configured: Collection[str],
) -> bool:
    """Delete the user's identity unless it is their last way in (no passkey and no other
    identity of a provider in `configured`: one whose provider was removed from the
    settings signs nobody in); False when nothing went.

    One conditional statement, after locking the user's passkeys and identities on
    PostgreSQL (SQLite runs it under its write lock), so that two concurrent removals
    cannot leave an account nobody can sign in to.
    """
    await db.exec(select(Passkey.id).where(Passkey.user_id == user_id).with_for_update())
    await db.exec(select(Identity.id).where(Identity.user_id == user_id).with_for_update())
    passkeys = (
        select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
    ).scalar_subquery()
    others = (
        select(func.count())
        .select_from(Identity)
        .where(
            Identity.user_id == user_id,
            Identity.id != identity_id,
            col(Identity.provider).in_(list(configured)),
        )
    ).scalar_subquery()
    result = await db.exec(
        delete(Identity).where(
            col(Identity.id) == identity_id,
            col(Identity.user_id) == user_id,
            passkeys + others > 0,
        )
    )
    return bool(result.rowcount)


async def delete_sessions_of_provider(db: AsyncSession, user_id: uuid.UUID, provider: str) -> int:
    """Delete the user's sessions made by signing in with `provider` (method
    `oauth:<provider>`); how many went. Sessions record the provider, not the provider
    account: a second account of the same provider linked to the user loses its
    sessions too, which errs on the safe side."""
    result = await db.exec(
        delete(Session).where(
            col(Session.user_id) == user_id, col(Session.method) == f"oauth:{provider}"
        )
    )
    return int(result.rowcount or 0)
