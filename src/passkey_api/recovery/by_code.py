"""Recovery by code: a set of one-time codes made (shown once), their status, and a
code redeemed for a restricted session, under the account's ceiling of failed attempts
(attempts.py)."""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.errors import (
    ApiError,
    RecoveryFailed,
)
from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import attempts, codes, emails, repository
from passkey_api.recovery.mailing import notified, notify, outbox_place, place_or_give_back
from passkey_api.recovery.outcomes import Owner, Started, pause, start
from passkey_api.storage.mail import Outbox, Place
from passkey_api.storage.models import User
from passkey_api.users import names
from passkey_api.users import repository as users

log = logging.getLogger(__name__)

# What a code attempt refused because recovery codes of its account are paused
# (attempts.py) is audited as; it answers what any other failure answers. A pause stops
# codes only: a link is 256 bits, mailed to the verified address, and cannot be guessed, so
# pausing links would protect nothing and only lock the owner out.
PAUSED = "recovery_paused"
# One answer for every failed code, which therefore also names the pause.
CODE_FAILED = (
    "The username or code is wrong, or the code was used; or recovery codes of this "
    "account are paused after too many failed attempts (its owner was told; an emailed "
    "recovery link still works)."
)


@dataclass(frozen=True)
class CodesStatus:
    remaining: int
    total: int
    generated_at: datetime | None


# --- recovery codes -----------------------------------------------------------------------


async def generate_codes(
    db: AsyncSession,
    outbox: Outbox | None,
    settings: Settings,
    user: User,
    *,
    client: ClientInfo,
    now: datetime,
) -> list[str]:
    """A new set of codes, returned this once; the previous set stops working."""
    new = codes.new_codes()
    # Ten slow hashes, in a thread: the event loop goes on serving meanwhile. Their turn in
    # the bounded queue first (RecoveryBusy when full), and the place in the outbox only
    # after them: a set waiting for its hashes holds no place anyone else's mail needs.
    with codes.slow_turn(len(new), settings.recovery_hash_queue):
        stored = await codes.off_the_loop(lambda: [codes.store(user.id, c) for c in new])
    with outbox_place(
        outbox, settings, needed=notified(user.email, user.email_verified_at)
    ) as place:
        await repository.replace(db, user.id, stored, now)
        await audit.record(
            db, "recovery_codes_generated", user_id=user.id, client=client, now=now, count=len(new)
        )
        await db.commit()
        notify(
            place,
            settings,
            user.email,
            user.email_verified_at,
            emails.codes_generated_notice,
            client=client,
            now=now,
        )
    return new


async def codes_status(db: AsyncSession, user: User) -> CodesStatus:
    remaining, total, generated_at = await repository.status(db, user.id)
    return CodesStatus(remaining=remaining, total=total, generated_at=generated_at)


async def redeem_code(
    db: AsyncSession,
    outbox: Outbox | None,
    settings: Settings,
    secret_key: bytes,
    *,
    username: str,
    code: str,
    client: ClientInfo,
    now: datetime,
) -> Started:
    """Use one recovery code: a restricted session, or `recovery_failed` whether the user
    is unknown (or disabled), the code wrong or already used."""
    # A code of the current form costs one slow hash: its turn in the bounded queue before
    # anything is counted (RecoveryBusy when full), whoever asks; the old form costs none.
    turn = (
        codes.slow_turn(1, settings.recovery_hash_queue)
        if codes.parse(code) is not None
        else contextlib.nullcontext()
    )
    with turn:
        user: User | None
        try:
            key = names.normalize(username)[1]
            user = await users.get_by_username_key(db, key)
        except ApiError:
            key, user = username, None  # an impossible name is an unknown one
        usable = user is not None and user.disabled_at is None
        # The attempt counts against the account's ceiling before the code is tested, in
        # its own commit (a failure rolls back the unit of work); naming no usable
        # account, against the name's stand-in: the same write, and the same commit.
        attempt = await attempts.reserve(
            db,
            user.id if user is not None and usable else attempts.stand_in(key, secret_key),
            now=now,
            settings=settings,
        )
        await db.commit()
        paused = usable and attempt is None
        owner = Owner.of(user)  # plain values, which a rollback leaves alone
        told = owner is not None and notified(owner.email, owner.email_verified_at)
        # A place in the outbox only for a notice that is due, never while the code waits
        # for its hash: the attempt that may pause codes takes it before its code is tested,
        # a matching code after its test and before it is used up. Without room, either
        # answers 503 with its attempt given back (nothing tested, or nothing used up).
        # Neither happens for an unknown username or a plain wrong code, which answer as
        # always: a full outbox tells a stranger only what a matching code or the
        # ceiling's own attempt on a real account tells.
        place: Place | None = None
        try:
            if told and attempt == settings.recovery_max_failures:
                assert owner is not None
                place = await place_or_give_back(db, outbox, settings, owner.id)
            # The same work for everyone, whatever is wrong; a random id matches no row (so
            # while paused, no code is tested and none is used up, at the same cost).
            subject = user.id if user is not None and usable and not paused else uuid.uuid4()
            consumed = await _consume_code(db, secret_key, subject, code, now)
            if user is None or not consumed:
                await audit.record_failure(
                    db,
                    "recovery_code_used",
                    user_id=user.id if user is not None else None,
                    client=client,
                    now=now,
                    code=PAUSED if paused else RecoveryFailed.code,
                )
                if attempt == settings.recovery_max_failures:
                    await pause(db, place, settings, owner, client=client, now=now)
                raise RecoveryFailed(CODE_FAILED)
            if told and place is None:
                place = await place_or_give_back(db, outbox, settings, user.id)
            await attempts.reset(db, user.id)
            started = await start(db, settings, user, "recovery_code", client=client, now=now)
            remaining, _, _ = await repository.status(db, user.id)
            await audit.record(
                db,
                "recovery_code_used",
                user_id=user.id,
                client=client,
                now=now,
                session=str(started.session.id),
                remaining=remaining,
            )
            await db.commit()
            notify(
                place,
                settings,
                user.email,
                user.email_verified_at,
                emails.code_used_notice,
                client=client,
                now=now,
            )
        finally:
            if place is not None:
                place.release()
    return started


async def _consume_code(
    db: AsyncSession, secret_key: bytes, subject: uuid.UUID, code: str, now: datetime
) -> bool:
    """Test the code against the subject's and use it up if it matches: one test of one
    secret, whatever is wrong."""
    typed = codes.parse(code)
    if typed is None:
        # A code made before lookups (or no code): its HMAC (under each key accepted while
        # the secret key is rotated) and one conditional UPDATE.
        digests = codes.digests(secret_key, subject, code)
        return await repository.consume(db, subject, digests, now)
    # The lookup names one row: one slow hash, found or not, then its UPDATE.
    found = await repository.unused(db, subject, typed.lookup)
    # The read's connection goes back to the pool while scrypt runs (or waits its turn).
    await db.commit()
    stored = found[1] if found is not None else None
    matches = await codes.off_the_loop(functools.partial(codes.check, subject, typed, stored))
    return found is not None and matches and await repository.consume_row(db, found[0], now)
