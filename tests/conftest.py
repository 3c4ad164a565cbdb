"""Shared fixtures: the two backends every API test runs on.

- "postgres": a fresh database on the real PostgreSQL plus the real Redis.
- "embedded": SQLite in a temporary folder plus the in-process challenge store.

Without PostgreSQL/Redis (outside CI) the postgres half is skipped with the reason; with
CI=true a missing service fails the run instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from passkey_api.storage import migrations
from tests.services import REDIS_URL, SECRET_KEY, SKIPPED, postgres_database, require_redis

__all__ = ["REDIS_URL", "SECRET_KEY", "Backend"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SKIPPED:
        terminalreporter.write_sep("=", "some tests were SKIPPED for missing services", yellow=True)
        for reason in sorted(SKIPPED):
            terminalreporter.write_line(f"- {reason}")


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
        await require_redis()
        async with postgres_database() as url:
            await asyncio.to_thread(migrations.upgrade, url)
            yield Backend("postgres", url, REDIS_URL)
    else:
        path: Path = tmp_path_factory.mktemp("embedded") / "passkey-api.db"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(migrations.upgrade, url)
        yield Backend("embedded", url, None)
