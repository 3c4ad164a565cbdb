"""Queries on the stored metadata versions. Repositories build queries and flush."""

from __future__ import annotations

import uuid

from sqlalchemy import Text, cast, delete, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.storage.db import insert_row
from passkey_api.storage.models import AuthenticatorMetadata, Passkey

# Versions kept: the newest and the one before (to compare, or to look back at a change).
KEPT = 2


async def newest_number(db: AsyncSession) -> int | None:
    """The newest stored version's `no` (one index lookup: what every replica asks each
    hour), None when none is stored."""
    result = await db.exec(select(func.max(AuthenticatorMetadata.no)))
    number = result.one()
    return None if number is None else int(number)


async def payload_of(db: AsyncSession, number: int) -> str | None:
    """A stored version's payload (JSON text), None when it is gone."""
    result = await db.exec(
        select(AuthenticatorMetadata.payload).where(AuthenticatorMetadata.no == number)
    )
    return result.first()


async def add(db: AsyncSession, version: AuthenticatorMetadata) -> None:
    """Insert; a version of the same `no` stored meanwhile (by another replica) fails the
    flush with IntegrityError."""
    await insert_row(db, version)


async def delete_older(db: AsyncSession) -> int:
    """Forget all but the KEPT newest versions."""
    numbers = await db.exec(
        select(AuthenticatorMetadata.no).order_by(col(AuthenticatorMetadata.no).desc())
    )
    older = list(numbers.all())[KEPT:]
    if not older:
        return 0
    await db.exec(delete(AuthenticatorMetadata).where(col(AuthenticatorMetadata.no).in_(older)))
    return len(older)


async def passkeys_of_models(
    db: AsyncSession, aaguids: list[str], key_identifiers: list[str]
) -> list[tuple[uuid.UUID, bytes, str, str | None, list[str]]]:
    """(user id, credential id, AAGUID, key identifier, the CAs its attestation chain
    named when that left its model uncertain) of every passkey of these models, and of
    every passkey whose model was left uncertain (the caller compares what is reported
    of each): a scan of the passkeys (no index on these columns), made only when a new
    version changes what is reported of some model, so at most daily."""
    conditions = [cast(Passkey.attestation_ca_names, Text) != "[]"]
    if aaguids:
        conditions.append(col(Passkey.aaguid).in_(aaguids))
    if key_identifiers:
        conditions.append(col(Passkey.attestation_key_identifier).in_(key_identifiers))
    table = Passkey.__table__  # type: ignore[attr-defined]
    connection = await db.connection()
    result = await connection.execute(
        sa_select(
            table.c.user_id,
            table.c.credential_id,
            table.c.aaguid,
            table.c.attestation_key_identifier,
            table.c.attestation_ca_names,
        ).where(or_(*conditions))
    )
    return [(row[0], row[1], row[2], row[3], list(row[4])) for row in result.all()]
