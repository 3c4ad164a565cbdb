"""The session cache (sessions/cache.py): a session check is served from the process while
nothing changed, and any change the service makes to users or sessions, through any
repository, outdates every cached copy before the next request."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, text, update
from sqlmodel import col, select

from passkey_api.sessions.cache import Lookup, MemoryEpoch, RedisEpoch, SessionCache
from passkey_api.storage.db import create_sessionmaker, untracked
from passkey_api.storage.models import Session, User
from passkey_api.storage.redispipe import RedisRefused, RedisUnavailable
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
    await api.resources.session_cache.epoch.end("by hand", leave=True)
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
    cache = SessionCache(epoch, ttl=30)  # on the embedded backend too (its app has none)
    before = await epoch.ensure()
    async with create_sessionmaker(api.resources.engine, on_change=cache.change)() as db:
        user = (await db.exec(select(User))).one()
        if work == "update statement":
            await db.exec(update(User).values(display_name="x"))
        elif work == "attribute":
            user.display_name = "y"  # flushed by the commit
        elif work == "delete statement":
            await db.exec(delete(Session).where(col(Session.user_id) == user.id))
        elif work == "untracked":
            with untracked(db):
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


async def test_untracked_writes_leave_later_changes_tracked(api: Api) -> None:
    """An untracked write (recovery's attempt counts) keeps only itself out of the
    cache's sight: a change to users or sessions later on the same unit of work, after
    its commit or in the same transaction, still ends the epoch."""
    await api.sign_up(SoftAuthenticator(), "nina")
    epoch = api.resources.session_cache.epoch
    cache = SessionCache(epoch, ttl=30)  # on the embedded backend too (its app has none)
    async with create_sessionmaker(api.resources.engine, on_change=cache.change)() as db:
        before = await epoch.ensure()
        with untracked(db):
            await db.exec(update(User).values(recovery_failures=1))
        await db.commit()
        assert await epoch.current() == before  # the untracked write: no change announced
        await db.exec(update(User).values(display_name="Nina N."))
        await db.commit()
        assert await epoch.current() != before
        before = await epoch.ensure()
        with untracked(db):
            await db.exec(update(User).values(recovery_failures=2))
        await db.exec(update(User).values(display_name="Nina"))
        await db.commit()
        assert await epoch.current() != before


class _Flaky(MemoryEpoch):
    """An epoch whose store fails its first `failures` calls to begin or end."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def begin(self, writer: str) -> None:
        await self._maybe_fail()
        await super().begin(writer)

    async def end(self, writer: str, *, leave: bool) -> None:
        await self._maybe_fail()
        await super().end(writer, leave=leave)

    async def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RedisUnavailable("cannot connect to Redis")


async def test_a_change_commits_without_redis_and_ends_the_epoch_once_it_answers(
    api: Api,
) -> None:
    await api.sign_up(SoftAuthenticator(), "frida")
    epoch = _Flaky(failures=2)  # begin and the first end fail
    cache = SessionCache(epoch, ttl=30)
    before = await epoch.ensure()
    async with create_sessionmaker(api.resources.engine, on_change=cache.change)() as db:
        await db.exec(update(User).values(display_name="Frida F."))
        await db.commit()
    # Sign-out and revocation must work in an outage: committed.
    assert await api.scalar("SELECT display_name FROM users") == "Frida F."
    assert await epoch.current() == before  # not ended yet: Redis did not answer
    for _ in range(30):
        await asyncio.sleep(0.1)
        if await epoch.current() != before:
            break
    assert await epoch.current() is None  # ended by the retry
    await cache.close()


async def test_while_a_change_is_being_committed_nothing_is_cached(api: Api) -> None:
    if api.settings.redis_url is None:
        pytest.skip("without Redis the app keeps no sessions (sessions/cache.py)")
    await api.sign_up(SoftAuthenticator(), "ivan")
    epoch = api.resources.session_cache.epoch
    await epoch.begin("a writer that never leaves")  # its lease would end it
    try:
        assert (await api.client.get("/v1/session")).status_code == 200
        await _rename_around_the_service(api, "Ivan I.")
        assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "Ivan I."
    finally:
        await epoch.end("a writer that never leaves", leave=True)
    assert (await api.client.get("/v1/session")).status_code == 200  # cached again
    await _rename_around_the_service(api, "Ivan")
    assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "Ivan I."


async def test_after_redis_reconnects_no_older_entry_is_used(api: Api) -> None:
    # A new connection may be to a restarted or failed-over Redis, whose epoch may be an
    # older one brought back from a snapshot.
    if api.settings.redis_url is None:
        pytest.skip("without Redis the app keeps no sessions (sessions/cache.py)")
    await api.sign_up(SoftAuthenticator(), "judy")
    assert (await api.client.get("/v1/session")).status_code == 200
    await _rename_around_the_service(api, "Judy J.")
    assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "judy"
    epoch = api.resources.session_cache.epoch
    assert isinstance(epoch, RedisEpoch)
    protocol = epoch._redis._protocol
    assert protocol is not None
    protocol.abort()  # the connection drops; the next command opens another
    assert (await api.client.get("/v1/session")).json()["user"]["display_name"] == "Judy J."


async def test_a_replica_cut_off_from_redis_reads_the_database_and_still_signs_out(
    make_api: ApiFactory,
) -> None:
    healthy = await make_api()
    if healthy.settings.redis_url is None:
        pytest.skip("the embedded backend has no Redis to lose")
    # A replica that cannot reach Redis (nothing listens on port 1).
    cut_off = await make_api(redis_url="redis://127.0.0.1:1/0")
    signed_up = await healthy.sign_up(SoftAuthenticator(), "hank", headers=NATIVE)
    bearer = {"Authorization": f"Bearer {signed_up.json()['session_token']}"}
    assert (await cut_off.client.get("/v1/session", headers=bearer)).status_code == 200
    assert (await cut_off.client.delete("/v1/session", headers=bearer)).status_code == 204
    assert await healthy.scalar("SELECT count(*) FROM sessions") == 0
    assert (await cut_off.client.get("/v1/session", headers=bearer)).status_code == 401
    assert (await healthy.client.get("/v1/session", headers=bearer)).status_code == 401


async def test_the_cache_keeps_at_most_its_size_and_nothing_past_its_time() -> None:
    cache = SessionCache(MemoryEpoch(), ttl=30, max_entries=3)
    epoch = await cache.epoch.ensure()
    assert epoch is not None
    lookup = Lookup(None, epoch)
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
        cache.store(session.token_hash, session, user, lookup)
    assert [k[0] for k in cache._entries] == [2, 3, 4]  # the oldest crowded out
    found = (await cache.lookup(bytes([4]) * 32)).found
    assert found is not None
    assert found[0].token_hash == bytes([4]) * 32
    assert (await cache.lookup(bytes([0]) * 32)).found is None
    for entry in cache._entries.values():
        object.__setattr__(entry, "deadline", 0.0)
    assert (await cache.lookup(bytes([4]) * 32)).found is None  # out of time
    cache.store(session.token_hash, session, user, lookup)
    assert list(cache._entries) == [session.token_hash]


async def test_a_change_that_redis_refuses_to_record_is_not_committed(api: Api) -> None:
    # Redis answering but refusing writes (a primary demoted by a failover, a failed
    # save) may still serve the reads that make cache hits: the change must wait.
    await api.sign_up(SoftAuthenticator(), "kate")

    class Refusing(MemoryEpoch):
        async def begin(self, writer: str) -> None:
            raise RedisRefused("READONLY You can't write against a read only replica.")

    cache = SessionCache(Refusing(), ttl=30)
    async with create_sessionmaker(api.resources.engine, on_change=cache.change)() as db:
        await db.exec(update(User).values(display_name="never"))
        with pytest.raises(RedisRefused):
            await db.commit()
        await db.rollback()
    assert await api.scalar("SELECT display_name FROM users") == "kate"


async def test_a_commit_that_failed_keeps_its_writer_registered() -> None:
    # A COMMIT that timed out may still become visible: nothing may be cached until the
    # writer's lease ends.
    epoch = MemoryEpoch()
    cache = SessionCache(epoch, ttl=30)
    with pytest.raises(TimeoutError):
        async with cache.change():
            raise TimeoutError
    assert await epoch.ensure() is None
    async with cache.change():
        pass
    assert await epoch.ensure() is None  # the failed one is still registered


async def test_with_its_cache_off_a_replica_still_announces_its_changes(
    make_api: ApiFactory,
) -> None:
    api = await make_api(session_cache_ttl=0)
    if api.settings.redis_url is None:
        pytest.skip("without Redis there is nobody to announce to")
    await api.sign_up(SoftAuthenticator(), "liam")
    epoch = api.resources.session_cache.epoch
    before = await epoch.ensure()
    async with api.resources.sessionmaker() as db:
        await db.exec(update(User).values(display_name="Liam L."))
        await db.commit()
    assert await epoch.current() != before
