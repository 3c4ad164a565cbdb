"""What admins may change on any account (the admin API and the command line): roles and
the disabled flag, whose changes end the account's sessions, as one unit of work each.
Above the account model: it changes users and sessions together."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.errors import LastAdmin, NotFound, ValidationFailed
from passkey_api.kit.client_info import ClientInfo
from passkey_api.sessions import repository as sessions
from passkey_api.storage.models import User
from passkey_api.users import names, repository
from passkey_api.users.service import get

ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


async def update(
    db: AsyncSession,
    admin: User,
    user_id: uuid.UUID,
    *,
    roles: list[str] | None,
    disabled: bool | None,
    client: ClientInfo,
    now: datetime,
) -> User:
    """Change roles and/or the disabled flag; the last enabled admin is kept."""
    user = await get(db, user_id)
    if roles is not None:
        wanted = sorted(set(roles) | {"user"})
        if not all(ROLE.match(role) for role in wanted):
            raise ValidationFailed("Roles are lowercase names: letters, digits, - and _.")
    else:
        wanted = sorted(user.roles)
    was_disabled = user.disabled_at is not None
    disabling = bool(disabled) and not was_disabled
    enabling = disabled is False and was_disabled
    disabled_at = now if disabling else None if enabling else user.disabled_at
    old_roles = sorted(user.roles)
    loses_admin = "admin" in old_roles and not was_disabled and ("admin" not in wanted or disabling)
    # The check and the write are one statement (repository.set_access), so two admins
    # demoting each other at once cannot both pass it; it comes first in the unit of work.
    changed = wanted != old_roles or disabling or enabling
    if changed and not await repository.set_access(
        db, user.id, roles=wanted, disabled_at=disabled_at, keep_an_admin=loses_admin
    ):
        raise LastAdmin()
    # The object as the statement wrote it, without a second UPDATE from the ORM's flush.
    set_committed_value(user, "roles", wanted)
    set_committed_value(user, "disabled_at", disabled_at)
    if wanted != old_roles:
        await audit.record(
            db,
            "roles_changed",
            user_id=user.id,
            actor_id=admin.id,
            client=client,
            now=now,
            old=old_roles,
            new=wanted,
        )
    if disabling or enabling:
        if disabling:
            await _end_sessions(db, user.id)  # signed out everywhere, at once
        await audit.record(
            db,
            "user_disabled" if disabling else "user_enabled",
            user_id=user.id,
            actor_id=admin.id,
            client=client,
            now=now,
        )
    await db.commit()
    return user


async def revoke_sessions(
    db: AsyncSession, admin: User, user_id: uuid.UUID, *, client: ClientInfo, now: datetime
) -> int:
    user = await get(db, user_id)
    count = await _end_sessions(db, user.id)
    await audit.record(
        db,
        "sessions_revoked",
        user_id=user.id,
        actor_id=admin.id,
        client=client,
        now=now,
        count=count,
    )
    await db.commit()
    return count


async def _end_sessions(db: AsyncSession, user_id: uuid.UUID) -> int:
    """End every session of the user (not committed): those there are, deleted, and one a
    sign-in is writing meanwhile from an earlier read of the user, which carries the old
    session generation and so never works (models.User.session_generation). The count
    deleted."""
    await repository.next_session_generation(db, user_id)
    return await sessions.delete_for_user(db, user_id)


async def grant_role(db: AsyncSession, username: str, role: str, *, now: datetime) -> User:
    """Give a role to the user of that name (from the command line: no actor, no client)."""
    user = await repository.get_by_username_key(db, names.normalize(username)[1])
    if user is None:
        raise NotFound(f"No user {username!r}; they must sign up with a passkey first.")
    if role not in user.roles:
        old = sorted(user.roles)
        user.roles = sorted({*user.roles, role})
        db.add(user)
        await audit.record(
            db,
            "roles_changed",
            user_id=user.id,
            client=None,
            now=now,
            old=old,
            new=user.roles,
            via="cli",
        )
        await db.commit()
    return user
