"""/v1/admin: users, their sessions and the audit trail, for the admin role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from passkey_api import errors
from passkey_api.admin import service
from passkey_api.api.dependencies import Admin, Client, require_reauthentication
from passkey_api.audit import service as audit
from passkey_api.audit.schemas import AuditEventOut, AuditPage
from passkey_api.kit.text import PlainText
from passkey_api.passkeys import repository as passkeys_repository
from passkey_api.passkeys.schemas import AdminPasskeyList, PasskeyOut
from passkey_api.sessions.schemas import Revoked
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.models import User
from passkey_api.users import repository as users_repository
from passkey_api.users.schemas import AdminUpdateUser, AdminUserOut, AdminUserPage, UserOut
from passkey_api.web.openapi import problem_responses
from passkey_api.web.resources import DbDep, ResourcesDep

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    responses=problem_responses(errors.NotAuthenticated, errors.RoleRequired, errors.RateLimited),
)

# Admin changes need the admin role and a fresh step-up for the "admin" purpose.
AdminStepUp = Annotated[ActiveSession, Depends(require_reauthentication("admin"))]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


async def _detail(db: DbDep, user_id: uuid.UUID) -> AdminUserOut:
    rows, _ = await users_repository.page(db, query=None, limit=1, offset=0, user_id=user_id)
    if not rows:
        raise errors.NotFound("No such user.")
    user, passkeys, sessions = rows[0]
    return _out(user, passkeys, sessions)


def _out(user: User, passkeys: int, sessions: int) -> AdminUserOut:
    return AdminUserOut(
        **UserOut.of(user).model_dump(),
        created_at=user.created_at,
        disabled=user.disabled_at is not None,
        passkeys=passkeys,
        sessions=sessions,
    )


@router.get("/users")
async def list_users(
    _: Admin,
    db: DbDep,
    q: Annotated[PlainText | None, Query(max_length=64, description="part of the username")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AdminUserPage:
    rows, total = await users_repository.page(
        db, query=q.casefold() if q else None, limit=limit, offset=offset
    )
    return AdminUserPage(
        users=[_out(*row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.get("/users/{user_id}", responses=problem_responses(errors.NotFound))
async def get_user(user_id: uuid.UUID, _: Admin, db: DbDep) -> AdminUserOut:
    return await _detail(db, user_id)


@router.get("/users/{user_id}/passkeys", responses=problem_responses(errors.NotFound))
async def get_user_passkeys(
    user_id: uuid.UUID, _: Admin, db: DbDep, resources: ResourcesDep
) -> AdminPasskeyList:
    """The user's passkeys, oldest first: each with its model, what its attestation
    proved, and whether the authenticator metadata reports the model compromised."""
    if await users_repository.get(db, user_id) is None:
        raise errors.NotFound("No such user.")
    rows = await passkeys_repository.list_for_user(db, user_id)
    found = [PasskeyOut.of(passkey, resources.metadata) for passkey in rows]
    return AdminPasskeyList(
        passkeys=found, compromised=sum(1 for item in found if item.compromised is not None)
    )


@router.patch(
    "/users/{user_id}",
    responses=problem_responses(
        errors.NotFound, *errors.STEP_UP_ERRORS, errors.LastAdmin, errors.ValidationFailed
    ),
)
async def update_user(
    user_id: uuid.UUID,
    body: AdminUpdateUser,
    admin: Admin,
    step_up: AdminStepUp,
    db: DbDep,
    client: Client,
) -> AdminUserOut:
    """Set roles and/or disable the account. A disabled user cannot sign in and their
    sessions end at once."""
    await service.update(
        db,
        admin.user,
        user_id,
        roles=body.roles,
        disabled=body.disabled,
        client=client,
        now=datetime.now(UTC),
    )
    return await _detail(db, user_id)


@router.delete(
    "/users/{user_id}/sessions",
    responses=problem_responses(errors.NotFound, *errors.STEP_UP_ERRORS),
)
async def revoke_user_sessions(
    user_id: uuid.UUID, admin: Admin, step_up: AdminStepUp, db: DbDep, client: Client
) -> Revoked:
    """Force sign-out: every session of the user stops working on its next request."""
    count = await service.revoke_sessions(
        db, admin.user, user_id, client=client, now=datetime.now(UTC)
    )
    return Revoked(revoked=count)


@router.get("/audit")
async def audit_trail(
    _: Admin,
    db: DbDep,
    user_id: uuid.UUID | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AuditPage:
    events, total = await audit.page(db, user_id=user_id, limit=limit, offset=offset)
    return AuditPage(
        events=[AuditEventOut.of(e) for e in events], total=total, limit=limit, offset=offset
    )
