"""Database engine and per-request sessions. The engine belongs to the app's lifespan."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api import metrics


def async_url(url: str) -> str:
    """Accept the usual spellings (postgres://, postgresql://, sqlite://) and pick async drivers."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _timed(engine: AsyncEngine) -> AsyncEngine:
    """Statement latency into passkey_database_query_duration_seconds."""

    def before(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any
    ) -> None:
        context._passkey_started = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: Any) -> None:
        metrics.DATABASE.observe(time.perf_counter() - context._passkey_started)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    return engine


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return _timed(engine)
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        # Errors must not carry bound values (names, handles, token hashes) into logs.
        hide_parameters=True,
        # Fail fast when PostgreSQL is unreachable instead of hanging a request.
        connect_args={"timeout": 5, "command_timeout": 30},
    )
    event.listen(engine.sync_engine.pool, "checkout", _drop_closed_connection)
    return _timed(engine)


def _drop_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling without a round trip: a pooled connection whose
    socket the server closed (a restart, a failover) is swapped for a new one. This is
    what pool_pre_ping would do, minus a SELECT 1 on every request."""
    if dbapi_connection._connection.is_closed():
        raise DisconnectionError()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


# --- Core on the hot paths ---------------------------------------------------------------
# The ORM costs about three times a Core statement per query here; the queries every
# request or ceremony runs use Core, and hand back model objects that are not attached to
# the session (they are written with explicit UPDATEs, never flushed).

L = TypeVar("L", bound=SQLModel)
R = TypeVar("R", bound=SQLModel)


async def insert_row(db: AsyncSession, row: SQLModel) -> None:
    """INSERT one model object as it is, in the session's transaction."""
    table = type(row).__table__  # type: ignore[attr-defined]
    connection = await db.connection()
    await connection.execute(table.insert(), {c.name: getattr(row, c.name) for c in table.c})


class PairQuery(Generic[L, R]):
    """`left JOIN right ON left.<fk> = right.id WHERE left.<key> = :key`, as two detached
    model objects; the statement is built once."""

    def __init__(self, left: type[L], right: type[R], *, foreign_key: str, key: str) -> None:
        self.left, self.right = left, right
        self._left_table = left.__table__  # type: ignore[attr-defined]
        self._right_table = right.__table__  # type: ignore[attr-defined]
        self._statement = (
            select(
                *[c.label(f"l_{c.name}") for c in self._left_table.c],
                *[c.label(f"r_{c.name}") for c in self._right_table.c],
            )
            .join_from(
                self._left_table,
                self._right_table,
                self._right_table.c.id == self._left_table.c[foreign_key],
            )
            .where(self._left_table.c[key] == bindparam("key"))
        )

    async def one(self, db: AsyncSession, key: object) -> tuple[L, R] | None:
        connection = await db.connection()
        row = (await connection.execute(self._statement, {"key": key})).mappings().first()
        if row is None:
            return None
        left = self.left(**{c.name: row[f"l_{c.name}"] for c in self._left_table.c})
        right = self.right(**{c.name: row[f"r_{c.name}"] for c in self._right_table.c})
        return left, right
