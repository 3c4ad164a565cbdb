"""The pipelined Redis connection against a real Redis: replies meet their commands under
concurrency, errors and lost or silent connections raise RedisUnavailable, and the next
command connects again."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import hiredis
import pytest
import redis.asyncio as aioredis

from passkey_api.storage import redispipe
from passkey_api.storage.redispipe import RedisPipe, RedisRefused, RedisUnavailable
from tests.faults.proxy import CuttableProxy
from tests.services import REDIS_URL, require_redis

pytestmark = pytest.mark.usefixtures("redis_available")


@pytest.fixture
async def redis_available() -> None:
    await require_redis()


@pytest.fixture
async def pipe() -> AsyncIterator[RedisPipe]:
    connection = RedisPipe(REDIS_URL)
    yield connection
    await connection.close()


@pytest.fixture
async def proxy() -> AsyncIterator[CuttableProxy]:
    target = urlsplit(REDIS_URL)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.close()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def _fake_redis(
    handle: Handler,
) -> AsyncIterator[tuple[RedisPipe, list[asyncio.StreamWriter]]]:
    """A RedisPipe to a local server that answers as `handle` does; and its connections."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await handle(reader, writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pipe = RedisPipe(f"redis://127.0.0.1:{port}/0")
    try:
        yield pipe, connections
    finally:
        await pipe.close()
        server.close()
        for writer in connections:
            writer.transport.abort()
        await server.wait_closed()


def _key() -> str:
    return f"passkey-api:test:{secrets.token_hex(8)}"


async def test_each_of_many_concurrent_commands_gets_its_own_reply(pipe: RedisPipe) -> None:
    keys = [_key() for _ in range(300)]
    await asyncio.gather(*(pipe.execute("SET", k, k, "PX", 60_000) for k in keys))
    values = await asyncio.gather(*(pipe.execute("GETDEL", k) for k in keys))
    assert values == [k.encode() for k in keys]
    assert await pipe.execute("GETDEL", keys[0]) is None


async def test_commands_of_one_turn_of_the_event_loop_go_out_in_one_write(
    pipe: RedisPipe,
) -> None:
    await pipe.execute("PING")  # connected
    protocol = pipe._protocol
    assert protocol is not None
    assert protocol.transport is not None
    transport = protocol.transport
    writes: list[bytes] = []
    write = transport.write

    def counting_write(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        write(data)

    transport.write = counting_write  # type: ignore[method-assign]
    keys = [_key() for _ in range(20)]
    await asyncio.gather(*(pipe.execute("SET", k, "1", "PX", 60_000) for k in keys))
    assert len(writes) == 1
    assert writes[0].count(b"SET") == 20
    await pipe.execute("DEL", *keys)


async def test_a_pipeline_answers_in_order(pipe: RedisPipe) -> None:
    key = _key()
    assert await pipe.pipeline([("INCR", key), ("INCR", key), ("EXPIRE", key, 60)]) == [1, 2, 1]


async def test_an_error_reply_raises_and_the_connection_goes_on(pipe: RedisPipe) -> None:
    key = _key()
    await pipe.execute("SET", key, "not a number", "PX", 60_000)
    with pytest.raises(RedisRefused, match="refused"):
        await pipe.execute("INCR", key)
    assert await pipe.execute("GETDEL", key) == b"not a number"
    assert pipe.connections == 1


async def test_a_demoted_primary_is_left_for_whatever_the_address_names_next() -> None:
    # After a failover the old primary answers writes with READONLY: the connection is
    # dropped, so that the next command connects again (and follows DNS to the new one).
    async def read_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            writer.write(b"-READONLY You can't write against a read only replica.\r\n")

    async with _fake_redis(read_only) as (pipe, connections):
        for _ in range(2):
            with pytest.raises(RedisRefused, match="READONLY"):
                await pipe.execute("DEL", "k")
        assert pipe.connections == len(connections) == 2


async def test_the_database_in_the_url_is_used() -> None:
    base = REDIS_URL.rsplit("/", 1)[0]
    pipe = RedisPipe(f"{base}/3")
    key = _key()
    try:
        await pipe.execute("SET", key, "in db 3", "PX", 60_000)
    finally:
        await pipe.close()
    other = aioredis.Redis.from_url(f"{base}/3")
    try:
        assert await other.getdel(key) == b"in db 3"
    finally:
        await other.aclose()


async def test_refused_credentials_raise() -> None:
    target = urlsplit(REDIS_URL)
    pipe = RedisPipe(f"redis://nobody:wrong@{target.hostname}:{target.port or 6379}/0")
    try:
        with pytest.raises(RedisUnavailable, match="credentials"):
            await pipe.execute("PING")
    finally:
        await pipe.close()


async def test_a_lost_connection_raises_then_the_next_command_reconnects(
    proxy: CuttableProxy,
) -> None:
    pipe = RedisPipe(f"redis://127.0.0.1:{proxy.port}/0")
    try:
        assert await pipe.execute("PING") == b"PONG"
        await proxy.cut()
        with pytest.raises(RedisUnavailable):
            await pipe.execute("PING")
        await proxy.restore()
        assert await pipe.execute("PING") == b"PONG"
    finally:
        await pipe.close()


async def test_a_silent_server_times_out_and_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts and never answers: the command fails after COMMAND_TIMEOUT,
    and so does the next one on a new connection (the old one, maybe mid-reply, is not
    trusted again)."""

    async def silent(_: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
        return None

    monkeypatch.setattr(redispipe, "COMMAND_TIMEOUT", 0.2)
    async with _fake_redis(silent) as (pipe, connections):
        for _ in range(2):
            with pytest.raises(RedisUnavailable, match="in time"):
                await pipe.execute("PING")
        assert len(connections) == 2


async def test_each_command_gets_its_own_time_to_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that answers the first command and then falls silent: the second
    command fails COMMAND_TIMEOUT after it was sent, not at the first one's deadline
    (one watchdog per connection follows the oldest unanswered command)."""

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"PING\r\n")
        writer.write(b"+PONG\r\n")
        await writer.drain()

    monkeypatch.setattr(redispipe, "COMMAND_TIMEOUT", 0.4)
    async with _fake_redis(once) as (pipe, _):
        assert await pipe.execute("PING") == b"PONG"
        await asyncio.sleep(0.2)
        sent = time.monotonic()
        with pytest.raises(RedisUnavailable, match="in time"):
            await pipe.execute("PING")
        assert time.monotonic() - sent >= 0.39


