"""The session cache (sessions/cache.py): a session check is served from the process while
nothing changed, and any change the service makes to users or sessions, through any
repository, outdates every cached copy before the next request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, text, update
from sqlmodel import col, select

from passkey_api.db import create_sessionmaker, untracked
from passkey_api.models import Session, User
from passkey_api.redispipe import RedisUnavailable
from tests.api.conftest import Api, ApiFactory, problem_code
from tests.softauthn import SoftAuthenticator

NATIVE = {"X-Client-Type": "native"}


async def _rename_around_the_service(api: Api, name: str) -> None:
    # SQL on a connection of its own, as an operator's psql would write it.
    async with api.resources.engine.begin() as connection:
        await connection.execute(text("UPDATE users SET display_name = :name"), {"name": name})


async def test_a_session_check_is_served_from_the_cache_until_the_epoch_ends(api: Api) -> None:
    if api.settings.redis_url is None:
        pytest.skip("without Redis the app keeps no sessions (sessions/cache.py)")
    await api.sign_up(SoftAuthenticator(), "carol")
    assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "carol"
    await _rename_around_the_service(api, "Carol C.")
    # Not read again: the cached copy answers (a write around the service is seen within
    # PASSKEY_SESSION_CACHE_TTL, or once the epoch ends).
    assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "carol"
    await api.resources.session_cache.epoch.end()
    assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "Carol C."


@pytest.mark.parametrize("off", ["ttl 0", "no Redis"])
async def test_with_the_cache_off_every_check_reads_the_database(
    make_api: ApiFactory, off: str
) -> None:
    api = await make_api(session_cache_ttl=0) if off == "ttl 0" else await make_api(redis_url=None)
    await api.sign_up(SoftAuthenticator(), "dave")
    assert (await api.client.get("/v1/session")).status_code == 200
    await _rename_around_the_service(api, "Dave D.")
    assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "Dave D."


async def test_a_change_on_one_replica_reaches_the_cache_of_another(
    make_api: ApiFactory,
) -> None:
    first, second = await make_api(), await make_api()
    if first.settings.redis_url is None:
        pytest.skip("without Redis there is one process, so no other replica")
    signed_up = await first.sign_up(SoftAuthenticator(), "gail", headers=NATIVE)
    bearer = {"Authorization": f"Bearer {signed_up.json()['session_token']}"}
    for replica in (first, second):  # both hold a copy now
        assert (await replica.client.get("/v1/session", headers=bearer)).status_code == 200
    async with second.resources.sessionmaker() as db:
        await db.exec(update(User).values(display_name="Gail G."))
        await db.commit()
    session = await first.client.get("/v1/session", headers=bearer)
    assert session.json()["user"]["display_name"] == "Gail G."
    assert (await second.client.delete("/v1/session", headers=bearer)).status_code == 204
    response = await first.client.get("/v1/session", headers=bearer)
    assert (response.status_code, problem_code(response)) == (401, "not_authenticated")


async def _commit_keeps_the_epoch(api: Api, work: str) -> bool:
    """Do `work` in one unit of work and commit it; whether the epoch outlived it."""
    epoch = api.resources.session_cache.epoch
    before = await epoch.ensure()
    async with api.resources.sessionmaker() as db:
        user = (await db.exec(select(User))).one()
        if work == "update statement":
            await db.exec(update(User).values(display_name="x"))
        elif work == "attribute":
            user.display_name = "y"  # flushed by the commit
        elif work == "delete statement":
            await db.exec(delete(Session).where(col(Session.user_id) == user.id))
        elif work == "untracked":
            untracked(db)
            await db.exec(update(Session).values(reauthenticated={}))
        elif work == "rolled back":
            await db.exec(update(User).values(display_name="z"))
            await db.rollback()
        elif work == "insert":
            other = User(
                id=uuid.uuid4(),
                username="ins",
                username_key="ins",
                display_name="ins",
                user_handle=uuid.uuid4().bytes,
                created_at=datetime.now(UTC),
            )
            db.add(other)
        await db.commit()
    return await epoch.current() == before


@pytest.mark.parametrize(
    ("work", "keeps"),
    [
        ("update statement", False),
        ("attribute", False),
        ("delete statement", False),
        ("untracked", True),
        ("rolled back", True),
        ("insert", True),
    ],
)
async def test_which_commits_end_the_epoch(api: Api, work: str, keeps: bool) -> None:
    await api.sign_up(SoftAuthenticator(), "erin")
    assert await _commit_keeps_the_epoch(api, work) is keeps


async def test_a_change_whose_epoch_cannot_end_is_not_committed(api: Api) -> None:
    await api.sign_up(SoftAuthenticator(), "frida")

    async def unreachable() -> None:
        raise RedisUnavailable("cannot connect to Redis")

    sessionmaker = create_sessionmaker(api.resources.engine, on_change=unreachable)
    async with sessionmaker() as db:
        await db.exec(update(User).values(display_name="never"))
        with pytest.raises(RedisUnavailable):
            await db.commit()
        await db.rollback()
    assert await api.scalar("SELECT display_name FROM users") == "frida"


async def test_without_redis_checks_read_the_database_and_changes_are_refused(
    make_api: ApiFactory,
) -> None:
    healthy = await make_api()
    if healthy.settings.redis_url is None:
        pytest.skip("the embedded backend has no Redis to lose")
    # A replica that cannot reach Redis (nothing listens on port 1).
    cut_off = await make_api(redis_url="redis://127.0.0.1:1/0")
    signed_up = await healthy.sign_up(SoftAuthenticator(), "hank", headers=NATIVE)
    bearer = {"Authorization": f"Bearer {signed_up.json()['session_token']}"}
    assert (await healthy.client.get("/v1/session", headers=bearer)).status_code == 200
    assert (await cut_off.client.get("/v1/session", headers=bearer)).status_code == 200
    # Signing out there cannot outdate the healthy replica's copy: refused, not half done.
    response = await cut_off.client.delete("/v1/session", headers=bearer)
    assert (response.status_code, problem_code(response)) == (503, "challenge_store_unavailable")
    assert await healthy.scalar("SELECT count(*) FROM sessions") == 1
    assert (await healthy.client.get("/v1/session", headers=bearer)).status_code == 200
    assert (await healthy.client.delete("/v1/session", headers=bearer)).status_code == 204
    assert (await healthy.client.get("/v1/session", headers=bearer)).status_code == 401


async def test_the_cache_keeps_at_most_its_size_and_nothing_past_its_time() -> None:
    from passkey_api.sessions.cache import MemoryEpoch, SessionCache

    cache = SessionCache(MemoryEpoch(), ttl=30, max_entries=3)
    epoch = await cache.epoch.ensure()
    now = datetime.now(UTC)
    for n in range(5):
        session = Session(
            id=uuid.uuid4(),
            token_hash=bytes([n]) * 32,
            user_id=uuid.uuid4(),
            user_verified=True,
            created_at=now,
            last_seen_at=now,
            expires_at=now,
        )
        user = User(
            id=session.user_id,
            username="u",
            username_key="u",
            display_name="u",
            user_handle=bytes(32),
            created_at=now,
        )
        cache.store(session.token_hash, session, user, epoch)
    assert [k[0] for k in cache._entries] == [2, 3, 4]  # the oldest crowded out
    found = (await cache.lookup(bytes([4]) * 32)).found
    assert found is not None
    assert found[0].token_hash == bytes([4]) * 32
    assert (await cache.lookup(bytes([0]) * 32)).found is None
    for entry in cache._entries.values():
        object.__setattr__(entry, "deadline", 0.0)
    assert (await cache.lookup(bytes([4]) * 32)).found is None  # out of time
    cache.store(session.token_hash, session, user, epoch)
    assert list(cache._entries) == [session.token_hash]
