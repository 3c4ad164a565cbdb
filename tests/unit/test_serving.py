"""The protocols of `passkey-api serve`: serving.HttpProtocol (slow clients, connection
caps) and, with the fast paths, fast.protocol.HttpProtocol (each answer written at once).

First the one-write transport's rules against a recording transport, then both protocols
under a real uvicorn server on a socket: answers byte for byte, keep-alive,
`Connection: close`, a request uvicorn refuses, and a body large enough to meet flow
control."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from passkey_api.web import serving
from passkey_api.web.fast.protocol import _MAX_HELD, HttpProtocol, _OneWritePerAnswer


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


async def _next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_the_writes_of_one_turn_leave_as_one() -> None:
    inner = Recording()
    transport = _OneWritePerAnswer(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"body"))
    assert inner.writes == []
    assert transport.get_write_buffer_size() == 23
    await _next_turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await _next_turn()
    assert inner.writes[1:] == [b"next"]


async def test_close_writes_what_is_held_first_and_abort_drops_it() -> None:
    inner = Recording()
    transport = _OneWritePerAnswer(inner, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert inner.writes == [b"last words"]
    assert inner.closed

    inner = Recording()
    transport = _OneWritePerAnswer(inner, asyncio.get_running_loop())
    transport.write(b"never sent")
    transport.abort()
    await _next_turn()
    assert inner.writes == []
    assert inner.aborted


async def test_past_the_limit_held_bytes_are_written_at_once() -> None:
    # uvicorn's flow control only sees what reached the real transport.
    inner = Recording()
    transport = _OneWritePerAnswer(inner, asyncio.get_running_loop())
    part = b"x" * (_MAX_HELD // 2)
    transport.write(part)
    assert inner.writes == []
    transport.write(part)
    assert inner.writes == [part + part]
    assert transport.get_write_buffer_size() == 0


async def test_nothing_is_written_to_a_closing_transport() -> None:
    inner = Recording()
    transport = _OneWritePerAnswer(inner, asyncio.get_running_loop())
    transport.write(b"too late")
    inner.closed = True  # the peer went away within the turn
    await _next_turn()
    assert inner.writes == []


# --- under a real uvicorn server ------------------------------------------------------

BIG = b"x" * (4 * 1024 * 1024)


async def _hello(request: Request) -> Response:
    return PlainTextResponse("hello " + request.query_params.get("n", ""))


# Set by the client's thread once it has read the answer; the background task below
# blocks the server's event loop until then (or 5 s), so it can only be set if the
# answer was written before the task ran.
ANSWER_READ = threading.Event()
SEEN_BY_BACKGROUND: list[bool] = []


async def _then_busy(request: Request) -> Response:
    def busy() -> None:
        SEEN_BY_BACKGROUND.append(ANSWER_READ.wait(5))

    async def background() -> None:
        busy()  # on purpose without awaiting: CPU work, a blocking client...

    return PlainTextResponse("done", background=BackgroundTask(background))


async def _big(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(BIG), 65536):
            yield BIG[start : start + 65536]

    return StreamingResponse(chunks())


@pytest.fixture(params=[HttpProtocol, serving.HttpProtocol], ids=["fast", "plain"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[int, uvicorn.Server]]:
    app = Starlette(
        routes=[Route("/hello", _hello), Route("/big", _big), Route("/then-busy", _then_busy)]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=request.param, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("uvicorn did not start")
    try:
        yield int(sock.getsockname()[1]), server
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status, *lines = head[:-4].split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines)
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    else:  # chunked
        body = b""
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    return status, headers, body


async def test_answers_on_a_kept_alive_connection_then_closes_when_asked(
    served: tuple[int, uvicorn.Server],
) -> None:
    port, server = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for n in range(3):
        writer.write(f"GET /hello?n={n} HTTP/1.1\r\nhost: t\r\n\r\n".encode())
        status, headers, body = await _answer(reader)
        assert status == b"HTTP/1.1 200 OK"
        assert body == f"hello {n}".encode()
    (connection,) = server.server_state.connections
    assert isinstance(connection, serving.HttpProtocol)
    # With the fast paths, what it writes is held until the answer is whole.
    assert isinstance(connection.transport, _OneWritePerAnswer) == isinstance(
        connection, HttpProtocol
    )
    writer.write(b"GET /hello?n=end HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
    status, headers, body = await _answer(reader)
    assert (status, body, headers[b"connection"]) == (b"HTTP/1.1 200 OK", b"hello end", b"close")
    assert await reader.read() == b""  # closed after the answer was written, not before
    writer.close()


async def test_a_request_uvicorn_refuses_is_answered_then_closed(
    served: tuple[int, uvicorn.Server],
) -> None:
    port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"NONSENSE\r\n\r\n")
    status, _, _ = await _answer(reader)
    assert status.startswith(b"HTTP/1.1 400")
    assert await reader.read() == b""
    writer.close()


async def test_a_large_body_to_a_slow_reader_arrives_whole(
    served: tuple[int, uvicorn.Server],
) -> None:
    port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**16)
    writer.write(b"GET /big HTTP/1.1\r\nhost: t\r\n\r\n")
    await asyncio.sleep(0.2)  # the server meets a full socket buffer meanwhile
    _, _, body = await _answer(reader)
    assert body == BIG
    writer.close()


async def test_an_answer_leaves_as_soon_as_it_is_complete(
    served: tuple[int, uvicorn.Server],
) -> None:
    port, _ = served
    ANSWER_READ.clear()
    SEEN_BY_BACKGROUND.clear()

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /then-busy HTTP/1.1\r\nhost: t\r\n\r\n")
            answer = sock.recv(65536)
            ANSWER_READ.set()
            return answer

    answer = await asyncio.to_thread(client)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert SEEN_BY_BACKGROUND == [True]


async def test_a_client_that_half_closes_after_its_request_gets_the_answer(
    served: tuple[int, uvicorn.Server],
) -> None:
    port, _ = served
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hello HTTP/1.1\r\nhost: t\r\n\r\n")
        writer.write_eof()  # as HTTP/1.0 tools, `nc -N` and some health probes do
        status, _, body = await _answer(reader)
        assert (status, body) == (b"HTTP/1.1 200 OK", b"hello ")
        writer.close()


def test_whom_a_connection_counts_against(monkeypatch: pytest.MonkeyPatch) -> None:
    from passkey_api.config import split_list
    from passkey_api.kit.client_info import ClientAddresses

    # PASSKEY_TRUSTED_PROXIES in either form the settings take, read the same.
    proxies = split_list('["10.0.0.0/8", "2001:db8::/32"]')
    assert split_list(" 10.0.0.0/8, 2001:db8::/32 ") == proxies == ["10.0.0.0/8", "2001:db8::/32"]
    monkeypatch.setattr(serving, "_PROXIES", ClientAddresses(proxies))
    # A trusted proxy carries many clients; a Unix socket is something local in front.
    assert [serving._client_of(p) for p in (("10.1.2.3", 1), ("2001:db8::1", 1), None)] == [
        None
    ] * 3
    # Anyone else as the rate limits count them: an IPv4 address, an IPv6 /64.
    assert serving._client_of(("198.51.100.4", 5)) == "198.51.100.4"
    assert serving._client_of(("::ffff:198.51.100.4", 5)) == "198.51.100.4"
    assert serving._client_of(("2001:db9::1", 1)) == "2001:db9::/64"
    assert serving._client_of(("2001:db9::ffff:1", 2)) == "2001:db9::/64"
