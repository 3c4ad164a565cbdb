"""The real services the tests use (PostgreSQL, Redis), where they are, and what to do
when one is missing: skip with the reason outside CI, fail with CI=true."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import NoReturn

import asyncpg
import pytest
import redis.asyncio as aioredis

PG_ADMIN_URL = os.environ.get(
    "PASSKEY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PASSKEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
SECRET_KEY = "test-secret-key-" + "x" * 40

# Reasons something was skipped, for the summary at the end of the run.
SKIPPED: set[str] = set()

HOW_TO_ENABLE = (
    "start them (e.g. `docker compose up -d postgres redis`) or point "
    "PASSKEY_TEST_DATABASE_URL / PASSKEY_TEST_REDIS_URL at them"
)


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing dependency; in CI a missing dependency is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping)", pytrace=False)
    SKIPPED.add(reason)
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def postgres_database(prefix: str = "passkey_test") -> AsyncIterator[str]:
    """A fresh, empty database next to the admin one; dropped (WITH FORCE) on exit."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL is unreachable at {PG_ADMIN_URL} ({exc!r}); {HOW_TO_ENABLE}")
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            if admin.is_closed():  # held for a whole test session: the server may drop it
                admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def require_redis() -> None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        unavailable(f"Redis is unreachable at {REDIS_URL} ({exc!r}); {HOW_TO_ENABLE}")
    finally:
        await client.aclose()
