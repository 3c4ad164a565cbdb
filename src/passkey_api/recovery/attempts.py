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

An attempt naming no usable account (an unknown or disabled username, a failed link
naming none) reserves against a stand-in row instead (models.RecoveryStandIn), by the
same statement: a conditional UPDATE that changes one row, and a commit that writes it,
whoever is named. (An UPDATE matching no row would leave its commit nothing to write,
about half a millisecond less on either backend: an oracle of usernames.) A username's
stand-in is one of STAND_INS rows, chosen by a keyed hash of its uniqueness key, so
attempts on one unknown name queue on one row's lock as those on one account do, and a
flood of other names cannot single out its row. (Keyed with the current secret key only:
a rotation moves names to other stand-ins, which is harmless, since a stand-in's count
never pauses anything and only its row's lock is shared.) A stand-in's run starts over
before its ceiling: it never pauses, nor ever stops writing. (A paused account's attempts
match no row and write nothing: telling that costs a stranger the full ceiling of
attempts on the name, as the pausing attempt's own work does.)
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.config import Settings
from passkey_api.kit import keys
from passkey_api.storage.db import untracked
from passkey_api.storage.models import Passkey, RecoveryStandIn, User

_failures = col(User.recovery_failures)
_since = col(User.recovery_failures_since)

# Rows in recovery_stand_ins (migration 0009 makes them), their ids the first numbers.
STAND_INS = 64
_STAND_IN_KEY = "passkey-api recovery stand-ins"


@dataclass(frozen=True)
class StandIn:
    """The stand-in row an attempt naming no usable account counts against."""

    id: uuid.UUID


def stand_in(username_key: str | None = None, secret_key: bytes = b"") -> StandIn:
    """The stand-in of a username (its uniqueness key, or the name as typed when it
    cannot be one), or a random one for an attempt that names none."""
    if username_key is None:
        number = secrets.randbelow(STAND_INS)
    else:
        mac = hmac.digest(
            keys.derive(secret_key, _STAND_IN_KEY), username_key.encode("utf-8"), "sha256"
        )
        number = int.from_bytes(mac[:8], "big") % STAND_INS
    return StandIn(uuid.UUID(int=number))


def _run_over(
    table: type[User] | type[RecoveryStandIn], now: datetime, settings: Settings
) -> ColumnElement[bool]:
    """Whether the account's current run of failures (and any pause) has ended."""
    since = col(table.recovery_failures_since)
    signed_in_since = (
        select(col(Passkey.id))
        .where(col(Passkey.user_id) == col(table.id), col(Passkey.last_used_at) > since)
        .exists()
    )
    return or_(since.is_(None), since <= now - settings.recovery_pause, signed_in_since)


async def reserve(
    db: AsyncSession, account: uuid.UUID | StandIn, *, now: datetime, settings: Settings
) -> int | None:
    """Count one attempt on the account (a user's id) before its secret is tested: the
    attempt's number in the run, or None when recovery of the account is paused. For a
    StandIn, the same UPDATE of the stand-in's row, and None."""
    ceiling = settings.recovery_max_failures
    table: type[User] | type[RecoveryStandIn]
    table, key = (RecoveryStandIn, account.id) if isinstance(account, StandIn) else (User, account)
    failures, since = col(table.recovery_failures), col(table.recovery_failures_since)
    over = _run_over(table, now, settings)
    if table is RecoveryStandIn:
        # A stand-in's run starts over before its ceiling: it never pauses.
        over = or_(over, failures + 1 >= ceiling)
    with untracked(db):
        result = await db.exec(
            update(table)
            .where(col(table.id) == key, or_(over, failures < ceiling))
            .values(
                recovery_failures=case((over, 1), else_=failures + 1),
                recovery_failures_since=case(
                    (or_(over, failures + 1 >= ceiling), now), else_=since
                ),
            )
            .returning(failures)
            .execution_options(synchronize_session=False)
        )
    row = result.first()
    return None if row is None or isinstance(account, StandIn) else int(row[0])


async def give_back(db: AsyncSession, user_id: uuid.UUID) -> None:
    """An attempt refused after `reserve` for a reason of ours (no room for its notice),
    its code not used up: it does not count (in the caller's unit of work)."""
    with untracked(db):
        await db.exec(
            update(User)
            .where(col(User.id) == user_id, _failures > 0)
            .values(recovery_failures=_failures - 1)
            .execution_options(synchronize_session=False)
        )


async def reset(db: AsyncSession, user_id: uuid.UUID) -> None:
    """A recovery succeeded: the run is over (in the caller's unit of work)."""
    with untracked(db):
        await db.exec(
            update(User)
            .where(col(User.id) == user_id)
            .values(recovery_failures=0, recovery_failures_since=None)
            .execution_options(synchronize_session=False)
        )
