"""The decoy seed (models.DecoySeed): made once per database, read once per process.

The first process to start on a database makes it: an INSERT that does nothing when the
row exists, so that replicas starting together all keep the one that was committed first,
which each then reads back. From then on a process holds it in memory: sign-in options
for a username, a hot path, never query it."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from passkey_api.storage.models import DecoySeed as DecoySeedRow

log = logging.getLogger(__name__)

SEED_BYTES = 32

_TABLE: Table = DecoySeedRow.__table__  # type: ignore[attr-defined]
_READ = select(_TABLE.c.seed).where(_TABLE.c.id == 1)


async def read_or_make(engine: AsyncEngine) -> bytes:
    """The database's seed, made now if it has none."""
    async with engine.connect() as connection:
        seed = (await connection.execute(_READ)).scalar()
    if seed is None:
        # The INSERT first, so that the transaction writes before it reads (on SQLite, a
        # read first could leave it a snapshot that a concurrent writer outdates).
        async with engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            await connection.execute(
                dialect.insert(_TABLE)
                .values(id=1, seed=secrets.token_bytes(SEED_BYTES))
                .on_conflict_do_nothing(index_elements=["id"])
            )
            # Ours, or the one another replica committed first (our INSERT waited for it).
            seed = (await connection.execute(_READ)).scalar_one()
    return bytes(seed)


class DecoySeed:
    """The seed as a process holds it: loaded at start-up (`load`), or by the first
    request that needs it when the database could not give it then (down, or not
    migrated yet); then kept."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._seed: bytes | None = None

    async def load(self) -> None:
        """At start-up: read (or make) it now if the database answers; else later."""
        try:
            await self.get()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("decoy seed not read at start-up, read when first needed: %r", exc)

    async def get(self) -> bytes:
        seed = self._seed
        if seed is None:
            seed = self._seed = await read_or_make(self._engine)
        return seed
