"""The ceremonies' writes, each one function with one contract for both backends.

On PostgreSQL each is one statement through the hot-statement pool (db.py): one round
trip instead of seven, atomic without a transaction around it (the data-modifying CTEs of
one statement commit together or not at all). SQLite, which has no data-modifying CTEs,
runs the same writes in one transaction. Either way the same arguments give the same
result, and the same conflicts the same ApiError, with nothing written.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import asyncpg
from sqlalchemy import Boolean, Table, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.errors import CredentialExists, SignCountRegression, UsernameTaken
from passkey_api.passkeys import repository as passkeys
from passkey_api.sessions import repository as sessions
from passkey_api.storage.db import Databases, RawStatement, insert_row
from passkey_api.storage.models import AuditEvent, Passkey, Session, User
from passkey_api.users import repository as users

_PASSKEYS: Table = Passkey.__table__  # type: ignore[attr-defined]
_SESSIONS: Table = Session.__table__  # type: ignore[attr-defined]
_USERS: Table = User.__table__  # type: ignore[attr-defined]
_AUDIT: Table = AuditEvent.__table__  # type: ignore[attr-defined]


def _binds(table: Table, prefix: str) -> dict[str, Any]:
    return {c.name: bindparam(prefix + c.name, type_=c.type) for c in table.c}


def _params(row: SQLModel, prefix: str) -> dict[str, object]:
    # From the object's own dict: SQLAlchemy's attribute access costs as much again as
    # the statement's other Python work. model_from() objects hold every column there.
    values = vars(row)
    return {
        bind: values[name] if name in values else getattr(row, name)
        for bind, name in _columns(type(row), prefix)
    }


@functools.cache
def _columns(model: type[SQLModel], prefix: str) -> tuple[tuple[str, str], ...]:
    """(parameter name, column name) of each of the model's columns."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return tuple((prefix + c.name, c.name) for c in table.c)


def _sign_in_statement(*, counter_is_zero: bool) -> RawStatement:
    """Record the passkey's use if its counter still moves forward; if it did, insert the
    session and the audit row; answer the user's credential ids (none: a concurrent
    sign-in won)."""
    moves_forward = (
        _PASSKEYS.c.sign_count == 0
        if counter_is_zero
        else _PASSKEYS.c.sign_count < bindparam("sign_count")
    )
    used = (
        update(_PASSKEYS)
        .where(_PASSKEYS.c.id == bindparam("passkey_id"), moves_forward)
        .values(
            sign_count=bindparam("sign_count"),
            backup_state=bindparam("backup_state"),
            last_used_at=bindparam("now"),
            # Once an authenticator verified its user, it can; never back to False.
            user_verified=or_(_PASSKEYS.c.user_verified, bindparam("user_verified", type_=Boolean)),
        )
        .returning(_PASSKEYS.c.user_id)
        .cte("used")
    )

    def insert_if_used(table: Table, prefix: str) -> Any:
        binds = _binds(table, prefix)
        return (
            insert(table)
            .from_select(list(binds), select(*binds.values()).select_from(used))
            .cte(f"new_{table.name}")
        )

    return RawStatement(
        select(_PASSKEYS.c.credential_id)
        .join_from(_PASSKEYS, used, _PASSKEYS.c.user_id == used.c.user_id)
        .order_by(_PASSKEYS.c.created_at)
        .add_cte(insert_if_used(_SESSIONS, "s_"), insert_if_used(_AUDIT, "a_"))
    )


_SIGN_IN = {zero: _sign_in_statement(counter_is_zero=zero) for zero in (True, False)}
_CONCURRENT_SIGN_IN = "A concurrent sign-in used a newer counter value."


