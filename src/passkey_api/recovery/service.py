"""Account recovery: recovery codes and emailed links, each leading to a restricted
session that can only add a passkey (see sessions/dependencies.py); adding one turns it
into a full session (ceremonies/add_passkey.py).

Whoever asks, the answers do not tell whether an account or an address exists, nor (for
codes) whether a code was wrong or already used: the same problem code, after the same
queries.

The owner hears of every use or change of a way in (a code or a link used, the recovery
address changed or removed, new codes made) at their verified recovery address, when
there is one and mail is configured: a notice without codes or links, posted after the
commit like every message here, so it changes neither the answer nor its timing and a
mail failure fails nothing.

Every unit of work that may send a message takes its place in the outbox first (`_place`,
mail.py), before it changes anything: a full outbox refuses the request whole, and a
message, notice or link, is never dropped for want of room. A code attempt takes one only
once a notice is due (redeem_code says when), so that attempts waiting for their slow hash
hold none.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.errors import (
    ApiError,
    EmailRecoveryDisabled,
    EmailTaken,
    MailQueueFull,
    RecoveryFailed,
    RecoveryLinkInvalid,
)
from passkey_api.kit import tokens
from passkey_api.kit.client_info import ClientInfo
from passkey_api.recovery import attempts, codes, emails, repository
from passkey_api.sessions import service as sessions
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.mail import Outbox, Place
from passkey_api.storage.models import Session, User
from passkey_api.users import names
from passkey_api.users import repository as users

log = logging.getLogger(__name__)

RECOVER = "recover"
VERIFY_EMAIL = "verify_email"
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
class Started:
    """A restricted (recovery) session and its raw token."""

    user: User
    session: Session
    token: str


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
    with _place(outbox, settings, needed=_notified(user.email, user.email_verified_at)) as place:
        await repository.replace(db, user.id, stored, now)
        await audit.record(
            db, "recovery_codes_generated", user_id=user.id, client=client, now=now, count=len(new)
        )
        await db.commit()
        _notify(
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
            user = await users.get_by_username_key(db, names.normalize(username)[1])
        except ApiError:
            user = None  # an impossible name is an unknown one
        usable = user is not None and user.disabled_at is None
        # The attempt counts against the account's ceiling before the code is tested, in
        # its own commit (a failure rolls back the unit of work).
        attempt = await attempts.reserve(
            db, user.id if user is not None and usable else uuid.uuid4(), now=now, settings=settings
        )
        await db.commit()
        paused = usable and attempt is None
        owner = _Owner.of(user)  # plain values, which a rollback leaves alone
        told = owner is not None and _notified(owner.email, owner.email_verified_at)
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
                place = await _place_or_give_back(db, outbox, settings, owner.id)
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
                    await _pause(db, place, settings, owner, client=client, now=now)
                raise RecoveryFailed(CODE_FAILED)
            if told and place is None:
                place = await _place_or_give_back(db, outbox, settings, user.id)
            await attempts.reset(db, user.id)
            started = await _start(db, settings, user, "recovery_code", client=client, now=now)
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
            _notify(
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
        # A code made before lookups (or no code): its HMAC and one conditional UPDATE.
        digest = codes.digest(secret_key, subject, code)
        return await repository.consume(db, subject, digest, now)
    # The lookup names one row: one slow hash, found or not, then its UPDATE.
    found = await repository.unused(db, subject, typed.lookup)
    # The read's connection goes back to the pool while scrypt runs (or waits its turn).
    await db.commit()
    stored = found[1] if found is not None else None
    matches = await codes.off_the_loop(functools.partial(codes.check, subject, typed, stored))
    return found is not None and matches and await repository.consume_row(db, found[0], now)


# --- recovery by email --------------------------------------------------------------------


def _link_key(token: str) -> bytes:
    # The store holds only a hash of the token: a copy of Redis opens no link.
    return hashlib.sha256(token.encode("ascii")).digest()


def _enabled(settings: Settings, outbox: Outbox | None) -> Outbox:
    if outbox is None or not settings.email_recovery:
        raise EmailRecoveryDisabled("This service sends no mail (PASSKEY_SMTP_* not set).")
    return outbox


# What send_recovery_link leaves for after the answer.
AfterAnswer = Callable[[], Awaitable[None]]


async def send_recovery_link(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    *,
    email: str,
    client: ClientInfo,
    now: datetime,
) -> AfterAnswer:
    """Mail a one-time recovery link if the address recovers an account. Known or not,
    the same work happens here (a place in the outbox, a lookup, a stored token, an audit
    row); building and posting the message, or giving the place back, is what the caller
    runs after the answer, so the answer's time tells nothing either."""
    outbox = _enabled(settings, outbox)
    address = emails.normalize(email)
    place = outbox.reserve()
    try:
        user = await users.get_by_email(db, address)
        # A pause of codes (attempts.py) does not stop links: the owner's way back in.
        target = user if user is not None and user.disabled_at is None else None
        token = tokens.new_token()
        # An unknown address gets a token bound to no account: stored alike, opening nothing.
        await links.put(
            _link_key(token),
            {
                "purpose": RECOVER,
                "user_id": str(target.id) if target is not None else None,
                "email": address,
            },
            settings.recovery_link_lifetime,
        )
        await audit.record(
            db,
            "recovery_email_requested",
            user_id=target.id if target is not None else None,
            client=client,
            now=now,
            success=target is not None,
            code=None if target is not None else "unknown_address",
        )
        await db.commit()
    except BaseException:
        place.release()
        raise

    async def after_answer() -> None:
        try:
            if target is not None:
                assert settings.recovery_url is not None
                assert settings.smtp_from is not None
                place.post(
                    emails.recovery_message(
                        sender=settings.smtp_from,
                        to=address,
                        rp_name=settings.rp_name,
                        url=emails.link(settings.recovery_url, token),
                        lifetime=settings.recovery_link_lifetime,
                    )
                )
        finally:
            place.release()

    return after_answer


