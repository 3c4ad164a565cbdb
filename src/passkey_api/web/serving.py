"""How `passkey-api serve` runs uvicorn: its httptools protocol, bounding what a slow or
idle client can hold, for a deployment with no proxy in front (uvicorn bounds only the
idle time between requests, `timeout_keep_alive`):

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

These are safety features, not speed-ups. They read little of uvicorn: the protocol's
connection callbacks (`connection_made`, `connection_lost`), its parser callbacks
(`on_message_begin`, `on_headers_complete`, `on_message_complete`), and the connection's
`client`, `connections`, `transport` and `cycle` (`response_started`,
`response_complete`). The one write per answer (web/fast/protocol.py) is a subclass of
this protocol. Only `passkey-api serve` uses it; another ASGI server runs the app
without it.
"""

from __future__ import annotations

import asyncio
import json
import os
from http import HTTPStatus

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


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read timeout per request and a cap on
    connections."""

    # When the request being read began (loop time); None while none is being read.
    _reading_since: float | None = None
    _headers_read = False
    _read_timer: asyncio.TimerHandle | None = None
    # Whom this connection counts against (_per_client); None: no one.
    _counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        client = self._counted = _client_of(self.client)
        mine = 0
        if client is not None:  # counted until connection_lost, refused or not
            mine = _per_client[client] = _per_client.get(client, 0) + 1
        # This one included in both counts.
        if len(self.connections) > MAX_CONNECTIONS or mine > MAX_CLIENT_CONNECTIONS:
            self.transport.write(_BUSY)
            self.transport.close()
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
        if self.transport.is_closing():
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
            self.transport.write(_TIMED_OUT)
        # The app, if it waits for the body, sees the client gone (http.disconnect).
        self.transport.close()

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
