"""One pipelined connection to Redis for the commands every ceremony runs.

redis-py's asyncio client costs ~300,000 instructions of Python per command here (a pool
checkout, a retry wrapper, observability hooks, a timeout context and its parser): more
than the rest of a sign-in's options request. Redis answers the commands of a connection
in the order they were sent, so a single connection serves every concurrent request:
each command is packed and written at once, and a FIFO of futures takes the replies as
hiredis parses them. No pool, no lock per command; a SET or GETDEL costs ~50,000.

The URL means what it means to redis-py (its parser reads it): redis://, rediss:// (TLS)
and unix:// with a username, password and database.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2.0
# A reply slower than this means the connection (or the server) is stuck: it is dropped
# and the next command opens a new one.
COMMAND_TIMEOUT = 2.0

Reply = Any  # bytes, int, None, or a list of those


class RedisUnavailable(Exception):
    """Redis could not be reached, answered too late, or refused the command."""


class RedisRefused(RedisUnavailable):
    """Redis answered, with an error: READONLY, MISCONF, NOREPLICAS, a wrong password...
    Unlike a lost connection, it may go on serving reads while it refuses this."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        # The commands sent and not yet answered, oldest first, each with the loop time
        # by which its reply is due.
        self.waiters: deque[tuple[float, asyncio.Future[Reply]]] = deque()
        self.transport: asyncio.Transport | None = None
        self.open = False
        # Commands packed in this turn of the event loop, written together at its end.
        self.outbox: list[bytes] = []
        # One timer per connection instead of a timeout per command (asyncio.timeout()
        # costs ~8 µs, a tenth of a command): replies come in order, so the deadline of
        # the oldest command still waited for is the only one to watch.
        self._watchdog: asyncio.TimerHandle | None = None
        self._timed_out = False
        # The loop this connection is opened on (the factory runs inside it): its waiters
        # and its watchdog belong to it.
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)
        self.open = True

    def expect(self, count: int) -> list[asyncio.Future[Reply]]:
        """Futures for the replies of `count` commands about to be sent."""
        loop = self.loop
        due = loop.time() + COMMAND_TIMEOUT
        futures = [loop.create_future() for _ in range(count)]
        self.waiters.extend((due, future) for future in futures)
        if self._watchdog is None:
            self._watchdog = loop.call_at(due, self._watch)
        return futures

    def _watch(self) -> None:
        self._watchdog = None
        # A command whose caller gave up stays queued until its reply comes, but its
        # deadline is nobody's any more: it must not cut a younger command's time short.
        due = next((due for due, waiter in self.waiters if not waiter.done()), None)
        if due is None:
            return  # expect() arms the watchdog again for the next command
        loop = self.loop
        if due <= loop.time():
            # The connection (or the server) is stuck: dropped, and the next command
            # opens a new one.
            self._timed_out = True
            self.abort()
        else:
            self._watchdog = loop.call_at(due, self._watch)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError:
                self.abort()  # not Redis speaking, or a corrupted stream: start over
                return
            if reply is False:
                return
            if not self.waiters:  # a reply nobody asked for: the stream is out of step
                self.abort()
                return
            _, waiter = self.waiters.popleft()
            # A waiter whose caller gave up stays queued, so that its late reply is
            # consumed here and the next reply still meets its own command.
            if not waiter.done():
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        reason = "Redis did not answer in time" if self._timed_out else "connection lost"
        while self.waiters:
            _, waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RedisUnavailable(reason))

    def abort(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.abort()  # connection_lost fails every waiting command


class RedisPipe:
    def __init__(self, url: str) -> None:
        options = parse_url(url)
        self._path: str | None = options.get("path")
        self._host: str = options.get("host") or "localhost"
        self._port: int = int(options.get("port") or 6379)
        secure = options.get("connection_class") is SSLConnection
        self._ssl = _ssl_context(cast(dict[str, Any], options)) if secure else None
        self._hello = _hello(options.get("username"), options.get("password"), options.get("db"))
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._closed = False
        # Connections opened so far: a new one may be to a restarted or failed-over
        # server, whose data (sessions/cache.py's epoch) may be older than what was seen.
        self.connections = 0

    async def execute(self, *command: str | bytes | int) -> Reply:
        """Run one command; its reply. Raises RedisUnavailable."""
        return (await self.pipeline([command]))[0]

    async def pipeline(self, commands: list[tuple[str | bytes | int, ...]]) -> list[Reply]:
        """Run commands in one write; their replies, in order. Raises RedisUnavailable,
        also for an error reply (after every reply is read)."""
        protocol = self._protocol
        if protocol is None or not protocol.open or protocol.loop is not asyncio.get_running_loop():
            # (A connection of another event loop, one that has ended, say, would never
            # be answered, nor time out: its watchdog belongs to that loop.)
            protocol = await self._connect()
        replies = await _round_trip(protocol, commands)
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                if str(reply).startswith("READONLY"):
                    # A primary demoted by a failover: the next command connects again,
                    # to whatever the address names now.
                    protocol.abort()
                raise RedisRefused(f"Redis refused a command: {reply}")
        return replies

    async def close(self) -> None:
        self._closed = True
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    async def _connect(self) -> _Protocol:
        # Concurrent commands wait for the one connection being opened. The attempt
        # forgets itself when it ends, whether or not anyone still waits for it (its
        # waiters may all have been cancelled): a later command must never be handed an
        # old attempt's connection, dead by then, or its old failure.
        connecting = self._connecting
        if connecting is None or connecting.get_loop() is not asyncio.get_running_loop():
            connecting = asyncio.ensure_future(self._open())
            self._connecting = connecting

            def forget(done: asyncio.Future[_Protocol]) -> None:
                if self._connecting is done:
                    self._connecting = None
                if not done.cancelled():
                    done.exception()  # retrieved: nobody may be left to await it

            connecting.add_done_callback(forget)
        return await asyncio.shield(connecting)

    async def _open(self) -> _Protocol:
        if self._closed:
            raise RedisUnavailable("closed")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                if self._path is not None:
                    _, protocol = await loop.create_unix_connection(_Protocol, self._path)
                else:
                    _, protocol = await loop.create_connection(
                        _Protocol, self._host, self._port, ssl=self._ssl
                    )
        except (OSError, TimeoutError) as exc:
            raise RedisUnavailable(f"cannot connect to Redis: {type(exc).__name__}") from None
        if self._hello:
            replies = await _round_trip(protocol, self._hello)
            if any(isinstance(reply, hiredis.ReplyError) for reply in replies):
                protocol.abort()
                raise RedisRefused("Redis refused the credentials or the database")
        if self._closed:  # closed while this connection was being opened
            protocol.abort()
            raise RedisUnavailable("closed")
        self._protocol = protocol
        self.connections += 1
        return protocol


async def _round_trip(
    protocol: _Protocol, commands: list[tuple[str | bytes | int, ...]]
) -> list[Reply]:
    # Packed before any waiter is queued: a command that cannot be packed must not leave
    # a waiter behind to take another command's reply. (hiredis's type stub wrongly
    # declares a one-element tuple.)
    packed = b"".join([hiredis.pack_command(cast(Any, c)) for c in commands])
    transport = protocol.transport
    # Lost since it was handed out (connection_lost ran): its waiters would never be
    # answered, and uvloop refuses writes to a closed handle with a RuntimeError.
    if not protocol.open or transport is None or transport.is_closing():
        raise RedisUnavailable("connection lost")
    loop = protocol.loop  # the running one: RedisPipe.execute replaces any other's
    waiters = protocol.expect(len(commands))
    # Not written at once: the commands of every request this turn of the event loop
    # serves go out in one write, one system call instead of one each (at 16 concurrent
    # session checks, +20 % throughput here).
    if not protocol.outbox:
        loop.call_soon(_flush, protocol)
    protocol.outbox.append(packed)
    try:
        # Past COMMAND_TIMEOUT the protocol's watchdog drops the connection, failing
        # these with RedisUnavailable.
        return [await waiter for waiter in waiters]
    finally:
        # Those not awaited (an earlier one failed, or the caller was cancelled) stay
        # queued, so that their replies are still consumed in order; cancelled, so that
        # a failure set on them later is nobody's unretrieved exception.
        for waiter in waiters:
            waiter.cancel()


def _flush(protocol: _Protocol) -> None:
    data = b"".join(protocol.outbox)
    protocol.outbox.clear()
    transport = protocol.transport
    try:
        if not protocol.open or transport is None or transport.is_closing():
            raise RuntimeError("connection lost")
        transport.write(data)
    except (RuntimeError, OSError):
        # Lost meanwhile: its waiters fail with RedisUnavailable (connection_lost).
        protocol.abort()


def _hello(
    username: str | None, password: str | None, db: int | None
) -> list[tuple[str | bytes | int, ...]]:
    """What a new connection sends first: AUTH and SELECT, as the URL asks."""
    commands: list[tuple[str | bytes | int, ...]] = []
    if username:  # an ACL user, with a password or not (as redis-py sends it)
        commands.append(("AUTH", username, password or ""))
    elif password is not None:
        commands.append(("AUTH", password))
    if db:
        commands.append(("SELECT", int(db)))
    return commands


def _ssl_context(options: dict[str, Any]) -> ssl.SSLContext:
    """TLS as redis-py reads it from a rediss:// URL: verified by default; a CA file,
    directory or data; a client certificate; `ssl_cert_reqs=none` or
    `ssl_check_hostname=false` to relax."""
    context = ssl.create_default_context(
        cafile=options.get("ssl_ca_certs"),
        capath=options.get("ssl_ca_path"),
        cadata=options.get("ssl_ca_data"),
    )
    if options.get("ssl_certfile"):
        context.load_cert_chain(
            options["ssl_certfile"], options.get("ssl_keyfile"), options.get("ssl_password")
        )
    if options.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif options.get("ssl_check_hostname") is False:
        context.check_hostname = False
    return context
