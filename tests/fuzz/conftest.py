"""A live passkey-api (embedded backend, rate limits off) for the schema fuzzer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Server, serve


@pytest.fixture(scope="session")
async def live_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    async with serve("embedded", data_dir, {"PASSKEY_RATE_LIMITS": "false"}) as server:
        yield server