async def test_an_unreachable_server_raises() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pipe = RedisPipe(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(RedisUnavailable, match="connect"):
        await pipe.execute("PING")
    await pipe.close()


async def test_an_unpackable_command_leaves_the_stream_in_step(pipe: RedisPipe) -> None:
    key = _key()
    await pipe.execute("SET", key, "v", "PX", 60_000)
    with pytest.raises(TypeError):
        await pipe.execute("GET", None)  # type: ignore[arg-type]
    assert await pipe.execute("GETDEL", key) == b"v"


async def test_a_server_speaking_nonsense_is_dropped() -> None:
    async def http(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    async with _fake_redis(http) as (pipe, _):
        with pytest.raises(RedisUnavailable):
            await pipe.execute("PING")


async def test_a_connect_nobody_waits_for_any_more_is_not_reused_once_dead() -> None:
    """Every caller of a reconnect gave up (a readiness probe's timeout, say); that
    connection, once lost, must not be handed to a later command."""
    pipe = RedisPipe(REDIS_URL)
    try:
        abandoned = asyncio.ensure_future(pipe.execute("PING"))
        await asyncio.sleep(0)
        abandoned.cancel()
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        await asyncio.sleep(0.2)  # the connect finishes with nobody waiting
        assert await pipe.execute("PING") == b"PONG"
        protocol = pipe._protocol
        assert protocol is not None
        assert protocol.transport is not None
        protocol.transport.abort()  # the connection drops while idle
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        assert await pipe.execute("PING") == b"PONG"  # on a new connection, at once
        assert asyncio.get_running_loop().time() - started < 1
    finally:
        await pipe.close()


async def test_a_command_whose_caller_gave_up_does_not_cut_a_younger_ones_time_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first command's caller gives up; its reply comes after its own deadline, and
    the second command's right behind it, well within the second's: the second is
    answered (the watchdog follows the oldest command someone still waits for)."""

    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = hiredis.Reader()
        while data := await reader.read(4096):
            parser.feed(data)
            while (command := parser.gets()) is not False:
                if command[1] == b"first":
                    await asyncio.sleep(0.8)
                writer.write(b"$%d\r\n%s\r\n" % (len(command[1]), command[1]))
                await writer.drain()

    monkeypatch.setattr(redispipe, "COMMAND_TIMEOUT", 0.6)
    async with _fake_redis(slow_first) as (pipe, connections):
        first = asyncio.ensure_future(pipe.execute("ECHO", "first"))
        await asyncio.sleep(0.05)
        first.cancel()
        await asyncio.sleep(0.35)
        assert await pipe.execute("ECHO", "second") == b"second"
        assert len(connections) == 1


# The first loop ends with its connection open, as a careless embedder's would: that
# connection's socket is only reclaimed by the collector, which warns.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_pipe_outliving_its_event_loop_connects_again_in_the_next() -> None:
    """A connection (and its watchdog) belongs to the event loop that opened it: a pipe
    used again under a new loop opens a new one instead of waiting on the old forever."""
    pipe = RedisPipe(REDIS_URL)

    async def ping(*, then_close: bool) -> object:
        reply = await asyncio.wait_for(pipe.execute("PING"), 5)
        if then_close:
            await pipe.close()
        return reply

    assert asyncio.run(ping(then_close=False)) == b"PONG"
    assert asyncio.run(ping(then_close=True)) == b"PONG"
    assert pipe.connections == 2
    gc.collect()
