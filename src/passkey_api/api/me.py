"""/v1/me: the signed-in user's account, Signal API payloads and activity."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from passkey_api import errors
from passkey_api.api.dependencies import Client, CurrentSession
from passkey_api.audit import service as audit
from passkey_api.audit.schemas import AuditEventOut, AuditPage
from passkey_api.passkeys import service as passkeys
from passkey_api.passkeys.schemas import Signals
from passkey_api.users import service
from passkey_api.users.schemas import MeUpdated, UpdateMe, UserOut
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import DbDep, SettingsDep

router = APIRouter(
    prefix="/v1/me",
    tags=["me"],
    responses=problem_responses(errors.RateLimited),
)

Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("", responses=problem_responses(errors.NotAuthenticated))
async def get_me(active: CurrentSession) -> UserOut:
    return UserOut.of(active.user)


@router.patch("", responses=problem_responses(errors.NotAuthenticated, errors.ValidationFailed))
async def update_me(
    body: UpdateMe, active: CurrentSession, db: DbDep, settings: SettingsDep, client: Client
) -> MeUpdated:
    """Change the display name; pass `signals.current_user_details` to
    signalCurrentUserDetails() so password managers show the new name."""
    user = await service.set_display_name(
        db, active.user, body.display_name, client=client, now=datetime.now(UTC)
    )
    return MeUpdated(
        user=UserOut.of(user), signals=await passkeys.signals_for(db, settings.rp_id, user)
    )


@router.get("/signals", responses=problem_responses(errors.NotAuthenticated))
async def get_signals(active: CurrentSession, db: DbDep, settings: SettingsDep) -> Signals:
    """Both Signal API payloads, on demand (e.g. after deleting a passkey)."""
    return await passkeys.signals_for(db, settings.rp_id, active.user)


@router.get("/activity", responses=problem_responses(errors.NotAuthenticated))
async def my_activity(
    active: CurrentSession, db: DbDep, limit: Limit = 50, offset: Offset = 0
) -> AuditPage:
    """The user's own audit trail, newest first."""
    events, total = await audit.page(db, user_id=active.user.id, limit=limit, offset=offset)
    return AuditPage(
        events=[AuditEventOut.of(e) for e in events], total=total, limit=limit, offset=offset
    )
