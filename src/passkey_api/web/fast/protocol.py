"""The protocol `passkey-api serve` runs with the fast paths: serving.HttpProtocol (the
read timeout and the connection caps), each answer's head and body written at once.

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
ceremony two answers of about 400 µs).

Beyond serving.HttpProtocol's, it reads uvicorn's `on_response_complete` (the moment an
answer is whole) and `eof_received`, and its flow control's high-water mark.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

from passkey_api.web import serving

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


class HttpProtocol(serving.HttpProtocol):
    """serving.HttpProtocol, writing each answer (head and body) at once."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._joined = _OneWritePerAnswer(transport, self.loop)
        # What the protocol writes from here on, its own refusals included, is held.
        super().connection_made(self._joined)

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
