"""The hot-statement pool (pgpool.LeanPool) on a real PostgreSQL: bounded, shared in
turn, and healing when the server drops its connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from passkey_api.storage.db import create_pool
from passkey_api.storage.pgpool import LeanPool
from tests.services import postgres_database


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async with postgres_database("passkey_pool") as url:
        yield url


async def _backends(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return count
    finally:
        await connection.close()


def pool_for(url: str, max_size: int) -> LeanPool:
    pool = create_pool(url, max_size=max_size)
    assert pool is not None
    return pool


async def test_concurrent_statements_share_a_bounded_set_of_connections(dsn: str) -> None:
    pool = pool_for(dsn, 3)
    try:
        results = await asyncio.gather(
            *(pool.fetchrow("SELECT $1::int AS n, pg_sleep(0.01)", i) for i in range(40))
        )
        assert [row["n"] for row in results] == list(range(40))
        assert await _backends(dsn) == 3
        # JSON comes back decoded, as the hot statements expect.
        assert await pool.fetchrow("SELECT '{\"a\": [1]}'::json AS j") == ({"a": [1]},)
    finally:
        await pool.close()
    assert await _backends(dsn) == 0


async def test_connections_the_server_dropped_are_replaced(dsn: str) -> None:
    pool = pool_for(dsn, 2)
    try:
        await asyncio.gather(*(pool.fetchrow("SELECT pg_sleep(0.01)") for _ in range(4)))
        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        # A read finds the dead connections out and runs on a fresh one.
        for _ in range(3):
            assert (await pool.fetchrow("SELECT 1 AS one", read_only=True))["one"] == 1
        assert await _backends(dsn) <= 2
    finally:
        await pool.close()


async def test_a_failing_statement_gives_its_connection_back(dsn: str) -> None:
    pool = pool_for(dsn, 1)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await pool.fetch("SELECT * FROM no_such_table")
        assert (await pool.fetchrow("SELECT 2 AS two"))["two"] == 2
    finally:
        await pool.close()


async def test_an_unreachable_server_fails_fast_and_frees_its_places() -> None:
    pool = pool_for("postgresql://postgres@127.0.0.1:1/none", 2)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await pool.fetchrow("SELECT 1")
    results = await asyncio.gather(
        *(pool.fetchrow("SELECT 1") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, ConnectionRefusedError) for result in results)
    await pool.close()


async def test_url_options_mean_what_they_mean_to_the_engine(dsn: str) -> None:
    """ssl=..., and SQLAlchemy's pgbouncer spelling, reach asyncpg as connect arguments,
    not as server settings (which PostgreSQL would refuse)."""
    pool = pool_for(dsn + "?ssl=disable&prepared_statement_cache_size=0", 1)
    try:
        assert (await pool.fetchrow("SELECT 3 AS three"))["three"] == 3
    finally:
        await pool.close()


async def test_a_closed_pool_refuses_and_closes_what_it_holds(dsn: str) -> None:
    pool = pool_for(dsn, 2)
    await pool.fetchrow("SELECT 1")
    await pool.close()
    with pytest.raises(asyncpg.InterfaceError):
        await pool.fetchrow("SELECT 1")
    assert await _backends(dsn) == 0
