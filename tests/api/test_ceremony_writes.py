"""The ceremonies' writes (ceremonies/repository.py) keep one contract on both backends:
one statement on PostgreSQL, one transaction on SQLite, and the same arguments, results
and errors; when they refuse, nothing of theirs is written.

The races are forced, not hoped for: a competing write commits at the moment that
matters (after any check the backend makes before its own write) and the write that
comes second must still refuse it exactly as it would have refused it up front."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from passkey_api.audit import service as audit
from passkey_api.ceremonies import repository
from passkey_api.errors import CredentialExists, SignCountRegression, UsernameTaken
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys import repository as passkeys_repository
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


# --- sign-in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """What a sign-in writes besides the passkey's use: its session and its audit row."""

    session: Session
    event: AuditEvent

    async def record(
        self,
        api: Api,
        passkey: Passkey,
        sign_count: int,
        *,
        backup_state: bool = True,
        user_verified: bool = True,
    ) -> list[bytes]:
        return await repository.record_sign_in(
            api.resources.databases,
            passkey_id=passkey.id,
            sign_count=sign_count,
            backup_state=backup_state,
            user_verified=user_verified,
            session=self.session,
            event=self.event,
        )


def sign_in(api: Api, user: User, now: datetime | None = None) -> SignIn:
    now = now or datetime.now(UTC)
    _, session = sessions.new(
        user=user,
        user_verified=True,
        client=CLIENT,
        lifetimes=api.settings.session_lifetimes,
        now=now,
    )
    return SignIn(session, audit.event_row("sign_in", user_id=user.id, client=CLIENT, now=now))


async def account_with_count(api: Api, sign_count: int, *, user_verified: bool = True) -> SignUp:
    account = sign_up(api)
    account.passkey.sign_count = sign_count
    account.passkey.user_verified = user_verified
    await account.record(api)
    return account


async def stored(api: Api, passkey: Passkey) -> Passkey:
    found = await passkeys_repository.get_with_user(api.resources.databases, passkey.credential_id)
    assert found is not None
    return found[0]


async def sign_in_rows(api: Api, attempt: SignIn) -> list[int]:
    return [
        await count(api, Session, id=attempt.session.id),
        await count(api, AuditEvent, id=attempt.event.id),
    ]


async def test_the_lookup_answers_the_passkey_and_its_owner(api: Api) -> None:
    account = sign_up(api)
    await account.record(api)
    found = await passkeys_repository.get_with_user(
        api.resources.databases, account.passkey.credential_id
    )
    assert found is not None
    passkey, user = found
    assert (passkey.id, passkey.user_id, passkey.credential_id) == (
        account.passkey.id,
        account.user.id,
        account.passkey.credential_id,
    )
    assert (user.id, user.username, user.user_handle, user.disabled_at) == (
        account.user.id,
        account.user.username,
        account.user.user_handle,
        None,
    )
    assert await passkeys_repository.get_with_user(api.resources.databases, os.urandom(32)) is None


async def test_a_sign_in_records_the_use_and_answers_the_credential_ids_oldest_first(
    api: Api,
) -> None:
    account = await account_with_count(api, 5, user_verified=False)
    newer = model_from(
        Passkey,
        **{
            **account.passkey.model_dump(),
            "id": uuid.uuid4(),
            "credential_id": os.urandom(32),
            "created_at": account.passkey.created_at + timedelta(seconds=1),
        },
    )
    async with api.resources.databases.session() as db:
        await passkeys_repository.add(db, newer)
        await db.commit()
    now = datetime.now(UTC)
    attempt = sign_in(api, account.user, now)
    ids = await attempt.record(api, account.passkey, 6, backup_state=False, user_verified=True)
    assert ids == [account.passkey.credential_id, newer.credential_id]
    assert await sign_in_rows(api, attempt) == [1, 1]
    used = await stored(api, account.passkey)
    assert (used.sign_count, used.backup_state, used.user_verified, used.last_used_at) == (
        6,
        False,
        True,
        now,
    )
    # Once its authenticator verified the user, a passkey can: never back to False.
    await sign_in(api, account.user).record(api, account.passkey, 7, user_verified=False)
    assert (await stored(api, account.passkey)).user_verified is True
    untouched = await stored(api, newer)
    assert (untouched.sign_count, untouched.last_used_at) == (5, None)


@pytest.mark.parametrize(("before", "after"), [(5, 5), (5, 4), (3, 0)])
async def test_a_counter_that_does_not_move_forward_writes_nothing(
    api: Api, before: int, after: int
) -> None:
    account = await account_with_count(api, before)
    attempt = sign_in(api, account.user)
    with pytest.raises(SignCountRegression):
        await attempt.record(api, account.passkey, after)
    assert await sign_in_rows(api, attempt) == [0, 0]
    passkey = await stored(api, account.passkey)
    assert (passkey.sign_count, passkey.last_used_at) == (before, None)


async def test_counters_that_stay_at_zero_sign_in_every_time(api: Api) -> None:
    """Authenticators without a counter (synced passkeys) send 0 every time."""
    account = await account_with_count(api, 0)
    attempts = [sign_in(api, account.user) for _ in range(2)]
    for attempt in attempts:
        assert await attempt.record(api, account.passkey, 0) == [account.passkey.credential_id]
        assert await sign_in_rows(api, attempt) == [1, 1]


@pytest.mark.parametrize("racers", [2, 10])
async def test_racing_sign_ins_with_one_counter_value_write_one_session(
    api: Api, racers: int
) -> None:
    """The counter condition sits in the write: of sign-ins that all read the counter at 5
    and all send 6, one records its use; every other one is refused with nothing written."""
    account = await account_with_count(api, 5)
    attempts = [sign_in(api, account.user) for _ in range(racers)]
    results = await asyncio.gather(
        *(attempt.record(api, account.passkey, 6) for attempt in attempts),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, list)]
    assert winners == [[account.passkey.credential_id]], results
    assert all(isinstance(r, SignCountRegression) for r in results if r not in winners)
    assert await count(api, Session, user_id=account.user.id) == 2  # the sign-up's and one
    rows = [await sign_in_rows(api, attempt) for attempt in attempts]
    assert sorted(rows) == [[0, 0]] * (racers - 1) + [[1, 1]]
    assert (await stored(api, account.passkey)).sign_count == 6
