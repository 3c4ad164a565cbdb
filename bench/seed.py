"""Bulk-load N users, each with a passkey and a session, straight into PostgreSQL (COPY),
to show how the hot paths behave with a large database."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

BATCH = 50_000


async def seed(database_url: str, count: int) -> None:
    connection = await asyncpg.connect(database_url)
    now = datetime.now(UTC)
    try:
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            users, passkeys, sessions = [], [], []
            for n in range(start, start + size):
                user_id = uuid.uuid4()
                name = f"seed-{n}"
                users.append((user_id, name, name, name, os.urandom(32), now, '["user"]', None))
                passkeys.append(
                    (
                        uuid.uuid4(),
                        user_id,
                        os.urandom(32),
                        os.urandom(77),
                        0,
                        '["internal"]',
                        "00000000-0000-0000-0000-000000000000",
                        False,
                        False,
                        True,
                        "none",
                        True,
                        now,
                        None,
                        "Passkey",
                    )
                )
                sessions.append(
                    (
                        uuid.uuid4(),
                        os.urandom(32),
                        user_id,
                        True,
                        now,
                        now,
                        now + timedelta(days=30),
                        "seed",
                        "127.0.0.1",
                        "{}",
                    )
                )
            await connection.copy_records_to_table(
                "users",
                records=users,
                columns=[
                    "id",
                    "username",
                    "username_key",
                    "display_name",
                    "user_handle",
                    "created_at",
                    "roles",
                    "disabled_at",
                ],
            )
            await connection.copy_records_to_table(
                "passkeys",
                records=passkeys,
                columns=[
                    "id",
                    "user_id",
                    "credential_id",
                    "public_key",
                    "sign_count",
                    "transports",
                    "aaguid",
                    "backup_eligible",
                    "backup_state",
                    "discoverable",
                    "attestation_format",
                    "user_verified",
                    "created_at",
                    "last_used_at",
                    "name",
                ],
            )
            await connection.copy_records_to_table(
                "sessions",
                records=sessions,
                columns=[
                    "id",
                    "token_hash",
                    "user_id",
                    "user_verified",
                    "created_at",
                    "last_seen_at",
                    "expires_at",
                    "user_agent",
                    "ip",
                    "reauthenticated",
                ],
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
