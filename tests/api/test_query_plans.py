"""Every hot query is an index lookup (PostgreSQL plans): cost must not grow with users."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.api.conftest import Api

HOT_QUERIES = {
    "session by token": "SELECT * FROM sessions JOIN users ON users.id = sessions.user_id "
    "WHERE sessions.token_hash = '\\x00'::bytea",
    "passkey by credential id": "SELECT * FROM passkeys JOIN users ON users.id = "
    "passkeys.user_id WHERE passkeys.credential_id = '\\x00'::bytea",
    "passkeys of a user": "SELECT credential_id, transports FROM passkeys "
    "WHERE user_id = '00000000-0000-0000-0000-000000000000' ORDER BY created_at",
    "user by name": "SELECT * FROM users WHERE username_key = 'alice'",
    "sessions of a user": "SELECT * FROM sessions "
    "WHERE user_id = '00000000-0000-0000-0000-000000000000'",
    "activity of a user": "SELECT * FROM audit_events WHERE user_id = "
    "'00000000-0000-0000-0000-000000000000' ORDER BY at DESC LIMIT 50",
    # The sign-in's one statement (ceremonies/repository.py), in its shape.
    "sign-in write": "WITH used AS (UPDATE passkeys SET sign_count = 2 "
    "WHERE id = '00000000-0000-0000-0000-000000000000' AND sign_count < 2 RETURNING user_id) "
    "SELECT passkeys.credential_id FROM passkeys JOIN used ON passkeys.user_id = used.user_id "
    "ORDER BY passkeys.created_at",
}


@pytest.mark.parametrize("name", HOT_QUERIES)
async def test_hot_queries_use_indexes(api: Api, name: str) -> None:
    if api.settings.redis_url is None:
        pytest.skip("query plans are checked on PostgreSQL")
    async with api.resources.engine.connect() as connection:
        # With sequential scans priced out, a plan without a usable index still shows one.
        await connection.execute(text("SET enable_seqscan = off"))
        rows = (await connection.execute(text("EXPLAIN " + HOT_QUERIES[name]))).all()
    plan = "\n".join(row[0] for row in rows)
    assert "Seq Scan" not in plan, plan
    assert "Index" in plan, plan
