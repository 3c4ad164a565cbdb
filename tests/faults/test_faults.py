"""Redis or PostgreSQL going away: 503 with a stable code, no partial writes, existing
sessions keep working without Redis, and everything recovers without a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from passkey_api.app import create_app
from passkey_api.config import Settings
from tests.api.conftest import ORIGIN, problem_code
from tests.conftest import Backend
from tests.faults.proxy import CuttableProxy
from tests.services import REDIS_URL, SECRET_KEY
from tests.softauthn import SoftAuthenticator


@pytest.fixture
async def proxies(backend: Backend) -> AsyncIterator[tuple[CuttableProxy, CuttableProxy, str]]:
    if backend.name != "postgres":
        pytest.skip("the embedded backend has no server to lose")
    db = urlsplit(backend.database_url)
    redis = urlsplit(REDIS_URL)
    pg_proxy = CuttableProxy(db.hostname or "127.0.0.1", db.port or 5432)
    redis_proxy = CuttableProxy(redis.hostname or "127.0.0.1", redis.port or 6379)
    await pg_proxy.start()
    await redis_proxy.start()
    yield pg_proxy, redis_proxy, backend.database_url
    await pg_proxy.close()
    await redis_proxy.close()


@pytest.fixture
async def client(
    proxies: tuple[CuttableProxy, CuttableProxy, str], tmp_path: object
) -> AsyncIterator[httpx.AsyncClient]:
    pg_proxy, redis_proxy, database_url = proxies
    db = urlsplit(database_url)
    settings = Settings(
        rp_id="localhost",
        origins=[ORIGIN],
        database_url=f"postgresql://{db.username}@127.0.0.1:{pg_proxy.port}{db.path}",
        redis_url=f"redis://127.0.0.1:{redis_proxy.port}/0",
        secret_key=SECRET_KEY,
        cookie_secure=False,
        data_dir=tmp_path,
        rate_limits=False,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ORIGIN, headers={"Origin": ORIGIN}
        ) as http,
    ):
        yield http


async def _sign_up(http: httpx.AsyncClient, authenticator: SoftAuthenticator, name: str) -> int:
    options = await http.post("/v1/registration/options", json={"username": name})
    if options.status_code != 200:
        return options.status_code
    credential = authenticator.create(options.json(), origin=ORIGIN)
    return (await http.post("/v1/registration/verify", json=credential)).status_code


async def test_redis_down_then_back(
    client: httpx.AsyncClient, proxies: tuple[CuttableProxy, CuttableProxy, str]
) -> None:
    _, redis_proxy, _ = proxies
    assert await _sign_up(client, SoftAuthenticator(), "fault-redis") == 201
    await redis_proxy.cut()

    for path, body in (
        ("/v1/authentication/options", {}),
        ("/v1/registration/options", {"username": "fault-redis-2"}),
    ):
        response = await client.post(path, json=body)
        assert (response.status_code, problem_code(response)) == (
            503,
            "challenge_store_unavailable",
        )
        assert response.headers["retry-after"]
    # Sessions live in PostgreSQL: signed-in users carry on.
    assert (await client.get("/v1/session")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["challenge_store"] == "unavailable"
    assert ready.json()["checks"]["database"] == "ok"

    await redis_proxy.restore()
    assert (await client.post("/v1/authentication/options", json={})).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def test_postgres_down_then_back(
    client: httpx.AsyncClient, proxies: tuple[CuttableProxy, CuttableProxy, str]
) -> None:
    pg_proxy, _, database_url = proxies
    authenticator = SoftAuthenticator()
    assert await _sign_up(client, authenticator, "fault-pg") == 201
    options = await client.post("/v1/registration/options", json={"username": "fault-pg-2"})
    pending = SoftAuthenticator().create(options.json(), origin=ORIGIN)
    await pg_proxy.cut()

    session = await client.get("/v1/session")
    assert (session.status_code, problem_code(session)) == (503, "database_unavailable")
    verify = await client.post("/v1/registration/verify", json=pending)
    assert (verify.status_code, problem_code(verify)) == (503, "database_unavailable")
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unavailable"

    await pg_proxy.restore()
    assert (await client.get("/v1/session")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    # The sign-up that met the outage wrote nothing.
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.connect() as connection:
        count = (
            await connection.execute(
                text("SELECT count(*) FROM users WHERE username = 'fault-pg-2'")
            )
        ).scalar()
    await engine.dispose()
    assert count == 0
