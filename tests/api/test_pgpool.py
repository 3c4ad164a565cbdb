"""The hot-statement pool (pgpool.LeanPool) on a real PostgreSQL: bounded, shared in
turn, and healing when the server drops its connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from passkey_api.pgpool import LeanPool
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


async def test_concurrent_statements_share_a_bounded_set_of_connections(dsn: str) -> None:
    pool = LeanPool(dsn, max_size=3)
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
    pool = LeanPool(dsn, max_size=2)
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
        # Each dead idle connection is noticed at the next acquire, or fails the one
        # statement that was on it; the pool never hands it out again.
        outcomes = []
        for _ in range(4):
            try:
                outcomes.append((await pool.fetchrow("SELECT 1 AS one"))["one"])
            except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
                outcomes.append(None)
        assert outcomes[-2:] == [1, 1]
        assert await _backends(dsn) <= 2
    finally:
        await pool.close()


async def test_a_failing_statement_gives_its_connection_back(dsn: str) -> None:
    pool = LeanPool(dsn, max_size=1)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await pool.fetch("SELECT * FROM no_such_table")
        assert (await pool.fetchrow("SELECT 2 AS two"))["two"] == 2
    finally:
        await pool.close()


async def test_an_unreachable_server_fails_fast_and_frees_its_places() -> None:
    pool = LeanPool("postgresql://postgres@127.0.0.1:1/none", max_size=2)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            await pool.fetchrow("SELECT 1")
    results = await asyncio.gather(
        *(pool.fetchrow("SELECT 1") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, ConnectionRefusedError) for result in results)
    await pool.close()
