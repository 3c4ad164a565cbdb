"""Database engine and per-request sessions. The engine belongs to the app's lifespan."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, TextClause, bindparam, event, select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import InstanceState, ORMExecuteState, SessionTransaction
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import Session as SQLModelSyncSession
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.kit import metrics
from passkey_api.storage.pgpool import LeanPool


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


# PostgreSQL connections per worker: up to 2 x 10 here (the units of work) plus 10 in the
# hot-statement pool (create_pool): 30, so three workers fit the default
# max_connections of 100.
def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
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


def create_sessionmaker(
    engine: AsyncEngine, *, on_change: Callable[[], AbstractAsyncContextManager[None]] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Units of work; `on_change` is entered around committing one that updated or
    deleted users or sessions (ChangeTrackingSession)."""
    return async_sessionmaker(
        engine, class_=ChangeTrackingSession, expire_on_commit=False, on_change=on_change
    )


# --- Changes the session cache must see -----------------------------------------------
# The session check keeps resolved sessions in the process (sessions/cache.py). Any unit
# of work that updates or deletes rows of these tables announces its commit; noting it
# here, under every repository, means no route or service can forget. Inserts need
# nothing: no cached entry can hold a row that did not exist.
CACHED_TABLES = frozenset({"users", "sessions"})
_CHANGED = "passkey_api.changed_cached_tables"
_UNTRACKED = "passkey_api.untracked"


class _TrackingSyncSession(SQLModelSyncSession):
    """Notes in its info whether a statement or a flush changed CACHED_TABLES."""


