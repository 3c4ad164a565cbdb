"""The decoy seed (storage/decoy_seed.py): one per database, made by whichever process
starts first, the same for every other; read at start-up, or on first use when the
database could not give it then."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from passkey_api.app import create_app
from passkey_api.config import Settings
from passkey_api.storage import migrations
from passkey_api.storage.db import create_engine
from passkey_api.storage.decoy_seed import read_or_make
from tests.api.conftest import ORIGIN, RP_ID
from tests.conftest import Backend
from tests.services import SECRET_KEY, postgres_database


@contextlib.asynccontextmanager
async def fresh_database(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the backend's kind, not migrated."""
    if backend.name == "postgres":
        async with postgres_database("passkey_seed") as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"


async def test_replicas_starting_together_keep_one_seed(backend: Backend, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path) as url:
        await asyncio.to_thread(migrations.upgrade, url)
        engines = [create_engine(url, pool_size=1) for _ in range(4)]
        try:
            seeds = await asyncio.gather(*(read_or_make(engine) for engine in engines))
            assert len(set(seeds)) == 1
            assert len(seeds[0]) == 32
            assert await read_or_make(engines[0]) == seeds[0]  # read, not made again
            async with engines[0].connect() as connection:
                rows = (await connection.execute(text("SELECT count(*) FROM decoy_seed"))).scalar()
            assert rows == 1
        finally:
            for engine in engines:
                await engine.dispose()


async def test_a_database_not_ready_at_start_up_gives_the_seed_on_first_use(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with fresh_database(backend, tmp_path) as url:
        settings = Settings(
            rp_id=RP_ID,
            origins=[ORIGIN],
            database_url=url,
            redis_url=backend.redis_url,
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
            ) as client,
        ):
            assert "decoy seed not read at start-up" in caplog.text  # no table yet: started
            await asyncio.to_thread(migrations.upgrade, url)  # `passkey-api migrate`, late
            body = {"username": "nobody-at-all"}
            first = await client.post("/v1/authentication/options", json=body)
            again = await client.post("/v1/authentication/options", json=body)
            assert first.status_code == again.status_code == 200, first.text
            assert first.json()["allowCredentials"] == again.json()["allowCredentials"]
            seed = await app.state.resources.decoy_seed.get()
            async with app.state.resources.engine.connect() as connection:
                stored = (await connection.execute(text("SELECT seed FROM decoy_seed"))).scalar()
            assert seed == stored
