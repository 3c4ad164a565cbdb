"""Queries on users. Repositories build queries and flush; services commit."""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.models import User


async def add(db: AsyncSession, user: User) -> None:
    db.add(user)
    await db.flush()


async def get(db: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await db.get(User, user_id)


async def get_by_username_key(db: AsyncSession, username_key: str) -> User | None:
    result = await db.exec(select(User).where(User.username_key == username_key))
    return result.first()


async def username_taken(db: AsyncSession, username_key: str) -> bool:
    result = await db.exec(select(User.id).where(User.username_key == username_key))
    return result.first() is not None
