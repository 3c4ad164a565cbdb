"""The signed-in user's linked provider accounts: list and unlink. Linking itself is a
social sign-in flow (oauth/start.py, begin_link)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.errors import LastSignInMethod, NotFound
from passkey_api.identities import repository
from passkey_api.kit.client_info import ClientInfo
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.models import Identity, User


async def list_for(db: AsyncSession, user: User) -> list[Identity]:
    return await repository.list_for_user(db, user.id)


async def unlink(
    db: AsyncSession,
    active: ActiveSession,
    identity_id: uuid.UUID,
    *,
    providers: Collection[str],
    client: ClientInfo,
    now: datetime,
) -> bool:
    """Unlink a provider account, unless it is the account's last way in, and end the
    sessions it signed in (in the same unit of work): whoever had signed in with it must
    not stay signed in. True when that ended the current session too. `providers`: the
    configured ones, the only identities that count as another way in."""
    user = active.user
    identity = await repository.get_owned(db, user.id, identity_id)
    if identity is None:
        raise NotFound("No such identity.")
    if not await repository.delete_unless_last(db, user.id, identity_id, configured=providers):
        if await repository.get_owned(db, user.id, identity_id) is None:
            raise NotFound("No such identity.")  # a concurrent request removed it
        await audit.record_failure(
            db,
            "identity_unlinked",
            user_id=user.id,
            client=client,
            now=now,
            code=LastSignInMethod.code,
        )
        raise LastSignInMethod("Add a passkey (or link another provider) first.")
    revoked = await repository.delete_sessions_of_provider(db, user.id, identity.provider)
    await audit.record(
        db,
        "identity_unlinked",
        user_id=user.id,
        client=client,
        now=now,
        provider=identity.provider,
        sessions_revoked=revoked,
    )
    if revoked:
        await audit.record(
            db,
            "sessions_revoked",
            user_id=user.id,
            client=client,
            now=now,
            count=revoked,
            provider=identity.provider,
        )
    await db.commit()
    return active.session.method == f"oauth:{identity.provider}"
