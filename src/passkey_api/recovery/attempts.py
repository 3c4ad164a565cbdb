"""The per-account ceiling of failed recovery attempts (NIST SP 800-63B 5.2.2), which no
rotation of client addresses escapes: counted on the account's own row, so every replica
and both backends see one count, with the database as the only truth (a Redis counter
could be lost, or fall back to one replica's memory).

A run of failures begins with the first; it ends, and counting starts over, when the
owner signs in with a passkey after it began (a passkey's `last_used_at`), when a
recovery succeeds, or PASSKEY_RECOVERY_PAUSE after it began. When a run reaches
PASSKEY_RECOVERY_MAX_failures, recovery codes of the account pause: the run's start moves
to that moment, so the pause lasts PASSKEY_RECOVERY_PAUSE, or until the owner signs in
with a passkey. Passkey sign-in itself is never counted nor paused, and neither are valid
emailed links (256 bits, mailed to the verified address: not guessable, and the owner's
way back in); a failed link that names the account counts.

Each attempt reserves its place before its secret is tested (`reserve`, one conditional
UPDATE), so concurrent attempts on any number of replicas never test more secrets than
the ceiling allows. The writes are `untracked`: they change nothing a cached session
holds (no session check reads these columns).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.config import Settings
from passkey_api.storage.db import untracked
from passkey_api.storage.models import Passkey, User

_failures = col(User.recovery_failures)
_since = col(User.recovery_failures_since)


def _run_over(now: datetime, settings: Settings) -> Any:
    """Whether the account's current run of failures (and any pause) has ended."""
    signed_in_since = (
        select(col(Passkey.id))
        .where(col(Passkey.user_id) == col(User.id), col(Passkey.last_used_at) > _since)
        .exists()
    )
    return or_(_since.is_(None), _since <= now - settings.recovery_pause, signed_in_since)


async def reserve(
    db: AsyncSession, user_id: uuid.UUID, *, now: datetime, settings: Settings
) -> int | None:
    """Count one attempt on the account before its secret is tested: the attempt's
    number in the run, or None when recovery of the account is paused (or there is no
    such account: a random id matches no row, and costs the same UPDATE)."""
    ceiling = settings.recovery_max_failures
    over = _run_over(now, settings)
    result = await untracked(db).exec(
        update(User)
        .where(col(User.id) == user_id, or_(over, _failures < ceiling))
        .values(
            recovery_failures=case((over, 1), else_=_failures + 1),
            recovery_failures_since=case((or_(over, _failures + 1 >= ceiling), now), else_=_since),
        )
        .returning(_failures)
        .execution_options(synchronize_session=False)
    )
    row = result.first()
    return None if row is None else int(row[0])


async def give_back(db: AsyncSession, user_id: uuid.UUID) -> None:
    """An attempt refused after `reserve` for a reason of ours (no room for its notice),
    its code not used up: it does not count (in the caller's unit of work)."""
    await untracked(db).exec(
        update(User)
        .where(col(User.id) == user_id, _failures > 0)
        .values(recovery_failures=_failures - 1)
        .execution_options(synchronize_session=False)
    )


async def reset(db: AsyncSession, user_id: uuid.UUID) -> None:
    """A recovery succeeded: the run is over (in the caller's unit of work)."""
    await untracked(db).exec(
        update(User)
        .where(col(User.id) == user_id)
        .values(recovery_failures=0, recovery_failures_since=None)
        .execution_options(synchronize_session=False)
    )
