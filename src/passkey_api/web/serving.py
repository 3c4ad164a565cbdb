"""How `passkey-api serve` runs uvicorn: its httptools protocol, with one write per answer.

uvicorn writes a response's head as soon as the app sends `http.response.start`, and its
body on `http.response.body`: two `write` system calls, two TCP segments on the wire and
two wake-ups of the client, for every answer of this API (all of them small, all of them
sent in one go). Here the protocol's transport holds what is written until the answer
is complete and then writes it at once, so the head and the body leave together. A
streamed answer's parts are written at the latest at the end of the event-loop turn, or
at once past 64 KiB so that uvicorn's flow control still sees them. Nothing else
changes: the HTTP parsing, flow control, keep-alive and timeouts are uvicorn's; a close
or the client's EOF writes the held bytes first and an abort drops them, as a plain
transport does with its own buffer.

Measured on this project's 2-core VM (`python -m bench.writes`): a loopback TCP write
costs the sender about 5 µs of CPU whatever its size, so one write instead of two saves
about 5 µs an answer (a no-op answer costs about 100 µs through uvicorn, a sign-in
ceremony two answers of about 400 µs). Only `passkey-api serve` uses it; another ASGI
server runs the app unchanged.

It also bounds what a slow or idle client can hold, for a deployment with no proxy in
front (uvicorn bounds only the idle time between requests, `timeout_keep_alive`):

- A request must arrive whole, headers and body, within the read timeout
  (`PASSKEY_READ_TIMEOUT`, `serve --read-timeout`) from its first byte, or from the
  connection's opening for the first request: a client trickling its headers (slowloris),
  its body, or sending nothing, is answered 408 `request_timeout` (unless an answer is on
  its way) and closed. The time the app takes to answer is not counted.
- At most `PASSKEY_MAX_CONNECTIONS` (`serve --max-connections`) connections per process: one
  more is answered 503 `server_busy` as soon as it opens, and closed.
- At most `PASSKEY_MAX_CLIENT_CONNECTIONS` (`serve --max-client-connections`, default a
  tenth of the total) of them from one client, counted as the rate limits count clients
  (client_info.limit_key: an IPv4 address, an IPv6 /64) by the socket's peer address: one
  address cannot hold every connection and shut everyone else out. A peer on
  PASSKEY_TRUSTED_PROXIES is a proxy carrying many clients, and is not held to it.

A normal request pays for it with three attribute writes (one timer per connection, not
per request, re-armed only when it fires); a connection, with one dictionary update at
each end.
"""

from __future__ import annotations

import asyncio
import json
import os
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from passkey_api.config import split_list
from passkey_api.errors import PROBLEM_CONTENT_TYPE, ApiError, RequestTimeout, ServerBusy
from passkey_api.kit.client_info import ClientAddresses, limit_key

DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1000
# `serve` sets both for its workers (new processes); read once, when uvicorn loads this.
READ_TIMEOUT = float(os.environ.get("PASSKEY_READ_TIMEOUT") or DEFAULT_READ_TIMEOUT)
MAX_CONNECTIONS = int(os.environ.get("PASSKEY_MAX_CONNECTIONS") or DEFAULT_MAX_CONNECTIONS)
MAX_CLIENT_CONNECTIONS = int(
    os.environ.get("PASSKEY_MAX_CLIENT_CONNECTIONS") or max(1, MAX_CONNECTIONS // 10)
)
if READ_TIMEOUT <= 0 or MAX_CONNECTIONS < 1 or MAX_CLIENT_CONNECTIONS < 1:
    raise ValueError(
        "PASSKEY_READ_TIMEOUT must be > 0, PASSKEY_MAX_CONNECTIONS and "
        "PASSKEY_MAX_CLIENT_CONNECTIONS >= 1"
    )


# PASSKEY_TRUSTED_PROXIES read as Settings reads it (the settings object itself needs the
# whole environment, and this module is loaded by uvicorn before any app exists).
_trusted_list = split_list(os.environ.get("PASSKEY_TRUSTED_PROXIES", ""))
_PROXIES = ClientAddresses(_trusted_list if isinstance(_trusted_list, list) else [])


def _client_of(peer: tuple[str, int] | None) -> str | None:
    """Whom a connection counts against: None for a trusted proxy or no address (a Unix
    socket: something local in front). A socket's peer is always a readable address."""
    if peer is None or _PROXIES.trusts(peer[0]):
        return None
    return limit_key(peer[0])


# Open connections per client in this process.
_per_client: dict[str, int] = {}


def _answer(error: ApiError) -> bytes:
    """The whole HTTP answer for a problem the protocol gives itself, outside the app."""
    body = json.dumps(error.problem(), separators=(",", ":"), ensure_ascii=False).encode()
    headers = [
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}",
        f"content-type: {PROBLEM_CONTENT_TYPE}",
        f"content-length: {len(body)}",
        "cache-control: no-store",
        "x-content-type-options: nosniff",
        "connection: close",
        *(f"{name}: {value}" for name, value in (error.headers or {}).items()),
    ]
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + body


