"""Queries on sessions. Repositories build queries and flush; services commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy import update as sa_update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.storage.db import Databases, PairQuery, insert_row
from passkey_api.storage.models import Session, User


async def add(db: AsyncSession, session: Session) -> None:
    await insert_row(db, session)


_BY_TOKEN = PairQuery(Session, User, foreign_key="user_id", key="token_hash")


async def get_with_user(databases: Databases, token_hash: bytes) -> tuple[Session, User] | None:
    """The session and its user, as objects not attached to any database session (write
    with update()). Through the hot-statement pool on PostgreSQL; otherwise in autocommit
    (one round trip, no BEGIN/ROLLBACK around it)."""
    if databases.pool is not None:
        return await _BY_TOKEN.one_raw(databases.pool, token_hash)
    async with databases.session() as db:
        await db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return await _BY_TOKEN.one(db, token_hash)


async def update(db: AsyncSession, session: Session, **values: Any) -> bool:
    """Write columns of a session with one UPDATE; False when the row is gone (revoked
    meanwhile). The loaded object gets the values as already saved, so that no second
    write follows at commit."""
    result = await db.exec(sa_update(Session).where(col(Session.id) == session.id).values(**values))
    for name, value in values.items():
        set_committed_value(session, name, value)
    return bool(result.rowcount)


async def replace_token(
    db: AsyncSession, session: Session, new_token_hash: bytes, **values: Any
) -> bool:
    """Give the session a new token hash (and write `values`) with one UPDATE, if it still
    has the token it was read with; False when it is gone or its token was replaced
    meanwhile. Like update(), the loaded object gets the values as saved."""
    result = await db.exec(
        sa_update(Session)
        .where(col(Session.id) == session.id, col(Session.token_hash) == session.token_hash)
        .values(token_hash=new_token_hash, **values)
    )
    for name, value in {"token_hash": new_token_hash, **values}.items():
        set_committed_value(session, name, value)
    return bool(result.rowcount)


async def delete_by_id(db: AsyncSession, session_id: uuid.UUID) -> None:
    await db.exec(delete(Session).where(col(Session.id) == session_id))


async def delete_scoped(db: AsyncSession, session_id: uuid.UUID, scope: str) -> bool:
    """Delete the session if it still has that scope; False when it does not (or is gone)."""
    result = await db.exec(
        delete(Session).where(col(Session.id) == session_id, col(Session.scope) == scope)
    )
    return bool(result.rowcount)


async def delete_expired(db: AsyncSession, now: datetime) -> int:
    result = await db.exec(delete(Session).where(col(Session.expires_at) <= now))
    return int(result.rowcount or 0)


async def list_for_user(db: AsyncSession, user_id: uuid.UUID) -> list[Session]:
    """The user's sessions, not those that can never work (models.User.session_generation)."""
    result = await db.exec(
        select(Session)
        .join(User, col(User.id) == col(Session.user_id))
        .where(Session.user_id == user_id, Session.user_generation == User.session_generation)
        .order_by(col(Session.last_seen_at).desc(), col(Session.id))
    )
    return list(result.all())


async def delete_owned(db: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    result = await db.exec(
        delete(Session).where(col(Session.id) == session_id, col(Session.user_id) == user_id)
    )
    return bool(result.rowcount)


async def delete_for_user(
    db: AsyncSession, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> int:
    query = delete(Session).where(col(Session.user_id) == user_id)
    if keep is not None:
        query = query.where(col(Session.id) != keep)
    result = await db.exec(query)
    return int(result.rowcount or 0)


_PRUNING_LOCK = 0x70617373  # "pass": any constant shared by all replicas


async def lock_pruning(db: AsyncSession) -> bool:
    """Take the pruning's lock until `db`'s transaction ends; False when another replica
    holds it. On PostgreSQL a transaction-scoped advisory lock, tried, not waited for;
    SQLite's database belongs to one host, whose writers take turns anyway: always True."""
    if db.get_bind().dialect.name != "postgresql":
        return True
    return bool((await db.exec(select(func.pg_try_advisory_xact_lock(_PRUNING_LOCK)))).one())


async def count_active(db: AsyncSession, now: datetime) -> int:
    result = await db.exec(
        select(func.count()).select_from(Session).where(col(Session.expires_at) > now)
    )
    return int(result.one())
