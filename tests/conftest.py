"""Shared fixtures: the two backends every API test runs on.

- "postgres": a fresh database on the real PostgreSQL plus the real Redis.
- "embedded": SQLite in a temporary folder plus the in-process challenge store.

Without PostgreSQL/Redis (outside CI) the postgres half is skipped with the reason; with
CI=true a missing service fails the run instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from passkey_api import migrations

PG_ADMIN_URL = os.environ.get(
    "PASSKEY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PASSKEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SECRET_KEY = "test-secret-key-" + "x" * 40


_SKIPPED_BACKENDS: set[str] = set()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for message in sorted(_SKIPPED_BACKENDS):
        terminalreporter.write_sep("=", "PostgreSQL + Redis half SKIPPED", yellow=True)
        terminalreporter.write_line(
            f"Only the embedded backend (SQLite + in-process store) was tested: {message}."
        )


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require_services() -> None:
    missing = [
        name
        for name, url, port in (("PostgreSQL", PG_ADMIN_URL, 5432), ("Redis", REDIS_URL, 6379))
        if not _reachable(url, port)
    ]
    if not missing:
        return
    message = (
        f"{' and '.join(missing)} not reachable ({PG_ADMIN_URL}, {REDIS_URL}); start them "
        "(e.g. `docker compose up -d postgres redis`) or set PASSKEY_TEST_DATABASE_URL / "
        "PASSKEY_TEST_REDIS_URL"
    )
    if IN_CI:
        pytest.fail(f"CI=true but {message}", pytrace=False)
    _SKIPPED_BACKENDS.add(message)
    pytest.skip(message)


async def create_database() -> str:
    """CREATE a uniquely named database next to the admin one; return its URL."""
    name = f"passkey_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class Backend:
    def __init__(self, name: str, database_url: str, redis_url: str | None) -> None:
        self.name = name
        self.database_url = database_url
        self.redis_url = redis_url


@pytest.fixture(scope="session", params=["postgres", "embedded"])
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    if request.param == "postgres":
        require_services()
        url = await create_database()
        try:
            await asyncio.to_thread(migrations.upgrade, url)
            client = aioredis.Redis.from_url(REDIS_URL)
            await client.ping()
            await client.aclose()
            yield Backend("postgres", url, REDIS_URL)
        finally:
            await drop_database(url)
    else:
        path: Path = tmp_path_factory.mktemp("embedded") / "passkey-api.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(migrations.upgrade, url)
        yield Backend("embedded", url, None)
