"""Pruning what has expired: sessions past their expiry, audit entries past retention.

Run hourly inside every replica and by `passkey-api sessions prune`. A lock lets one
replica do it while the others skip (repository.lock_pruning); the DELETEs are
idempotent anyway, the lock only saves the duplicate work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.sessions import repository as session_repository
from passkey_api.storage.db import note_change, untracked


@dataclass(frozen=True)
class Pruned:
    sessions: int
    audit_events: int
    skipped: bool = False


async def prune(db: AsyncSession, *, now: datetime, audit_retention: timedelta) -> Pruned:
    if not await session_repository.lock_pruning(db):
        await db.rollback()
        return Pruned(0, 0, skipped=True)
    # Only a DELETE that found any can outdate a cached session (sessions/cache.py).
    with untracked(db):
        sessions = await session_repository.delete_expired(db, now)
    if sessions:
        note_change(db)
    events = await audit.delete_older_than(db, now - audit_retention)
    await db.commit()
    return Pruned(sessions, events)
