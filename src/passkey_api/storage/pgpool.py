"""A lean pool of asyncpg connections for the hot statements (see db.py).

asyncpg's own Pool costs ~40 µs of Python per query here (an asyncio.shield and a reset
callback on every release, a timeout wrapper on every acquire): as much as the query.
The hot statements are single autocommit statements, so a pool only has to hand out an
idle connection, wait its turn when all are busy, and replace connections that died or
sat idle too long.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

import asyncpg

from passkey_api.kit import metrics

CONNECT_TIMEOUT = 5.0
# How long a statement waits for a free connection before the request fails (503).
ACQUIRE_TIMEOUT = 10.0
# Idle longer than this, a connection is replaced rather than trusted: NATs and load
# balancers drop quiet connections without telling either end.
MAX_IDLE = 300.0

# How asyncpg words its refusal to start an operation (protocol.pyx _set_state): it
# raises it before writing anything to the socket.
_REFUSED_BEFORE_SENDING = "cannot switch to state"

# A connection the server dropped (or is dropping) while it sat idle.
_LOST = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    ConnectionResetError,
)


class LeanPool:
    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        *,
        max_size: int = 10,
        command_timeout: float = 30.0,
    ) -> None:
        # asyncpg.connect() keyword arguments: the same ones SQLAlchemy's engine uses for
        # this URL (db.create_pool), so ssl=..., a socket directory etc. mean the same.
        self._connect_kwargs = connect_kwargs
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._idle: deque[tuple[asyncpg.Connection, float]] = deque()
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._size = 0  # connections open or being opened
        self._closed = False

    async def fetch(self, sql: str, *args: object, read_only: bool = False) -> list[Any]:
        records: list[Any] = await self._run("fetch", sql, args, read_only)
        return records

    async def fetchrow(self, sql: str, *args: object, read_only: bool = False) -> Any:
        return await self._run("fetchrow", sql, args, read_only)

    async def execute(self, sql: str, *args: object) -> str:
        status: str = await self._run("execute", sql, args, False)
        return status

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        while self._idle:
            connection, _ = self._idle.popleft()
            self._size -= 1
            try:
                await connection.close(timeout=2)
            except Exception:
                connection.terminate()  # shutting down: never stop the rest of it

    async def _run(self, method: str, sql: str, args: tuple[object, ...], read_only: bool) -> Any:
        retried_read = False
        # Each dead idle connection costs one pass; one more than the pool can hold.
        for _ in range(self._max_size + 1):
            connection = await self._acquire()
            try:
                return await self._on(connection, method, sql, args)
            except asyncpg.exceptions.InternalClientError as exc:
                # An idle connection the server ended (a restart, a failover, an admin's
                # pg_terminate_backend) can leave asyncpg's protocol in a state where it
                # refuses the next statement before sending anything: run it on another
                # connection, whatever it is.
                if not str(exc).startswith(_REFUSED_BEFORE_SENDING):
                    raise
            except _LOST:
                # After a restart every idle connection is dead: a read is worth one more
                # try on a fresh one. Never a write, which may have been applied.
                if not read_only or retried_read:
                    raise
                retried_read = True
        raise asyncpg.InterfaceError("no usable connection to PostgreSQL")

    async def _on(
        self, connection: asyncpg.Connection, method: str, sql: str, args: tuple[object, ...]
    ) -> Any:
        started = time.perf_counter()
        try:
            result = await getattr(connection, method)(sql, *args)
        except (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError):
            self._discard(connection)  # the server ended or is ending this connection
            raise
        except asyncpg.PostgresError:
            self._release(connection)  # an SQL error: the connection itself is fine
            raise
        except BaseException:
            # Lost, timed out or cancelled mid-statement: its state is unknown.
            self._discard(connection)
            raise
        self._release(connection)
        metrics.DATABASE.observe(time.perf_counter() - started)
        return result

    async def _acquire(self) -> asyncpg.Connection:
        now = time.monotonic()
        while self._idle:
            # The most recently used first: warm, and it lets the others age out.
            connection, since = self._idle.pop()
            if not connection.is_closed() and now - since < MAX_IDLE:
                return connection
            self._discard(connection)
        if self._closed:
            raise asyncpg.InterfaceError("the pool is closed")
        if self._size < self._max_size:
            self._size += 1
            return await self._connect()
        waiter: asyncio.Future[asyncpg.Connection | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters.append(waiter)
        try:
            connection = await asyncio.wait_for(waiter, ACQUIRE_TIMEOUT)
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                self._release(waiter.result())  # handed over just as we gave up
            else:
                waiter.cancel()
            raise
        if connection is None:
            raise asyncpg.InterfaceError("the pool is closed")
        if connection is _OPEN_ONE:
            return await self._connect()  # its place was counted by _wake
        return connection

    def _release(self, connection: asyncpg.Connection) -> None:
        if connection is _OPEN_ONE:
            self._size -= 1
            self._wake_to_open()
        # In a transaction: never the case for the hot statements, and a connection in
        # an unknown state is not worth a round trip to repair.
        elif connection.is_closed() or connection.is_in_transaction() or self._closed:
            self._discard(connection)
        elif not self._wake(connection):
            self._idle.append((connection, time.monotonic()))

    def _discard(self, connection: asyncpg.Connection) -> None:
        if not connection.is_closed():
            connection.terminate()
        self._size -= 1
        self._wake_to_open()

    def _wake(self, connection: asyncpg.Connection) -> bool:
        """Hand `connection` to the first waiter still waiting; False when none waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # else it timed out or was cancelled
                waiter.set_result(connection)
                return True
        return False

    def _wake_to_open(self) -> None:
        """A place is free: the first waiter opens a connection in it."""
        if self._closed:
            return
        self._size += 1
        if not self._wake(_OPEN_ONE):
            self._size -= 1

    async def _connect(self) -> asyncpg.Connection:
        """Open a connection in a place already counted in _size."""
        connection: asyncpg.Connection | None = None
        try:
            if self._closed:
                raise asyncpg.InterfaceError("the pool is closed")
            connection = await asyncpg.connect(
                **self._connect_kwargs,
                timeout=CONNECT_TIMEOUT,
                command_timeout=self._command_timeout,
            )
            for name in ("json", "jsonb"):
                await connection.set_type_codec(
                    name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
                )
        except BaseException:
            if connection is not None:
                connection.terminate()
            self._size -= 1
            self._wake_to_open()  # the next waiter tries for itself
            raise
        return connection


# Given to a waiter instead of a connection: "a place is free, open one" (see _acquire).
_OPEN_ONE: Any = object()
