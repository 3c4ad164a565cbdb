"""The signed-in user's own account."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.errors import NotFound
from passkey_api.kit.client_info import ClientInfo
from passkey_api.kit.text import one_line
from passkey_api.storage.models import User
from passkey_api.users import repository


async def set_display_name(
    db: AsyncSession, user: User, display_name: str, *, client: ClientInfo, now: datetime
) -> User:
    display_name = one_line(display_name, "display name")
    old = user.display_name
    await repository.set_display_name(db, user.id, display_name)
    user.display_name = display_name
    await audit.record(
        db,
        "display_name_changed",
        user_id=user.id,
        client=client,
        now=now,
        old=old,
        new=display_name,
    )
    await db.commit()
    return user


async def get(db: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get(db, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user
