"""Applying and checking the Alembic migrations, from the CLI, the app and the tests."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def script_location() -> Path:
    # Installed wheel: shipped inside the package. Source checkout: the top-level alembic/.
    packaged = Path(__file__).parents[1] / "_alembic"
    if (packaged / "env.py").exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "alembic"


def _config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest revision (blocking; call from a thread or the CLI)."""
    command.upgrade(_config(database_url), "head")


def pending(current: str | None) -> list[str]:
    """The revisions after `current` (None: an empty database), oldest first."""
    scripts = ScriptDirectory.from_config(_config(""))
    newer = scripts.iterate_revisions("head", current or "base")
    return [revision.revision for revision in reversed(list(newer))]


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the scripts: read once per process (/readyz asks on every
    call, and the scripts do not change under a running process)."""
    return ScriptDirectory.from_config(_config("")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)
