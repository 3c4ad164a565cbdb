"""Queries on passkeys. Repositories build queries and flush; services commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.storage.db import Databases, PairQuery, insert_row
from passkey_api.storage.models import Passkey, User

_BY_CREDENTIAL_ID = PairQuery(Passkey, User, foreign_key="user_id", key="credential_id")


async def add(db: AsyncSession, passkey: Passkey) -> None:
    await insert_row(db, passkey)


async def get_with_user(databases: Databases, credential_id: bytes) -> tuple[Passkey, User] | None:
    """The passkey and its owner, detached (the passkey is written with record_use() or
    the sign-in's own write), read outside any unit of work: through the hot-statement
    pool on PostgreSQL; otherwise on a connection of its own (no transaction: SQLite's
    driver begins one at the first write)."""
    if databases.pool is not None:
        return await _BY_CREDENTIAL_ID.one_raw(databases.pool, credential_id)
    async with databases.connect() as connection:
        return await _BY_CREDENTIAL_ID.one_on(connection, credential_id)


async def get_with_user_on(db: AsyncSession, credential_id: bytes) -> tuple[Passkey, User] | None:
    """get_with_user() on `db`'s unit of work."""
    return await _BY_CREDENTIAL_ID.one(db, credential_id)


async def credential_ids_of(db: AsyncSession, user_id: uuid.UUID) -> list[bytes]:
    result = await db.exec(
        select(Passkey.credential_id)
        .where(Passkey.user_id == user_id)
        .order_by(col(Passkey.created_at))
    )
    return list(result.all())


async def count_for_user(db: AsyncSession, user_id: uuid.UUID) -> int:
    result = await db.exec(select(func.count()).where(Passkey.user_id == user_id))
    return int(result.one())


async def has_any(db: AsyncSession, user_id: uuid.UUID) -> bool:
    result = await db.exec(select(Passkey.id).where(Passkey.user_id == user_id).limit(1))
    return result.first() is not None


async def credential_exists(db: AsyncSession, credential_id: bytes) -> bool:
    result = await db.exec(select(Passkey.id).where(Passkey.credential_id == credential_id))
    return result.first() is not None


async def descriptors_of(db: AsyncSession, user_id: uuid.UUID) -> list[tuple[bytes, list[str]]]:
    """(credential id, transports) of each passkey of a user, oldest first."""
    result = await db.exec(
        select(Passkey.credential_id, Passkey.transports)
        .where(Passkey.user_id == user_id)
        .order_by(col(Passkey.created_at))
    )
    return [(row[0], list(row[1])) for row in result.all()]


async def record_use(
    db: AsyncSession,
    passkey_id: uuid.UUID,
    *,
    new_sign_count: int,
    backup_state: bool,
    user_verified: bool,
    now: datetime,
) -> bool:
    """Store the new counter only if it still moves forward; False when a concurrent use won.

    The condition sits in the UPDATE itself so that two sign-ins racing on one
    credential cannot both pass the counter check.
    """
    moves_forward = (
        col(Passkey.sign_count) == 0
        if new_sign_count == 0
        else col(Passkey.sign_count) < new_sign_count
    )
    values: dict[str, object] = {
        "sign_count": new_sign_count,
        "backup_state": backup_state,
        "last_used_at": now,
    }
    if user_verified:
        values["user_verified"] = True  # the authenticator can verify its user after all
    result = await db.exec(
        update(Passkey).where(col(Passkey.id) == passkey_id, moves_forward).values(**values)
    )
    return bool(result.rowcount == 1)


async def list_for_user(db: AsyncSession, user_id: uuid.UUID) -> list[Passkey]:
    result = await db.exec(
        select(Passkey).where(Passkey.user_id == user_id).order_by(col(Passkey.created_at))
    )
    return list(result.all())


async def get_owned(db: AsyncSession, user_id: uuid.UUID, credential_id: bytes) -> Passkey | None:
    result = await db.exec(
        select(Passkey).where(Passkey.user_id == user_id, Passkey.credential_id == credential_id)
    )
    return result.first()


async def delete_unless_last(db: AsyncSession, user_id: uuid.UUID, credential_id: bytes) -> bool:
    """Delete the user's passkey unless it is their last one; False when nothing went.

    One statement, so the "another one is left" condition and the delete cannot be
    split by a concurrent removal (SQLite runs it under its write lock); on PostgreSQL the
    user's passkeys are locked first, so a racing removal waits and then sees one left.
    """
    await db.exec(select(Passkey.id).where(Passkey.user_id == user_id).with_for_update())
    others = (
        select(func.count())
        .select_from(Passkey)
        .where(Passkey.user_id == user_id, Passkey.credential_id != credential_id)
        .scalar_subquery()
    )
    result = await db.exec(
        delete(Passkey).where(
            col(Passkey.user_id) == user_id,
            col(Passkey.credential_id) == credential_id,
            others > 0,
        )
    )
    return bool(result.rowcount)


async def keys_after(
    db: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[tuple[uuid.UUID, str, bytes, bytes]]:
    """(passkey id, username, credential id, stored key) in id order, past `after`: a
    whole table read a page at a time."""
    query = (
        select(Passkey.id, User.username, Passkey.credential_id, Passkey.public_key)
        .join(User, col(User.id) == col(Passkey.user_id))
        .order_by(col(Passkey.id))
        .limit(limit)
    )
    if after is not None:
        query = query.where(col(Passkey.id) > after)
    return [tuple(row) for row in (await db.exec(query)).all()]  # type: ignore[misc]
