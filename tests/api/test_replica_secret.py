"""Replicas share one secret key or do not start: a key made per container would refuse
the sessions another replica made and void recovery codes at every redeploy."""

from __future__ import annotations

from pathlib import Path

import pytest

from passkey_api.app import create_app
from passkey_api.config import MissingSecretKey, Settings
from tests.api.conftest import ORIGIN, RP_ID
from tests.conftest import Backend


async def test_two_replicas_without_a_shared_secret_refuse_to_start(
    backend: Backend, tmp_path: Path
) -> None:
    for replica in ("a", "b"):  # each its own container: its own data folder
        settings = Settings(
            rp_id=RP_ID,
            origins=[ORIGIN],
            database_url=backend.database_url,
            redis_url=backend.redis_url,
            data_dir=tmp_path / replica,
        )
        app = create_app(settings)
        with pytest.raises(MissingSecretKey):
            async with app.router.lifespan_context(app):
                pass
        assert not (tmp_path / replica / "secret_key").exists()


async def test_the_embedded_default_makes_and_keeps_its_own_key(tmp_path: Path) -> None:
    settings = Settings(rp_id=RP_ID, origins=[ORIGIN], data_dir=tmp_path)
    keys = []
    for _ in range(2):  # a restart reads the same key back
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            keys.append(app.state.resources.secret_key)
    assert keys[0] == keys[1]
    assert len(keys[0]) >= 32
    # An empty PASSKEY_SECRET_KEY is no key: the generated one is used, never b"".
    empty = Settings(rp_id=RP_ID, origins=[ORIGIN], data_dir=tmp_path, secret_key="")
    assert empty.secret_key_bytes() == keys[0]