async def record_sign_in(
    databases: Databases,
    *,
    passkey_id: uuid.UUID,
    sign_count: int,
    backup_state: bool,
    user_verified: bool,
    session: Session,
    event: AuditEvent,
) -> list[bytes]:
    """Record the passkey's use if its counter still moves forward, with the session and
    the audit row, all or none; the user's credential ids, oldest first.

    The counter condition sits in the write itself, so of two sign-ins racing with one
    credential only one can pass it: the other raises SignCountRegression and nothing of
    it is written."""
    if databases.pool is not None:
        rows = await _SIGN_IN[sign_count == 0].fetch(
            databases.pool,
            {
                "passkey_id": passkey_id,
                "sign_count": sign_count,
                "backup_state": backup_state,
                "user_verified": user_verified,
                "now": event.at,
                **_params(session, "s_"),
                **_params(event, "a_"),
            },
        )
        if not rows:
            raise SignCountRegression(_CONCURRENT_SIGN_IN)
        return [row[0] for row in rows]
    async with databases.session() as db:
        if not await passkeys.record_use(
            db,
            passkey_id,
            new_sign_count=sign_count,
            backup_state=backup_state,
            user_verified=user_verified,
            now=event.at,
        ):
            raise SignCountRegression(_CONCURRENT_SIGN_IN)
        await insert_row(db, event)
        await sessions.add(db, session)
        credential_ids = await passkeys.credential_ids_of(db, session.user_id)
        await db.commit()
        return credential_ids


def _sign_up_statement() -> RawStatement:
    new_user = insert(_USERS).values(_binds(_USERS, "u_")).cte("new_user")
    new_passkey = insert(_PASSKEYS).values(_binds(_PASSKEYS, "p_")).cte("new_passkey")
    new_session = insert(_SESSIONS).values(_binds(_SESSIONS, "s_")).cte("new_session")
    # Foreign keys are checked at the end of the statement, after every row is in.
    return RawStatement(
        insert(_AUDIT).values(_binds(_AUDIT, "a_")).add_cte(new_user, new_passkey, new_session)
    )


_SIGN_UP = _sign_up_statement()

# Which UNIQUE constraint a sign-up ran into (models.py naming convention).
USERNAME_CONSTRAINT = "uq_users_username_key"
CREDENTIAL_CONSTRAINT = "uq_passkeys_credential_id"


async def record_sign_up(
    databases: Databases, *, user: User, passkey: Passkey, session: Session, event: AuditEvent
) -> None:
    """Insert the account, its passkey, its session and the audit row, all or none.

    The UNIQUE constraints decide, in the same write (no check-then-write race): raises
    UsernameTaken when the username is taken, else CredentialExists when the credential
    is registered already, and nothing is written."""
    if databases.pool is not None:
        try:
            await _SIGN_UP.execute(
                databases.pool,
                {
                    **_params(user, "u_"),
                    **_params(passkey, "p_"),
                    **_params(session, "s_"),
                    **_params(event, "a_"),
                },
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name not in (USERNAME_CONSTRAINT, CREDENTIAL_CONSTRAINT):
                raise
            # The statement names the first constraint it ran into, in an order PostgreSQL
            # does not promise: a taken username is the answer whenever it is one.
            if exc.constraint_name == USERNAME_CONSTRAINT or await users.username_exists(
                databases, user.username_key
            ):
                raise UsernameTaken() from None
            raise CredentialExists() from None
        return
    async with databases.session() as db:
        # Checked first for a precise answer; the UNIQUE constraints decide any race.
        await _refuse_taken(db, user, passkey)
        try:
            await users.add(db, user)
            await passkeys.add(db, passkey)  # after the user: the foreign key needs it
        except IntegrityError:
            await db.rollback()
            await _refuse_taken(db, user, passkey)
            raise
        await insert_row(db, event)
        await sessions.add(db, session)
        await db.commit()


async def _refuse_taken(db: AsyncSession, user: User, passkey: Passkey) -> None:
    if await users.username_taken(db, user.username_key):
        raise UsernameTaken()
    if await passkeys.credential_exists(db, passkey.credential_id):
        raise CredentialExists()
