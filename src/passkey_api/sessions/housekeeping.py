"""Pruning what has expired: sessions past their expiry, audit entries past retention.

Run hourly inside every replica and by `passkey-api sessions prune`. On PostgreSQL a
transaction-scoped advisory lock lets one replica do it while the others skip; the
DELETEs are idempotent anyway, the lock only saves the duplicate work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.sessions import repository as session_repository
from passkey_api.storage.db import untracked

_LOCK_KEY = 0x70617373  # "pass": any constant shared by all replicas


@dataclass(frozen=True)
class Pruned:
    sessions: int
    audit_events: int
    skipped: bool = False


async def prune(db: AsyncSession, *, now: datetime, audit_retention: timedelta) -> Pruned:
    bind = db.get_bind()
    if bind.dialect.name == "postgresql":
        locked = (await db.exec(select(func.pg_try_advisory_xact_lock(_LOCK_KEY)))).one()
        if not locked:
            await db.rollback()
            return Pruned(0, 0, skipped=True)
    sessions = await session_repository.delete_expired(db, now)
    if not sessions:
        untracked(db)  # nothing deleted: no cached session to outdate (sessions/cache.py)
    events = await audit.delete_older_than(db, now - audit_retention)
    await db.commit()
    return Pruned(sessions, events)
