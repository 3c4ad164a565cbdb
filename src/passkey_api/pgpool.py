"""A lean pool of asyncpg connections for the hot statements (see db.py).

asyncpg's own Pool costs ~40 µs of Python per query here (an asyncio.shield and a reset
callback on every release, a timeout wrapper on every acquire): as much as the query.
The hot statements are single autocommit statements, so a pool only has to hand out an
idle connection, wait its turn when all are busy, and replace connections that died.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

import asyncpg

from passkey_api import metrics

CONNECT_TIMEOUT = 5.0
# How long a statement waits for a free connection before the request fails (503).
ACQUIRE_TIMEOUT = 10.0


class LeanPool:
    def __init__(self, dsn: str, *, max_size: int = 10, command_timeout: float = 30.0) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._idle: deque[asyncpg.Connection] = deque()
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._size = 0  # connections open or being opened
        self._closed = False

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        records: list[Any] = await self._run("fetch", sql, args)
        return records

    async def fetchrow(self, sql: str, *args: object) -> Any:
        return await self._run("fetchrow", sql, args)

    async def execute(self, sql: str, *args: object) -> str:
        status: str = await self._run("execute", sql, args)
        return status

    async def _run(self, method: str, sql: str, args: tuple[object, ...]) -> Any:
        # An idle connection the server dropped a moment ago (a restart, a failover, an
        # admin's pg_terminate_backend) may not look closed yet; asyncpg then refuses the
        # statement before sending it, so it is safe to run it on another connection.
        for _ in range(self._max_size):
            connection = await self._acquire()
            try:
                return await self._on(connection, method, sql, args)
            except asyncpg.exceptions.InternalClientError:
                continue
        connection = await self._acquire()
        try:
            return await self._on(connection, method, sql, args)
        except asyncpg.exceptions.InternalClientError as exc:
            raise asyncpg.InterfaceError("no usable connection to PostgreSQL") from exc

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

    async def close(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        while self._idle:
            connection = self._idle.popleft()
            self._size -= 1
            await connection.close(timeout=2)

    async def _acquire(self) -> asyncpg.Connection:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: warm, and lets others age
            if not connection.is_closed():
                return connection
            self._size -= 1  # the server or the network closed it meanwhile
        if self._closed:
            raise asyncpg.InterfaceError("the pool is closed")
        if self._size < self._max_size:
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
        if connection.is_closed():
            self._size -= 1
            return await self._connect()
        return connection

    def _release(self, connection: asyncpg.Connection) -> None:
        # In a transaction: never the case for the hot statements, and a connection in
        # an unknown state is not worth a round trip to repair.
        if connection.is_closed() or connection.is_in_transaction() or self._closed:
            self._discard(connection)
        elif not self._wake(connection):
            self._idle.append(connection)

    def _discard(self, connection: asyncpg.Connection) -> None:
        if not connection.is_closed():
            connection.terminate()
        self._size -= 1
        if not self._closed:
            self._wake(None)  # a place is free: a waiter opens a new connection

    def _wake(self, connection: asyncpg.Connection | None) -> bool:
        """Hand `connection` (or, with None, the right to open one) to the first waiter
        still waiting; False when nobody waits."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue  # timed out or cancelled
            if connection is None:
                self._size += 1  # the waiter opens it (see _acquire)
                waiter.set_result(_PLACEHOLDER)
            else:
                waiter.set_result(connection)
            return True
        return False

    async def _connect(self) -> asyncpg.Connection:
        self._size += 1
        try:
            connection: asyncpg.Connection = await asyncpg.connect(
                self._dsn, timeout=CONNECT_TIMEOUT, command_timeout=self._command_timeout
            )
            for name in ("json", "jsonb"):
                await connection.set_type_codec(
                    name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
                )
        except BaseException:
            self._size -= 1
            self._wake(None)
            raise
        return connection


class _Placeholder:
    """Given to a waiter instead of a connection: "a place is free, open one"."""

    def is_closed(self) -> bool:
        return True


_PLACEHOLDER: Any = _Placeholder()
