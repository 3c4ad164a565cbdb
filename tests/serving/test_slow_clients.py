"""`passkey-api serve` without a proxy in front: slow clients are timed out and connections
past the limit are refused, on a real server process and real sockets.

A client that trickles its headers or its body, or says nothing at all, is closed once
`--read-timeout` has passed since its request began, with a 408 problem;
connections past `--max-connections`, or past `--max-client-connections` from one client
(an IPv4 address, an IPv6 /64), are answered 503 at once; everyone else is served as
before. Loopback is all of 127/8, so clients of their own are 127.0.0.2, 127.0.0.3, ...

They are safety features, not speed-ups: the same with the fast paths (one write per
answer over the same protocol) and without (PASSKEY_FAST_PATHS=false)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

READ_TIMEOUT = 2.0
MAX_CONNECTIONS = 20
# Above the 15 slow clients one address opens below, under the total.
CLIENT_CONNECTIONS = 16
# What the bound may be late by on a loaded 2-core machine (event loop and scheduling).
SLACK = 1.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module", params=["true", "false"], ids=["fast", "plain"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """The service on the embedded backend, as a deployment runs it: one worker."""
    port = _free_port()
    data = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSKEY_")}
    env |= {
        "PASSKEY_DATA_DIR": str(data),
        "PASSKEY_SECRET_KEY": secrets.token_urlsafe(40),
        "PASSKEY_MAX_CLIENT_CONNECTIONS": str(CLIENT_CONNECTIONS),
        "PASSKEY_FAST_PATHS": request.param,
    }
    command = [
        str(Path(sys.executable).with_name("passkey-api")),
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--read-timeout",
        str(READ_TIMEOUT),
        "--max-connections",
        str(MAX_CONNECTIONS),
    ]
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        else:
            raise AssertionError((data / "server.log").read_text())
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


async def _get(port: int, path: str = "/healthz", source: str = "127.0.0.1") -> int:
    """A normal client: one request, its status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        return int((await asyncio.wait_for(reader.readline(), 10)).split()[1])
    finally:
        writer.close()


async def _trickle(
    port: int, head: bytes, drip: bytes, source: str = "127.0.0.1"
) -> tuple[float, bytes]:
    """Send `head`, then `drip` a byte every 0.1 s for ever; the seconds until the server
    closed the connection and what it answered. Fails the test after 10 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    started = time.monotonic()
    writer.write(head)

    async def drip_forever() -> None:
        with contextlib.suppress(OSError):
            while drip:
                for byte in drip:
                    await asyncio.sleep(0.1)
                    writer.write(bytes([byte]))
                    await writer.drain()

    dripping = asyncio.create_task(drip_forever())
    answer = b""
    try:
        async with asyncio.timeout(10):
            with contextlib.suppress(ConnectionResetError):
                while chunk := await reader.read(4096):
                    answer += chunk
        return time.monotonic() - started, answer
    finally:
        dripping.cancel()
        writer.close()


HEADERS_TRICKLED = (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n", b"X-Slow: a\r\n")
BODY_TRICKLED = (
    b"POST /v1/authentication/options HTTP/1.1\r\nHost: localhost\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    b' "x": 1, ',
)
SILENT = (b"", b"")


@pytest.mark.parametrize(
    ("head", "drip"), [HEADERS_TRICKLED, BODY_TRICKLED, SILENT], ids=["headers", "body", "silent"]
)
async def test_slow_clients_are_closed_within_the_read_timeout(
    server: int, head: bytes, drip: bytes
) -> None:
    # Many at once, below the connection limit: each is closed on its own bound.
    results = await asyncio.gather(*(_trickle(server, head, drip) for _ in range(15)))
    for elapsed, answer in results:
        assert READ_TIMEOUT - 0.2 <= elapsed <= READ_TIMEOUT + SLACK, elapsed
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b'"code":"request_timeout"' in answer, answer
    assert await _get(server) == 200


async def test_connections_past_the_limit_are_refused(server: int) -> None:
    # Each from its own address: the total is what is tested here, not one client's share.
    slow = [
        asyncio.create_task(_trickle(server, *HEADERS_TRICKLED, source=f"127.0.1.{n + 1}"))
        for n in range(MAX_CONNECTIONS)
    ]
    await asyncio.sleep(0.5)  # all of them open
    try:
        refused = await asyncio.gather(*(_get(server) for _ in range(5)), return_exceptions=True)
        assert 503 in refused
        for outcome in refused:  # answered 503, or closed before the request was read
            assert outcome == 503 or isinstance(outcome, ConnectionError | ValueError), outcome
    finally:
        closed = await asyncio.gather(*slow)
    assert all(elapsed <= READ_TIMEOUT + SLACK for elapsed, _ in closed)
    # Once the slow ones are gone, everyone is served again.
    assert (
        await asyncio.gather(
            *(_get(server, source=f"127.0.1.{n + 1}") for n in range(MAX_CONNECTIONS))
        )
        == [200] * MAX_CONNECTIONS
    )


async def test_one_client_holds_no_more_than_its_share(server: int) -> None:
    hog = "127.0.2.1"
    slow = [
        asyncio.create_task(_trickle(server, *HEADERS_TRICKLED, source=hog))
        for _ in range(CLIENT_CONNECTIONS)
    ]
    await asyncio.sleep(0.5)  # all of them open
    try:
        # Its next connection is refused at once, though the total has room...
        elapsed, answer = await _trickle(server, *HEADERS_TRICKLED, source=hog)
        assert elapsed < 1, elapsed
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b'"code":"server_busy"' in answer, answer
        # ... and everyone else is served. Its IPv4 address is the client, not its port.
        assert (
            await asyncio.gather(*(_get(server, source="127.0.2.2") for _ in range(3))) == [200] * 3
        )
    finally:
        closed = await asyncio.gather(*slow)
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in closed)
    # Its connections gone, its share is free again.
    assert await _get(server, source=hog) == 200


async def test_a_kept_alive_connection_serves_many_requests(server: int) -> None:
    """The read timeout bounds a request, not a connection: a client that sends its
    requests promptly is served for longer than the timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    started = time.monotonic()
    try:
        while time.monotonic() - started < READ_TIMEOUT * 1.5:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
            await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 5)
            await asyncio.sleep(0.3)
    finally:
        writer.close()
