"""Two replicas share nothing but PostgreSQL and Redis: a ceremony started on one finishes
on the other, and signing out on one is effective on the other at once."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Server, serve
from tests.services import REDIS_URL, postgres_database, require_redis
from tests.softauthn import SoftAuthenticator

ORIGIN = "http://localhost:8000"  # the origin the load balancer's users see


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    await require_redis()
    async with postgres_database("passkey_replicas") as database_url:
        env = {
            "PASSKEY_DATABASE_URL": database_url,
            "PASSKEY_REDIS_URL": REDIS_URL,
            "PASSKEY_ORIGINS": ORIGIN,
            "PASSKEY_SECRET_KEY": secrets.token_urlsafe(40),  # shared, as it must be
        }
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
        async with contextlib.AsyncExitStack() as stack:
            first = await stack.enter_async_context(serve("postgres", tmp_path / "a", env))
            second = await stack.enter_async_context(serve("postgres", tmp_path / "b", env))
            yield first, second


async def test_ceremonies_and_sign_out_cross_replicas(replicas: tuple[Server, Server]) -> None:
    a, b = (f"http://127.0.0.1:{s.base_url.rsplit(':', 1)[1]}" for s in replicas)
    authenticator = SoftAuthenticator()
    async with httpx.AsyncClient(headers={"Origin": ORIGIN}, timeout=10) as client:
        options = await client.post(f"{a}/v1/registration/options", json={"username": "lb"})
        credential = authenticator.create(options.json(), origin=ORIGIN)
        signed_up = await client.post(
            f"{b}/v1/registration/verify", json=credential, headers={"X-Client-Type": "native"}
        )
        assert signed_up.status_code == 201, signed_up.text
        bearer = {"Authorization": f"Bearer {signed_up.json()['session_token']}"}

        options = await client.post(f"{b}/v1/authentication/options", json={})
        assertion = authenticator.get(options.json(), origin=ORIGIN)
        signed_in = await client.post(
            f"{a}/v1/authentication/verify", json=assertion, headers={"X-Client-Type": "native"}
        )
        assert signed_in.status_code == 200, signed_in.text
        # The same response replayed to the other replica: the challenge is gone everywhere.
        replay = await client.post(f"{b}/v1/authentication/verify", json=assertion)
        assert replay.json()["code"] == "challenge_expired"

        assert (await client.get(f"{a}/v1/session", headers=bearer)).status_code == 200
        assert (await client.delete(f"{b}/v1/session", headers=bearer)).status_code == 204
        assert (await client.get(f"{a}/v1/session", headers=bearer)).status_code == 401
