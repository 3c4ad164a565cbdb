"""The pieces of the real-browser tests: the service as a subprocess, its backends, and a
browser tab with a CDP virtual authenticator. The fixtures are in conftest.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, BrowserContext, CDPSession, Page
from sqlalchemy import text

from passkey_api.sessions.cache import EPOCH_KEY
from passkey_api.storage.db import create_engine

ROOT = Path(__file__).resolve().parents[2]
# The console script installed next to the running interpreter (normally .venv/bin).
SERVER_BIN = Path(sys.executable).with_name("passkey-api")
if not SERVER_BIN.exists():
    SERVER_BIN = ROOT / ".venv" / "bin" / "passkey-api"
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine has no internet: without these Chromium keeps trying to reach Google.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT = 30.0
_AGE_SIGN_IN = text("UPDATE sessions SET stepped_up_at = :old WHERE stepped_up_at IS NOT NULL")

# CDP WebAuthn.VirtualAuthenticatorOptions for each kind of authenticator under test.
AUTHENTICATORS: dict[str, dict[str, Any]] = {
    # A platform authenticator (Touch ID, Windows Hello, Android screen lock).
    "internal": {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    },
    # A FIDO2 security key with a PIN.
    "usb": {
        "protocol": "ctap2",
        "transport": "usb",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    },
    # An old U2F-only key: no discoverable credentials, no user verification.
    "u2f": {
        "protocol": "u2f",
        "transport": "usb",
        "hasResidentKey": False,
        "hasUserVerification": False,
    },
    # A phone reached over hybrid (caBLE).
    "hybrid": {
        "protocol": "ctap2",
        "transport": "cable",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    },
}


# --- the service ----------------------------------------------------------------------


@dataclass
class Server:
    backend: str
    base_url: str
    log_path: Path
    database_url: str | None = None
    redis_url: str | None = None

    async def age_sign_in(self) -> None:
        """Move every session's sign-in step-up out of the re-authentication window (the
        default 10 minutes), as if its passkey ceremony was long ago: from then on its
        sensitive actions need the explicit step-up. SQL around the service, then the
        session cache's epoch ended, as the operator's guide says (sessions/cache.py)."""
        assert self.database_url is not None
        engine = create_engine(self.database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    _AGE_SIGN_IN,
                    {"old": datetime.now(UTC) - timedelta(hours=1)},
                )
        finally:
            await engine.dispose()
        if self.redis_url is not None:
            client = aioredis.Redis.from_url(self.redis_url)
            try:
                await client.delete(EPOCH_KEY)
            finally:
                await client.aclose()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log(self, since: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_healthy(process: asyncio.subprocess.Process, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with httpx.AsyncClient(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url + "/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    log = await asyncio.to_thread(log_path.read_text, errors="replace")
    pytest.fail(f"passkey-api did not become healthy at {url}; its log:\n{log}", pytrace=False)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def serve(
    backend: str, data_dir: Path, extra_env: dict[str, str], *, zero_config: bool = False
) -> AsyncIterator[Server]:
    """The service on a free port. zero_config: no settings at all but the data folder
    (the service then picks RP ID localhost, the origin of its port, secure cookies)."""
    port = _free_port()
    base_url = f"http://localhost:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSKEY_")}
    env["PASSKEY_DATA_DIR"] = str(data_dir)
    if not zero_config:
        env |= {
            "PASSKEY_RP_ID": "localhost",
            "PASSKEY_ORIGINS": base_url,
            "PASSKEY_COOKIE_SECURE": "false",
            "PASSKEY_SECRET_KEY": secrets.token_urlsafe(40),
        }
    env |= extra_env
    database_url = env.get("PASSKEY_DATABASE_URL") or f"sqlite:///{data_dir / 'passkey-api.db'}"
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(SERVER_BIN),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await _wait_healthy(process, f"http://127.0.0.1:{port}", log_path)
        yield Server(
            backend=backend,
            base_url=base_url,
            log_path=log_path,
            database_url=database_url,
            redis_url=env.get("PASSKEY_REDIS_URL"),
        )
    finally:
        await _stop(process)


@contextlib.asynccontextmanager
async def open_tab(
    server: Server, browser: Browser, *, user_agent: str | None = None
) -> AsyncIterator[Tab]:
    """A fresh browser context (its own cookies) with a page and a WebAuthn CDP session;
    `user_agent` instead of headless Chromium's own (which names "HeadlessChrome")."""
    context = await browser.new_context(base_url=server.base_url, user_agent=user_agent)
    try:
        # Nothing here waits for a person: a stuck step should fail fast, not after 30 s.
        context.set_default_timeout(10_000)
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable", {"enableUI": False})
        yield Tab(server=server, context=context, page=page, cdp=cdp)
    finally:
        await context.close()


@dataclass
class Tab:
    """One browser context and page on the demo page, driven through window.passkey."""

    server: Server
    context: BrowserContext
    page: Page
    cdp: CDPSession
    authenticator_id: str | None = None

    async def open(self) -> None:
        await self.page.goto(self.server.base_url + "/")
        await self.page.evaluate("window.passkey.ready")

    async def add_authenticator(self, kind: str) -> str:
        """Plug in one virtual authenticator; the previous one, if any, is removed."""
        await self.remove_authenticator()
        answer = await self.cdp.send(
            "WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATORS[kind]}
        )
        self.authenticator_id = str(answer["authenticatorId"])
        return self.authenticator_id

    async def remove_authenticator(self) -> None:
        if self.authenticator_id is not None:
            await self.cdp.send(
                "WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator_id}
            )
            self.authenticator_id = None

    async def credentials(self) -> list[dict[str, Any]]:
        assert self.authenticator_id is not None
        answer = await self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id}
        )
        return list(answer["credentials"])

    async def add_credential(self, credential: dict[str, Any]) -> None:
        assert self.authenticator_id is not None
        await self.cdp.send(
            "WebAuthn.addCredential",
            {"authenticatorId": self.authenticator_id, "credential": credential},
        )

    async def call(self, function: str, *args: Any) -> dict[str, Any]:
        """window.passkey.<function>(*args): {status, body}."""
        result = await self.page.evaluate(
            f"(args) => window.passkey.{function}(...args)", list(args)
        )
        assert isinstance(result, dict), result
        return result

    async def session(self) -> dict[str, Any]:
        return await self.call("session")


def b64(data: bytes) -> str:
    """Standard base64, as CDP's WebAuthn domain takes binary fields."""
    return base64.b64encode(data).decode("ascii")
