"""Where a BLOB comes from: the Metadata Service's URL (PASSKEY_MDS_URL, fetched with
httpx) or a file (PASSKEY_MDS_FILE, for a deployment without outbound access)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx

from passkey_api.authenticators.blob import BlobRefused
from passkey_api.config import Settings, public_url

# The FIDO Alliance's BLOB is a few MB; this is far above it and far below harm.
MAX_BYTES = 64 * 1024 * 1024
# Seconds for a connection, and for each read, to make progress...
TIMEOUT = 60.0
# ...and for the whole download: a server sending a byte a minute never trips TIMEOUT.
DEADLINE = 300.0
MAX_REDIRECTS = 3
_HEADERS = {"Accept": "application/jwt, */*", "Accept-Encoding": "identity"}


def describe(settings: Settings) -> str:
    """The source, as the log and the stored version name it."""
    return str(settings.mds_file) if settings.mds_file else public(settings.mds_url)


def public(url: str) -> str:
    """A URL as it may be logged and stored: without its query or credentials (where a
    token would be); check-config prints it so too."""
    return public_url(url)


async def fetch(settings: Settings) -> bytes:
    """The BLOB's bytes as the source holds them now; BlobRefused("unreachable") when
    they cannot be had."""
    if settings.mds_file is not None:
        return await asyncio.to_thread(_read, settings.mds_file)
    return await _download(settings.mds_url)


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise BlobRefused("unreachable", f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise BlobRefused("unreachable", f"{path} is larger than {MAX_BYTES} bytes")
    return data


class _WithoutQuery(logging.Filter):
    """httpx logs every request's URL at INFO, and a source's query may hold a token:
    its log lines name URLs without their query (for every httpx client of the process,
    whose queries are no business of the log either)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                public(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_HTTPX_LOG = logging.getLogger("httpx")


async def _download(address: str) -> bytes:
    url = public(address)
    if not any(isinstance(f, _WithoutQuery) for f in _HTTPX_LOG.filters):
        _HTTPX_LOG.addFilter(_WithoutQuery())
    try:
        async with asyncio.timeout(DEADLINE):
            return await _get(address, url)
    except TimeoutError:
        raise BlobRefused(
            "unreachable", f"{url} took longer than {DEADLINE:g} s to send the BLOB"
        ) from None
    except httpx.HTTPError as exc:
        # Only the kind: httpx's text may quote the URL with its query.
        raise BlobRefused("unreachable", f"cannot fetch {url}: {type(exc).__name__}") from None


async def _get(address: str, url: str) -> bytes:
    # Redirects are followed by hand, and only within the source's origin (scheme, host
    # and port): never to plain http, another host or an internal address.
    origin = httpx.URL(address)
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        request = client.build_request("GET", address, headers=_HEADERS)
        for _ in range(MAX_REDIRECTS + 1):
            response = await client.send(request, stream=True)
            try:
                if response.next_request is None:
                    return await _body(response, url)
                target = response.next_request.url
                if (target.scheme, target.host, target.port) != (
                    origin.scheme,
                    origin.host,
                    origin.port,
                ):
                    raise BlobRefused(
                        "unreachable",
                        f"{url} redirects (HTTP {response.status_code}) to another origin, "
                        f"{public(str(target))}; redirects are followed only within the "
                        "source's: set PASSKEY_MDS_URL to where the BLOB is",
                    )
                request = response.next_request
            finally:
                await response.aclose()
    raise BlobRefused("unreachable", f"{url} redirects more than {MAX_REDIRECTS} times")


async def _body(response: httpx.Response, url: str) -> bytes:
    if response.status_code != 200:
        raise BlobRefused("unreachable", f"{url} answered HTTP {response.status_code}")
    # Identity was asked for. A compressed answer is refused, not decoded: httpx decodes
    # a whole chunk at once, and stacked encodings ("gzip, gzip") make a few kB on the
    # wire into GBs in memory before any size could be counted.
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BlobRefused(
            "unreachable",
            f"{url} sent the BLOB with Content-Encoding {encoding[:40]!r}, not identity",
        )
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_BYTES:
        raise BlobRefused("unreachable", f"{url} would send more than {MAX_BYTES} bytes")
    chunks = []
    size = 0
    async for chunk in response.aiter_raw():  # the bytes as they came, never decoded
        size += len(chunk)
        if size > MAX_BYTES:
            raise BlobRefused("unreachable", f"{url} sent more than {MAX_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