_TIMED_OUT = _answer(RequestTimeout(f"A request must arrive within {READ_TIMEOUT:g} s."))
_BUSY = _answer(ServerBusy())

# Held bytes past this are written at once, so that uvicorn's flow control (which pauses
# a sender only once the real transport's buffer passes its own high-water mark) still
# sees a large or streamed answer.
_MAX_HELD = HIGH_WATER_LIMIT


class _OneWritePerAnswer(asyncio.Transport):
    """A transport that joins the writes of one answer, or of one event-loop turn, into
    one. HttpProtocol flushes it as soon as an answer is complete; the end of the turn is
    the backstop for a streamed answer's parts."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._held: list[bytes] = []
        self._held_size = 0
        self._flush_scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        chunk = data if isinstance(data, bytes) else bytes(data)
        self._held.append(chunk)
        self._held_size += len(chunk)
        if self._held_size >= _MAX_HELD:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._end_of_turn)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Write what is held, in one write."""
        if not self._held:
            return
        held = self._held
        self._held, self._held_size = [], 0
        if not self._inner.is_closing():
            self._inner.write(held[0] if len(held) == 1 else b"".join(held))

    def _end_of_turn(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def close(self) -> None:
        self.flush()
        self._inner.close()

    def abort(self) -> None:
        self._held, self._held_size = [], 0
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + self._held_size

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def write_eof(self) -> None:
        self.flush()
        self._inner.write_eof()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each answer (head and body) at once, with a
    read timeout per request and a cap on connections."""

    # When the request being read began (loop time); None while none is being read.
    _reading_since: float | None = None
    _headers_read = False
    _read_timer: asyncio.TimerHandle | None = None
    # Whom this connection counts against (_per_client); None: no one.
    _counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._joined = _OneWritePerAnswer(transport, self.loop)
        super().connection_made(self._joined)
        client = self._counted = _client_of(self.client)
        mine = 0
        if client is not None:  # counted until connection_lost, refused or not
            mine = _per_client[client] = _per_client.get(client, 0) + 1
        # This one included in both counts.
        if len(self.connections) > MAX_CONNECTIONS or mine > MAX_CLIENT_CONNECTIONS:
            self._joined.write(_BUSY)
            self._joined.close()
            return
        # The first request is owed at once: a connection that says nothing is timed out.
        self._reading_since = self.loop.time()
        self._read_timer = self.loop.call_later(READ_TIMEOUT, self._read_deadline)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_read = False
        if self._reading_since is None:  # else: the clock started with the connection
            self._reading_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._headers_read = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_since = None
        super().on_message_complete()

    def _read_deadline(self) -> None:
        """The connection's one timer: fires every READ_TIMEOUT at most, and times out the
        request being read if it began that long ago."""
        self._read_timer = None
        if self._joined.is_closing():
            return
        since = self._reading_since
        left = READ_TIMEOUT if since is None else since + READ_TIMEOUT - self.loop.time()
        if left > 0:
            self._read_timer = self.loop.call_later(left, self._read_deadline)
            return
        cycle = self.cycle
        if self._headers_read:  # the app has the request and waits for its body
            answerable = not cycle.response_started
        else:  # nothing of this request has reached the app; no answer may be under way
            answerable = cycle is None or cycle.response_complete
        if answerable:
            self._joined.write(_TIMED_OUT)
        # The app, if it waits for the body, sees the client gone (http.disconnect).
        self._joined.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        client = self._counted
        if client is not None:
            self._counted = None
            left = _per_client[client] - 1
            if left:
                _per_client[client] = left
            else:
                del _per_client[client]
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # The answer leaves now, as uvicorn would have written it: not after whatever the
        # app's task does next (background tasks), nor after the client's EOF.
        self._joined.flush()
        super().on_response_complete()

    def eof_received(self) -> None:
        # A client that half-closes after its request (HTTP/1.0 tools, `nc -N`, probes)
        # makes the real transport close itself once this returns: nothing may be left
        # held by then.
        self._joined.flush()
        super().eof_received()