async def redeem_link(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    *,
    token: str,
    client: ClientInfo,
    now: datetime,
) -> Started:
    """Follow a recovery link: a restricted session, once; `recovery_link_invalid` for an
    unknown, used or expired link, or one whose address no longer recovers the account."""
    if not settings.email_recovery:
        raise EmailRecoveryDisabled()
    # Before the link is taken: a full outbox must not cost the owner their link.
    with _place(outbox, settings) as place:
        state = await links.take(_link_key(token))
        user_id = state.get("user_id") if state is not None else None
        user = await users.get(db, uuid.UUID(user_id)) if isinstance(user_id, str) else None
        if (
            state is None
            or state.get("purpose") != RECOVER
            or user is None
            or user.disabled_at is not None
            or user.email != state.get("email")
        ):
            # Only a real link names an account (tokens cannot be guessed): a failed one
            # (its address no longer the account's) counts against the account's ceiling.
            # A valid link is never refused for a pause: that stops codes only.
            attempt: int | None = None
            if user is not None:
                attempt = await attempts.reserve(db, user.id, now=now, settings=settings)
                await db.commit()
            owner = _Owner.of(user)  # read before the failure's rollback expires `user`
            await audit.record_failure(
                db,
                "recovery_link_used",
                user_id=user.id if user is not None else None,
                client=client,
                now=now,
                code=RecoveryLinkInvalid.code,
            )
            if attempt == settings.recovery_max_failures:
                await _pause(db, place, settings, owner, client=client, now=now)
            raise RecoveryLinkInvalid()
        await attempts.reset(db, user.id)
        started = await _start(db, settings, user, "recovery_email", client=client, now=now)
        await audit.record(
            db,
            "recovery_link_used",
            user_id=user.id,
            client=client,
            now=now,
            session=str(started.session.id),
        )
        await db.commit()
        _notify(
            place,
            settings,
            user.email,
            user.email_verified_at,
            emails.link_used_notice,
            client=client,
            now=now,
        )
    return started


# --- the recovery address -----------------------------------------------------------------


async def start_email_change(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    user: User,
    *,
    email: str,
    client: ClientInfo,
    now: datetime,
) -> str:
    """Mail a verification link to a new recovery address; it is set when followed."""
    outbox = _enabled(settings, outbox)
    address = emails.normalize(email)
    with _place(outbox, settings) as place:
        assert place is not None
        token = tokens.new_token()
        await links.put(
            _link_key(token),
            {"purpose": VERIFY_EMAIL, "user_id": str(user.id), "email": address},
            settings.recovery_link_lifetime,
        )
        await audit.record(
            db, "email_verification_sent", user_id=user.id, client=client, now=now, email=address
        )
        await db.commit()
        assert settings.smtp_from is not None
        base = settings.email_verification_url or settings.recovery_url or ""
        place.post(
            emails.verification_message(
                sender=settings.smtp_from,
                to=address,
                rp_name=settings.rp_name,
                url=emails.link(base, token),
                lifetime=settings.recovery_link_lifetime,
            )
        )
    return address


