"""An app per test on the session's backend, both ways (with the fast paths and as the
plain FastAPI app: PASSKEY_FAST_PATHS), an HTTP client, and ceremony helpers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI
from sqlalchemy import text

from passkey_api import app as app_module
from passkey_api.app import create_app
from passkey_api.config import Settings
from passkey_api.storage.db import create_engine
from passkey_api.web import fast
from passkey_api.web.resources import Resources
from tests.conftest import Backend
from tests.services import SECRET_KEY
from tests.softauthn import SoftAuthenticator

ORIGIN = "http://localhost:8000"
RP_ID = "localhost"


@dataclass
class Api:
    """An httpx client bound to one app, plus the app's resources for direct checks."""

    client: httpx.AsyncClient
    resources: Resources
    settings: Settings
    app: FastAPI

    async def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, json=body, **kwargs)

    async def sign_up(
        self,
        authenticator: SoftAuthenticator,
        username: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **create: Any,
    ) -> httpx.Response:
        username = username or new_username()
        options = await self.post("/v1/registration/options", {"username": username})
        assert options.status_code == 200, options.text
        credential = authenticator.create(options.json(), origin=ORIGIN, **create)
        return await self.post("/v1/registration/verify", credential, headers=headers)

    async def sign_in_options(self, username: str | None = None, **body: Any) -> dict[str, Any]:
        payload: dict[str, Any] = dict(body)
        if username is not None:
            payload["username"] = username
        options = await self.post("/v1/authentication/options", payload)
        assert options.status_code == 200, options.text
        result: dict[str, Any] = options.json()
        return result

    async def sign_in(
        self,
        authenticator: SoftAuthenticator,
        username: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **get: Any,
    ) -> httpx.Response:
        options = await self.sign_in_options(username)
        credential = authenticator.get(options, origin=ORIGIN, **get)
        return await self.post("/v1/authentication/verify", credential, headers=headers)

    async def reauthenticate(
        self, authenticator: SoftAuthenticator, purpose: str, **get: Any
    ) -> httpx.Response:
        options = await self.post("/v1/session/reauthenticate/options", {"purpose": purpose})
        assert options.status_code == 200, options.text
        credential = authenticator.get(options.json(), origin=ORIGIN, **get)
        return await self.post("/v1/session/reauthenticate/verify", credential)

    async def add_passkey(self, authenticator: SoftAuthenticator, **body: Any) -> httpx.Response:
        options = await self.post("/v1/me/passkeys/options", body)
        assert options.status_code == 200, options.text
        credential = authenticator.create(options.json(), origin=ORIGIN)
        return await self.post("/v1/me/passkeys/verify", credential)

    async def execute(self, sql: str, **params: Any) -> None:
        """SQL written around the service, as an operator's psql would (to age a
        session, say); then the session cache's epoch is ended, which is what the
        operator's guide says to do next (sessions/cache.py)."""
        async with self.resources.engine.begin() as connection:
            await connection.execute(text(sql), params)
        await self.resources.session_cache.epoch.end("by hand", leave=True)

    async def age_sign_in(self) -> None:
        """Move every session's sign-in step-up (sessions.stepped_up_at) out of the
        re-authentication window, as if the passkey ceremony that started it was long ago:
        from then on its sensitive actions need the explicit step-up."""
        old = datetime.now(UTC) - self.settings.reauth_window - timedelta(minutes=1)
        await self.execute(
            "UPDATE sessions SET stepped_up_at = :old WHERE stepped_up_at IS NOT NULL", old=old
        )

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.resources.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()


def new_username() -> str:
    return f"user-{secrets.token_hex(4)}"


def problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == response.status_code
    return str(body["code"])


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture(params=[True, False], ids=["fast", "plain"])
def fast_paths(request: pytest.FixtureRequest) -> bool:
    """Every API test runs with the fast paths (as `serve` runs the app) and without them
    (the plain FastAPI app): the answers must not depend on them."""
    return bool(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the fast paths on PostgreSQL only. They are the HTTP edge's (routing,
    reading the request, writing the answer) and read nothing of the storage backend, so
    the plain app is checked once per test, on the backend production runs, and the
    suite keeps to CI's time; with them, as served, on both backends."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        plain_embedded = params.get("fast_paths") is False and params.get("backend") == "embedded"
        (dropped if plain_embedded else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
async def make_api(backend: Backend, fast_paths: bool, tmp_path: Any) -> AsyncIterator[ApiFactory]:
    """Build an app with settings overrides; all are torn down after the test."""
    opened: list[tuple[Any, Api]] = []

    async def factory(**overrides: Any) -> Api:
        values: dict[str, Any] = {
            "rp_id": RP_ID,
            "origins": [ORIGIN],
            "database_url": backend.database_url,
            "redis_url": backend.redis_url,
            "secret_key": SECRET_KEY,
            "cookie_secure": False,
            "data_dir": tmp_path,
            # Off unless a test is about them: every test shares one client IP and Redis.
            "rate_limits": False,
            "fast_paths": fast_paths,
        }
        values.update(overrides)
        if (
            values["rate_limits"]
            and values["redis_url"]
            and not any(instance.settings.rate_limits for _, instance in opened)
        ):
            await _forget_counters(values["redis_url"])
        settings = Settings(**values)
        app = create_app(settings)
        # Not plain twice: the fast paths fall back silently but for a warning.
        assert fast.installed(app) == settings.fast_paths
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4711)),
            base_url=ORIGIN,
            # What a browser on the allowed origin sends with every state-changing fetch.
            headers={"Origin": ORIGIN},
        )
        instance = Api(client=client, resources=app.state.resources, settings=settings, app=app)
        opened.append((lifespan, instance))
        return instance

    yield factory
    if opened:
        # Leave the session's shared database empty for the next test.
        async with opened[0][1].resources.engine.begin() as connection:
            for table in ("sessions", "passkeys", "users"):
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608
    for lifespan, instance in reversed(opened):
        await instance.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _forget_counters(redis_url: str) -> None:
    """A test about limits starts from no counts: the counters live in Redis for their
    window (up to a day), and every test, and every run of the suite within the window,
    comes from the same client address."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match="passkey-api:rl:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    return await make_api()


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


# --- the authenticator metadata's tests -------------------------------------------------


@pytest.fixture
def metadata_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's own metadata pass (made at start-up, then hourly) left out, at a moment of
    its choosing: the tests make each pass themselves."""

    async def not_now(resources: Any) -> None:
        return None

    monkeypatch.setattr(app_module, "metadata_housekeeping", not_now)


@pytest.fixture
async def no_stored_metadata(backend: Backend) -> AsyncIterator[None]:
    """The session's database is shared: a test of the metadata starts, and leaves, with
    no version stored and no audit trail (a refresh audits what it changes)."""

    async def clear() -> None:
        engine = create_engine(backend.database_url, pool_size=1)
        try:
            async with engine.begin() as connection:
                await connection.exec_driver_sql("DELETE FROM authenticator_metadata")
                await connection.exec_driver_sql("DELETE FROM audit_events")
        finally:
            await engine.dispose()

    await clear()
    yield
    await clear()
