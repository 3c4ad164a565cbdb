"""A live passkey-api for the schema fuzzer, on the production backend (PostgreSQL +
Redis), which is stricter than SQLite about what text it stores. Rate limits are off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Server, serve
from tests.services import REDIS_URL, postgres_database, require_redis


@pytest.fixture(scope="session")
async def live_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    await require_redis()
    async with postgres_database("passkey_fuzz") as database_url:
        env = {
            "PASSKEY_DATABASE_URL": database_url,
            "PASSKEY_REDIS_URL": REDIS_URL,
            "PASSKEY_RATE_LIMITS": "false",
        }
        async with serve("postgres", tmp_path_factory.mktemp("fuzz"), env) as server:
            yield server