async def confirm_email(
    db: AsyncSession,
    links: ChallengeStore,
    outbox: Outbox | None,
    settings: Settings,
    user: User,
    *,
    token: str,
    client: ClientInfo,
    now: datetime,
) -> User:
    """Follow a verification link, signed in as the user it was sent for."""
    old_address, old_verified_at = user.email, user.email_verified_at
    with _place(outbox, settings, needed=_notified(old_address, old_verified_at)) as place:
        state = await links.take(_link_key(token))
        if (
            state is None
            or state.get("purpose") != VERIFY_EMAIL
            or state.get("user_id") != str(user.id)
        ):
            raise RecoveryLinkInvalid()
        address = str(state["email"])
        owner = await users.get_by_email(db, address)
        if owner is not None and owner.id != user.id:
            raise EmailTaken()
        try:
            await users.set_email(db, user.id, address, now)
            await audit.record(
                db, "email_verified", user_id=user.id, client=client, now=now, email=address
            )
            await db.commit()
        except IntegrityError:
            await db.rollback()
            raise EmailTaken() from None  # another account verified it in the meantime
        user.email, user.email_verified_at = address, now
        if old_address != address:  # the old mailbox hears of it, not the new one
            _notify(
                place,
                settings,
                old_address,
                old_verified_at,
                emails.address_changed_notice,
                client=client,
                now=now,
            )
    return user


async def remove_email(
    db: AsyncSession,
    outbox: Outbox | None,
    settings: Settings,
    user: User,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    old_address, old_verified_at = user.email, user.email_verified_at
    with _place(outbox, settings, needed=_notified(old_address, old_verified_at)) as place:
        await users.set_email(db, user.id, None, None)
        await audit.record(db, "email_removed", user_id=user.id, client=client, now=now)
        await db.commit()
        user.email, user.email_verified_at = None, None
        _notify(
            place,
            settings,
            old_address,
            old_verified_at,
            emails.address_removed_notice,
            client=client,
            now=now,
        )


# --- shared -------------------------------------------------------------------------------


def _notified(address: str | None, verified_at: datetime | None) -> bool:
    """Whether an account's notices go anywhere: only to a verified address."""
    return address is not None and verified_at is not None


async def _place_or_give_back(
    db: AsyncSession, outbox: Outbox | None, settings: Settings, user_id: uuid.UUID
) -> Place | None:
    """A place for a code attempt's due notice; without room, the attempt is given back
    (what the unit of work did is rolled back: the code is not used up) and MailQueueFull
    goes up."""
    if outbox is None or not settings.email_recovery:
        return None
    try:
        return outbox.reserve()
    except MailQueueFull:
        await db.rollback()
        await attempts.give_back(db, user_id)
        await db.commit()
        raise


@contextlib.contextmanager
def _place(
    outbox: Outbox | None, settings: Settings, *, needed: bool = True
) -> Iterator[Place | None]:
    """A place in the outbox for the message this unit of work may post, taken before it
    changes anything (a full outbox refuses it: MailQueueFull) and given back on the way
    out unless posted. None when mail is off or nothing can be sent."""
    if outbox is None or not settings.email_recovery or not needed:
        yield None
        return
    place = outbox.reserve()
    try:
        yield place
    finally:
        place.release()


def _notify(
    place: Place | None,
    settings: Settings,
    address: str | None,
    verified_at: datetime | None,
    notice: emails.Notice,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    """Post a notice to the account's recovery address, if it was verified and mail is
    configured (`place` from _place); call only after the commit (what it tells has
    happened)."""
    if place is None or address is None or verified_at is None:
        return
    assert settings.smtp_from is not None
    place.post(
        notice(
            sender=settings.smtp_from, to=address, rp_name=settings.rp_name, when=now, client=client
        )
    )


@dataclass(frozen=True)
class _Owner:
    """What a pause needs of the account (plain values, which a rollback leaves alone)."""

    id: uuid.UUID
    email: str | None
    email_verified_at: datetime | None

    @classmethod
    def of(cls, user: User | None) -> _Owner | None:
        return None if user is None else cls(user.id, user.email, user.email_verified_at)


async def _pause(
    db: AsyncSession,
    place: Place | None,
    settings: Settings,
    user: _Owner | None,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    """The attempt that reached the ceiling failed: recovery codes of the account are
    paused (attempts.py holds that already; links still work); audit it and tell the
    owner, once per pause, in the place the attempt took in the outbox for its notice."""
    if user is None:
        return
    try:
        await audit.record(
            db,
            "recovery_paused",
            user_id=user.id,
            client=client,
            now=now,
            failures=settings.recovery_max_failures,
            until=(now + settings.recovery_pause).isoformat(),
        )
        await db.commit()
    except Exception:
        log.warning("could not write the audit event recovery_paused")
    _notify(
        place,
        settings,
        user.email,
        user.email_verified_at,
        functools.partial(emails.recovery_paused_notice, pause=settings.recovery_pause),
        client=client,
        now=now,
    )


async def _start(
    db: AsyncSession,
    settings: Settings,
    user: User,
    method: str,
    *,
    client: ClientInfo,
    now: datetime,
) -> Started:
    token, session = await sessions.start(
        db,
        user=user,
        # Nothing verified the user: a code or a link is something they have, not are.
        user_verified=False,
        client=client,
        lifetimes=settings.recovery_session_lifetimes,
        now=now,
        scope=sessions.RECOVERY,
        method=method,
    )
    return Started(user=user, session=session, token=token)
