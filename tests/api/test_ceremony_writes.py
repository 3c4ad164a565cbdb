"""The ceremonies' writes (ceremonies/repository.py) keep one contract on both backends:
one statement on PostgreSQL, one transaction on SQLite, and the same arguments, results
and errors; when they refuse, nothing of theirs is written.

The races are forced, not hoped for: a competing write commits at the moment that
matters (after any check the backend makes before its own write) and the write that
comes second must still refuse it exactly as it would have refused it up front."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from passkey_api.audit import service as audit
from passkey_api.ceremonies import repository
from passkey_api.errors import CredentialExists, UsernameTaken
from passkey_api.kit.client_info import ClientInfo
from passkey_api.sessions import service as sessions
from passkey_api.storage.db import model_from
from passkey_api.storage.models import AuditEvent, Passkey, Session, User
from passkey_api.users import repository as users_repository
from tests.api.conftest import Api, new_username

CLIENT = ClientInfo(user_agent="tests", ip="203.0.113.7")


@dataclass(frozen=True)
class SignUp:
    """What a sign-up writes: the account, its passkey, its session, its audit row."""

    user: User
    passkey: Passkey
    session: Session
    event: AuditEvent

    async def record(self, api: Api) -> None:
        await repository.record_sign_up(
            api.resources.databases,
            user=self.user,
            passkey=self.passkey,
            session=self.session,
            event=self.event,
        )


def sign_up(api: Api, *, username: str | None = None, credential_id: bytes | None = None) -> SignUp:
    now = datetime.now(UTC)
    username = username or new_username()
    user = model_from(
        User,
        id=uuid.uuid4(),
        username=username,
        username_key=username.casefold(),
        display_name=username,
        user_handle=os.urandom(32),
        created_at=now,
        roles=["user"],
    )
    passkey = model_from(
        Passkey,
        id=uuid.uuid4(),
        user_id=user.id,
        credential_id=credential_id or os.urandom(32),
        public_key=os.urandom(77),  # never read here
        sign_count=0,
        transports=["internal"],
        aaguid=str(uuid.UUID(int=0)),
        backup_eligible=True,
        backup_state=True,
        discoverable=True,
        attestation_format="none",
        user_verified=True,
        created_at=now,
        name="A passkey",
    )
    _, session = sessions.new(
        user=user,
        user_verified=True,
        client=CLIENT,
        lifetimes=api.settings.session_lifetimes,
        now=now,
        stepped_up=True,
    )
    event = audit.event_row("sign_up", user_id=user.id, client=CLIENT, now=now)
    return SignUp(user, passkey, session, event)


async def count(api: Api, model: type[SQLModel], **where: Any) -> int:
    table = model.__table__  # type: ignore[attr-defined]
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    async with api.resources.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def written(api: Api, attempt: SignUp) -> list[int]:
    """How many of the attempt's own four rows are in the database (each 0 or 1)."""
    rows = (attempt.user, attempt.passkey, attempt.session, attempt.event)
    return [await count(api, type(row), id=row.id) for row in rows]


def right_before(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, then: Callable[[], Awaitable[None]]
) -> list[bool]:
    """Wrap `module.<name>` so that its first call runs `then()` to its end first."""
    original = getattr(module, name)
    fired: list[bool] = []

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            await then()
        return await original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return fired


# --- sign-up ----------------------------------------------------------------------------


async def test_a_sign_up_writes_its_four_rows(api: Api) -> None:
    attempt = sign_up(api)
    await attempt.record(api)
    assert await written(api, attempt) == [1, 1, 1, 1]
    assert await count(api, Passkey, user_id=attempt.user.id) == 1


Clash = Literal["username", "credential", "both"]
REFUSAL: dict[Clash, type[Exception]] = {
    "username": UsernameTaken,
    "credential": CredentialExists,
    # One answer whichever constraint the backend runs into first.
    "both": UsernameTaken,
}


def clashing(api: Api, first: SignUp, clash: Clash) -> SignUp:
    return sign_up(
        api,
        # Another spelling of the same key: the key is what must be unique.
        username=first.user.username.upper() if clash != "credential" else None,
        credential_id=first.passkey.credential_id if clash != "username" else None,
    )


@pytest.mark.parametrize("clash", ["username", "credential", "both"])
async def test_a_sign_up_that_clashes_is_refused_and_writes_nothing(api: Api, clash: Clash) -> None:
    first = sign_up(api)
    await first.record(api)
    second = clashing(api, first, clash)
    with pytest.raises(REFUSAL[clash]):
        await second.record(api)
    assert await written(api, second) == [0, 0, 0, 0]
    assert await written(api, first) == [1, 1, 1, 1]


@pytest.mark.parametrize("clash", ["username", "credential", "both"])
async def test_a_clash_committed_after_the_checks_is_refused_by_the_write(
    api: Api, monkeypatch: pytest.MonkeyPatch, clash: Clash
) -> None:
    """The UNIQUE constraints decide in the same write, not a check before it: the first
    sign-up commits right before the second one's INSERT (SQLite, after its checks),
    or right before its one statement (PostgreSQL, which checks nothing before)."""
    first = sign_up(api)
    second = clashing(api, first, clash)
    if api.resources.pool is None:
        fired = right_before(monkeypatch, users_repository, "add", lambda: first.record(api))
    else:
        await first.record(api)
        fired = [True]
    with pytest.raises(REFUSAL[clash]):
        await second.record(api)
    assert fired
    assert await written(api, second) == [0, 0, 0, 0]
    assert await written(api, first) == [1, 1, 1, 1]
