"""Queries on recovery codes. Repositories build queries and flush; services commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.recovery import codes
from passkey_api.storage.db import insert_row
from passkey_api.storage.models import RecoveryCode


async def replace(
    db: AsyncSession, user_id: uuid.UUID, stored: list[codes.Stored], now: datetime
) -> None:
    """The user's codes become these: every older one, used or not, is gone."""
    await db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    for code in stored:
        await insert_row(
            db,
            RecoveryCode(
                id=uuid.uuid4(),
                user_id=user_id,
                code_hash=code.code_hash,
                lookup=code.lookup,
                salt=code.salt,
                created_at=now,
            ),
        )


async def unused(
    db: AsyncSession, user_id: uuid.UUID, lookup: str
) -> tuple[uuid.UUID, codes.Stored] | None:
    """The user's unused code with this lookup, if there is one."""
    row = (
        await db.exec(
            select(RecoveryCode.id, RecoveryCode.salt, RecoveryCode.code_hash).where(
                col(RecoveryCode.user_id) == user_id,
                col(RecoveryCode.lookup) == lookup,
                col(RecoveryCode.used_at).is_(None),
            )
        )
    ).first()
    if row is None or row[1] is None:
        return None
    return row[0], codes.Stored(lookup=lookup, salt=bytes(row[1]), code_hash=bytes(row[2]))


async def consume_row(db: AsyncSession, code_id: uuid.UUID, now: datetime) -> bool:
    """Mark the code used; False when it was used meanwhile. One conditional UPDATE: of
    any number of concurrent uses of one code, exactly one sees a row."""
    result = await db.exec(
        update(RecoveryCode)
        .where(col(RecoveryCode.id) == code_id, col(RecoveryCode.used_at).is_(None))
        .values(used_at=now)
    )
    return bool(result.rowcount)


async def consume(
    db: AsyncSession, user_id: uuid.UUID, digests: list[bytes], now: datetime
) -> bool:
    """Mark a code made before lookups used, found by its HMAC (under any key accepted
    during a rotation of the secret key: codes.digests); False when there is no such
    unused code. One conditional UPDATE, as consume_row."""
    result = await db.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.lookup).is_(None),
            col(RecoveryCode.code_hash).in_(digests),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return bool(result.rowcount)


async def status(db: AsyncSession, user_id: uuid.UUID) -> tuple[int, int, datetime | None]:
    """(unused, all, when they were made) for the user's current set of codes."""
    row = (
        await db.exec(
            select(
                func.count(col(RecoveryCode.id)) - func.count(col(RecoveryCode.used_at)),
                func.count(col(RecoveryCode.id)),
                func.min(col(RecoveryCode.created_at)),
            ).where(col(RecoveryCode.user_id) == user_id)
        )
    ).one()
    return int(row[0]), int(row[1]), row[2]
