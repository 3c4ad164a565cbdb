"""Alembic environment: runs migrations over the app's own async engine factory."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from passkey_api.config import Settings
from passkey_api.storage import models
from passkey_api.storage.db import create_engine, is_sqlite

target_metadata = models.SQLModel.metadata


def _url() -> str:
    # `passkey-api migrate` passes the URL in; a bare `alembic upgrade head` reads settings.
    url = context.config.attributes.get("database_url")
    return str(url) if url else Settings().resolved_database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=is_sqlite(_url()),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url(), pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
