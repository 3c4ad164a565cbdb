"""Queries on users. Repositories build queries and flush; services commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, bindparam, cast, true, update
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.storage.db import Databases, RawStatement, insert_row
from passkey_api.storage.models import Passkey, Session, User


async def add(db: AsyncSession, user: User) -> None:
    await insert_row(db, user)


async def set_display_name(db: AsyncSession, user_id: uuid.UUID, display_name: str) -> None:
    await db.exec(update(User).where(col(User.id) == user_id).values(display_name=display_name))


async def get(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await db.get(User, user_id)


async def get_by_username_key(db: AsyncSession, username_key: str) -> User | None:
    result = await db.exec(select(User).where(User.username_key == username_key))
    return result.first()


async def get_by_email(db: AsyncSession, email: str) -> User | None:
    result = await db.exec(select(User).where(User.email == email))
    return result.first()


async def set_email(
    db: AsyncSession, user_id: uuid.UUID, email: str | None, verified_at: datetime | None
) -> None:
    await db.exec(
        update(User)
        .where(col(User.id) == user_id)
        .values(email=email, email_verified_at=verified_at)
    )


async def next_session_generation(db: AsyncSession, user_id: uuid.UUID) -> None:
    """Move the user to a new session generation: every session made from a read of the
    user before this commits stops working for good (models.User.session_generation)."""
    await db.exec(
        update(User)
        .where(col(User.id) == user_id)
        .values(session_generation=col(User.session_generation) + 1)
    )


async def username_taken(db: AsyncSession, username_key: str) -> bool:
    result = await db.exec(select(User.id).where(User.username_key == username_key))
    return result.first() is not None


_USERNAME_EXISTS = RawStatement(
    select(User.id).where(col(User.username_key) == bindparam("username_key"))
)


async def username_exists(databases: Databases, username_key: str) -> bool:
    """username_taken() outside any unit of work: through the hot-statement pool on
    PostgreSQL (every sign-up asks it first)."""
    if databases.pool is not None:
        row = await _USERNAME_EXISTS.fetchrow(
            databases.pool, {"username_key": username_key}, read_only=True
        )
        return row is not None
    async with databases.session() as db:
        return await username_taken(db, username_key)


def _matching(query: str | None) -> Any:
    if not query:
        return true()
    # Search the folded key, so "ALICE" finds "alice"; LIKE wildcards in input are literal.
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return col(User.username_key).like(f"%{escaped}%", escape="\\")


async def page(
    db: AsyncSession,
    *,
    query: str | None,
    limit: int,
    offset: int,
    user_id: uuid.UUID | None = None,
) -> tuple[list[tuple[User, int, int]], int]:
    """Users matching `query`, each with their passkey and session counts, and the total."""
    passkey_count = (
        select(func.count()).where(Passkey.user_id == User.id).correlate(User).scalar_subquery()
    )
    session_count = (  # not those that can never work (models.User.session_generation)
        select(func.count())
        .where(Session.user_id == User.id, Session.user_generation == User.session_generation)
        .correlate(User)
        .scalar_subquery()
    )
    condition = _matching(query) if user_id is None else col(User.id) == user_id
    rows = await db.exec(
        select(User, passkey_count, session_count)
        .where(condition)
        .order_by(col(User.created_at), col(User.id))
        .limit(limit)
        .offset(offset)
    )
    total = (await db.exec(select(func.count()).select_from(User).where(condition))).one()
    return [(row[0], int(row[1]), int(row[2])) for row in rows.all()], int(total)


def _active_admin(user: type[User]) -> Any:
    """Enabled and holding the admin role. Only role changes ask (rarely), so a portable
    text match on the small JSON list is enough: the quotes delimit one whole role name."""
    return and_(col(user.disabled_at).is_(None), cast(col(user.roles), String).like('%"admin"%'))


async def set_access(
    db: AsyncSession,
    user_id: uuid.UUID,
    *,
    roles: list[str],
    disabled_at: datetime | None,
    keep_an_admin: bool,
) -> bool:
    """Write the user's roles and disabled time; False when nothing was written.

    With `keep_an_admin` (the change takes the role from an enabled admin or disables one)
    it is one conditional UPDATE: only while another enabled admin is left. SQLite takes
    its write lock before the statement reads, so of two admins demoting each other at
    once the second sees the first's change and writes nothing. On PostgreSQL each
    statement would see the other admin still there in its own snapshot, so the enabled
    admins are locked first: the second waits, then reads the first's commit.
    """
    condition = col(User.id) == user_id
    if keep_an_admin:
        await db.exec(select(User.id).where(_active_admin(User)).with_for_update())
        other = aliased(User, name="other")
        others = (
            select(func.count())
            .select_from(other)
            .where(col(other.id) != user_id, _active_admin(other))
            .scalar_subquery()
        )
        condition = and_(condition, others > 0)
    result = await db.exec(
        update(User).where(condition).values(roles=roles, disabled_at=disabled_at)
    )
    return bool(result.rowcount)
