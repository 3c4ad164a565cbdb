"""The audit trail: who did what to which account, when, from where.

`record` adds the event to the caller's unit of work (it commits with it); `record_failure`
writes on its own, because a refused ceremony rolls its unit of work back.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.kit.client_info import ClientInfo
from passkey_api.storage.db import insert_row, model_from
from passkey_api.storage.models import AuditEvent

log = logging.getLogger(__name__)


def event_row(
    event: str,
    *,
    user_id: uuid.UUID | None,
    client: ClientInfo | None,
    now: datetime,
    actor_id: uuid.UUID | None = None,
    success: bool = True,
    code: str | None = None,
    **details: Any,
) -> AuditEvent:
    """The audit row for an event (not stored yet)."""
    return model_from(
        AuditEvent,
        id=uuid.uuid4(),
        at=now,
        event=event,
        user_id=user_id,
        actor_id=actor_id,
        success=success,
        code=code,
        ip=client.ip if client else None,
        user_agent=client.user_agent[:512] if client and client.user_agent else None,
        details=details,
    )


async def record(db: AsyncSession, event: str, **fields: Any) -> None:
    """Add the event (fields as event_row's) to the caller's unit of work."""
    await insert_row(db, event_row(event, **fields))


async def record_failure(
    db: AsyncSession,
    event: str,
    *,
    user_id: uuid.UUID | None,
    client: ClientInfo,
    now: datetime,
    code: str,
) -> None:
    """Best effort: an unreachable database must not hide the refusal being reported."""
    try:
        await db.rollback()
        await record(db, event, user_id=user_id, client=client, now=now, success=False, code=code)
        await db.commit()
    except Exception:
        log.warning("could not write the audit event %s/%s", event, code)


async def page(
    db: AsyncSession, *, user_id: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[AuditEvent], int]:
    query = select(AuditEvent)
    count = select(func.count()).select_from(AuditEvent)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
        count = count.where(AuditEvent.user_id == user_id)
    rows = await db.exec(
        query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id)).limit(limit).offset(offset)
    )
    total = (await db.exec(count)).one()
    return list(rows.all()), int(total)


async def delete_older_than(db: AsyncSession, cutoff: datetime) -> int:
    result = await db.exec(delete(AuditEvent).where(col(AuditEvent.at) < cutoff))
    return int(result.rowcount or 0)
