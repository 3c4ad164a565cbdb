"""The BLOB fetched over HTTP from a local server that misbehaves: what the download
refuses (stacked compression, dripping bytes, redirects), quickly and within bounded
memory. No internet."""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from passkey_api.authenticators import sources
from passkey_api.authenticators.blob import BlobRefused
from passkey_api.config import Settings
from tests.oauth_servers import serving

_BOMB_SIZE = 512 * 1024 * 1024


def _bomb_bytes() -> bytes:
    """512 MiB of zeros gzip'd twice (about 1 kB on the wire), made a MiB at a time."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    zeros = b"\0" * (1 << 20)
    once = b"".join(inner.compress(zeros) for _ in range(_BOMB_SIZE >> 20)) + inner.flush()
    return gzip.compress(once, compresslevel=9)


_BOMB: list[bytes] = []


async def _bomb(request: Request) -> Response:
    return Response(_BOMB[0], headers={"Content-Encoding": "gzip, gzip"})


async def _gzip(request: Request) -> Response:
    return Response(gzip.compress(b"a.b.c"), headers={"Content-Encoding": "gzip"})


async def _plain(request: Request) -> Response:
    return Response(b"a.b.c", media_type="application/jwt")


async def _drip(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(600):
            yield b"a"
            await asyncio.sleep(0.1)

    return StreamingResponse(body(), media_type="application/jwt")


async def _redirect_away(request: Request) -> Response:
    """To an internal address (the same server, by another name)."""
    return RedirectResponse(f"http://127.0.0.1:{request.url.port}/plain", status_code=302)


async def _redirect_within(request: Request) -> Response:
    return RedirectResponse("/plain", status_code=302)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/bomb", _bomb),
            Route("/gzip", _gzip),
            Route("/plain", _plain),
            Route("/drip", _drip),
            Route("/redirect", _redirect_away),
            Route("/moved", _redirect_within),
        ]
    )
    with serving(app) as url:
        yield url


async def _fetch(url: str) -> bytes:
    return await sources.fetch(Settings(mds=True, mds_url=url))


async def test_a_plain_answer_is_fetched(server: str) -> None:
    assert await _fetch(server + "/plain?token=t") == b"a.b.c"


async def test_stacked_compression_is_refused_within_bounded_memory(server: str) -> None:
    """Decoded, the answer would be 512 MiB; it is refused before it is decoded."""
    _BOMB[:] = [_bomb_bytes()]
    assert len(_BOMB[0]) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(BlobRefused) as refused:
            await _fetch(server + "/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.outcome == "unreachable"
    assert peak < 200 * 1024 * 1024


async def test_a_compressed_answer_is_refused(server: str) -> None:
    """Identity is asked for; a server that compresses all the same is not followed."""
    with pytest.raises(BlobRefused) as refused:
        await _fetch(server + "/gzip")
    assert refused.value.outcome == "unreachable"
    assert "Content-Encoding" in refused.value.message


async def test_a_dripping_server_meets_the_deadline(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.1 s never trips the per-read timeout; the whole download's
    deadline ends it."""
    monkeypatch.setattr(sources, "DEADLINE", 1.0)
    started = time.monotonic()
    with pytest.raises(BlobRefused) as refused:
        await _fetch(server + "/drip")
    assert refused.value.outcome == "unreachable"
    assert "took longer than" in refused.value.message
    assert time.monotonic() - started < 5


async def test_a_redirect_to_another_origin_is_not_followed(server: str) -> None:
    """The source at localhost sends it to 127.0.0.1 (as it could to plain http, or to
    any internal address): refused, the target never asked."""
    source = server.replace("127.0.0.1", "localhost")
    with pytest.raises(BlobRefused) as refused:
        await _fetch(source + "/redirect?token=secret-token")
    assert refused.value.outcome == "unreachable"
    assert "HTTP 302" in refused.value.message
    assert "secret-token" not in refused.value.message
    # Within the source's own origin, a redirect is followed.
    assert await _fetch(server + "/moved") == b"a.b.c"