@event.listens_for(_TrackingSyncSession, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.session.info.get(_UNTRACKED):
        return  # run inside `untracked` (what it flushes first is still noted)
    statement = state.statement
    if state.is_update or state.is_delete:
        table = getattr(statement, "table", None)
        # A statement on anything but a plain table (an alias, a join) counts as a change.
        if not isinstance(table, Table) or table.name in CACHED_TABLES:
            state.session.info[_CHANGED] = True
    elif isinstance(statement, TextClause) and not state.is_select:
        state.session.info[_CHANGED] = True  # SQL text that writes: assume the worst


@event.listens_for(_TrackingSyncSession, "before_flush")
def _note_flush(session: SQLModelSyncSession, _context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if getattr(obj, "__tablename__", None) in CACHED_TABLES:
            session.info[_CHANGED] = True
            return


@event.listens_for(_TrackingSyncSession, "after_soft_rollback")
def _forget_changes(session: SQLModelSyncSession, previous: SessionTransaction) -> None:
    if previous.parent is None:  # the whole unit of work, not a savepoint
        session.info.pop(_CHANGED, None)


class ChangeTrackingSession(AsyncSession):
    """Sees what goes through the session: statements run by exec()/execute() and the
    objects it flushes. Not seen, and not used for users or sessions anywhere: writes on
    its connection() directly, and commits by `async with db.begin()`."""

    sync_session_class = _TrackingSyncSession

    def __init__(
        self,
        *args: Any,
        on_change: Callable[[], AbstractAsyncContextManager[None]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self._on_change = on_change

    async def commit(self) -> None:
        info = self.sync_session.info
        if self._on_change is None:
            await super().commit()
            return
        await self.flush()  # what the commit would flush counts too
        if not info.get(_CHANGED):
            await super().commit()
            return
        async with self._on_change():
            await super().commit()
        info.pop(_CHANGED, None)


@contextlib.contextmanager
def untracked(db: AsyncSession) -> Iterator[AsyncSession]:
    """`db`, whose statements run inside the block are not noted as changes: for the
    writes that only move a session's times forward, or count recovery attempts, which
    cached copies need not see (sessions/cache.py). Only those statements: a change
    noted before or after the block, or flushed by one of them, still runs on_change when
    the unit of work commits, in this transaction or a later one."""
    info = db.sync_session.info
    outer = info.get(_UNTRACKED, False)
    info[_UNTRACKED] = True
    try:
        yield db
    finally:
        info[_UNTRACKED] = outer


def note_change(db: AsyncSession) -> None:
    """Have `db`'s next commit run on_change, as a statement changing CACHED_TABLES would."""
    db.sync_session.info[_CHANGED] = True


@dataclass(frozen=True)
class Databases:
    """Where queries go: database sessions (SQLAlchemy) for units of work, and on
    PostgreSQL the pool for the hot statements (below). The hot paths take this instead
    of a request-scoped database session, which they would rarely use."""

    sessionmaker: async_sessionmaker[AsyncSession]
    pool: LeanPool | None

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    def connect(self) -> AsyncConnection:
        """A connection for a read outside any unit of work: cheaper than a database
        session where the read is all it is for (SQLite's side of a hot read)."""
        engine: AsyncEngine = self.sessionmaker.kw["bind"]
        return engine.connect()


# --- PostgreSQL's hot statements on asyncpg directly ------------------------------------
# A statement through SQLAlchemy costs ~150 µs of Python on top of asyncpg's ~25 µs (the
# greenlet hop, the pool's checkout events, result processing). The few statements every
# request or ceremony runs go straight to a small asyncpg pool of their own; their SQL is
# still built with Core (from the same tables) and compiled once. Everything else, and
# SQLite always, goes through SQLAlchemy.


def create_pool(url: str, *, max_size: int = 10) -> LeanPool | None:
    """The hot-statement pool for a PostgreSQL URL (connections open on demand, so the
    service starts while PostgreSQL is down); None for SQLite. Its connections are made
    from the URL exactly as the engine's are (ssl=require, a socket directory, ...)."""
    url = async_url(url)
    if is_sqlite(url):
        return None
    _, kwargs = _ASYNCPG.create_connect_args(make_url(url))  # type: ignore[no-untyped-call]
    # SQLAlchemy's own spellings of asyncpg options (e.g. for pgbouncer).
    if "prepared_statement_cache_size" in kwargs:
        kwargs["statement_cache_size"] = kwargs.pop("prepared_statement_cache_size")
    kwargs.pop("prepared_statement_name_func", None)
    return LeanPool(dict(kwargs), max_size=max_size)


_ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]


class RawStatement:
    """A Core statement compiled once for asyncpg: its SQL and the order of its parameters."""

    _dialect = _ASYNCPG

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=self._dialect)
        self.sql: str = compiled.string
        self._names: list[str] = list(compiled.positiontup or [])
        # Literals in the statement (`sign_count = 0`) are parameters with a value.
        self._fixed = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }

    def args(self, params: Mapping[str, object]) -> list[object]:
        fixed = self._fixed
        values = [params[name] if name not in fixed else fixed[name] for name in self._names]
        for value in values:
            # UtcDateTime's check, which this path skips: asyncpg would take a naive
            # datetime for local time.
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError("naive datetime given to a hot statement")
        return values

    async def fetch(
        self, pool: LeanPool, params: Mapping[str, object], *, read_only: bool = False
    ) -> list[Any]:
        records: list[Any] = await pool.fetch(self.sql, *self.args(params), read_only=read_only)
        return records

    async def fetchrow(
        self, pool: LeanPool, params: Mapping[str, object], *, read_only: bool = False
    ) -> Any:
        """`read_only`: a statement that may run again on a fresh connection when the
        server dropped the first one (never a write)."""
        return await pool.fetchrow(self.sql, *self.args(params), read_only=read_only)

    async def execute(self, pool: LeanPool, params: Mapping[str, object]) -> str:
        return await pool.execute(self.sql, *self.args(params))


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
    model objects; the statement is built once, for SQLAlchemy and for asyncpg."""

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
        self._raw = RawStatement(self._statement)
        self._left_names = [c.name for c in self._left_table.c]
        self._right_names = [c.name for c in self._right_table.c]

    async def one(self, db: AsyncSession, key: object) -> tuple[L, R] | None:
        return await self.one_on(await db.connection(), key)

    async def one_on(self, connection: AsyncConnection, key: object) -> tuple[L, R] | None:
        """The same, on a connection (Databases.connect)."""
        result = await connection.execute(self._statement, {"key": key})
        return self._pair(result.first())

    async def one_raw(self, pool: LeanPool, key: object) -> tuple[L, R] | None:
        """The same, through the hot-statement pool (PostgreSQL)."""
        return self._pair(await self._raw.fetchrow(pool, {"key": key}, read_only=True))

    def _pair(self, row: Iterable[Any] | None) -> tuple[L, R] | None:
        """The row's columns in select order: the left table's, then the right one's."""
        if row is None:
            return None
        values = iter(row)
        left = model_from(self.left, **dict(zip(self._left_names, values, strict=False)))
        right = model_from(self.right, **dict(zip(self._right_names, values, strict=True)))
        return left, right


M = TypeVar("M", bound=SQLModel)


@dataclass(frozen=True)
class _Shape:
    """What building a model object without its constructor needs, per model class."""

    defaults: dict[str, Any]
    factories: dict[str, Callable[[], Any]]
    manager: Any  # SQLAlchemy's ClassManager

    @staticmethod
    @functools.cache
    def of(model: type[SQLModel]) -> _Shape:
        # A private attribute would need its own defaults; the models have none.
        assert not model.__private_attributes__, model
        defaults: dict[str, Any] = {}
        factories: dict[str, Callable[[], Any]] = {}
        for name, field in model.model_fields.items():
            if field.default_factory is not None:
                factories[name] = field.default_factory  # type: ignore[assignment]
            elif not field.is_required():
                defaults[name] = field.default
        return _Shape(defaults, factories, manager_of_class(model))


def model_from(model: type[M], **values: Any) -> M:
    """A model object, not attached to any database session, from values that are valid
    already (read from the database, or built by our own code).

    Built as pydantic's model_construct() and SQLAlchemy's instrumentation would build
    it (the fields, the set of given ones, the instance state that attribute writes and
    set_committed_value need) but directly: the constructor's per-field checks cost
    twenty times as much, and even model_construct() plus SQLAlchemy's state six times
    (every session check builds two of these)."""
    shape = _Shape.of(model)
    fields = {**shape.defaults, **values}
    for name, factory in shape.factories.items():
        if name not in values:
            fields[name] = factory()
    obj: M = object.__new__(model)
    object.__setattr__(obj, "__dict__", fields)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    fields["_sa_instance_state"] = InstanceState(obj, shape.manager)
    return obj
