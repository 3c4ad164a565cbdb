"""Session rules (Lucia's recipe): create, resolve with sliding expiry, revoke.

A session lives `lifetimes.idle`; when a request arrives with less than half of it left,
it is extended to a full idle lifetime again, but never past `lifetimes.absolute` from its
creation. Expired sessions are refused and deleted. A resolve reads the database, or a
copy that no change to users or sessions has outdated (sessions/cache.py), so a revoked
session fails on its very next request, from any replica.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Lifetimes
from passkey_api.errors import (
    FreshSignInRequired,
    NotAuthenticated,
    NotFound,
    PasskeyRequired,
    ReauthenticationRequired,
)
from passkey_api.kit import tokens
from passkey_api.kit.client_info import ClientInfo
from passkey_api.kit.tokens import token_hash
from passkey_api.passkeys import repository as passkeys
from passkey_api.sessions import repository
from passkey_api.sessions.cache import SessionCache
from passkey_api.storage.db import Databases, model_from, untracked
from passkey_api.storage.models import Session, User

# What a re-authentication is for: a step-up for one does not authorise another.
# "recovery": recovery codes and the recovery email address; "identities": linking and
# unlinking social sign-in providers.
Purpose = Literal["passkeys", "sessions", "admin", "recovery", "identities"]

# A session's powers: "full", or "recovery" (only adding a passkey: RECOVERY_ALLOWED).
Scope = Literal["full", "recovery"]
FULL: Scope = "full"
RECOVERY: Scope = "recovery"

# Everything a recovery session may do, as (method, route path as declared): see its
# session, run the add-passkey ceremony (which upgrades it) and sign out. Every other
# route that reads the session refuses it (api/dependencies.py), in one place, so a route
# added later is closed by default, an embedder's routes included.
RECOVERY_ALLOWED = frozenset(
    {
        ("GET", "/v1/session"),
        ("DELETE", "/v1/session"),
        ("POST", "/v1/me/passkeys/options"),
        ("POST", "/v1/me/passkeys/verify"),
    }
)

# last_seen_at is informational; writing it on every request would cost a write per read.
LAST_SEEN_GRANULARITY = timedelta(hours=1)


@dataclass(frozen=True)
class ActiveSession:
    session: Session
    user: User
    # True when this request extended the expiry, so the cookie must be sent again.
    extended: bool


def new(
    *,
    user: User,
    user_verified: bool,
    client: ClientInfo,
    lifetimes: Lifetimes,
    now: datetime,
    scope: Scope = FULL,
    method: str = "passkey",
    stepped_up: bool = False,
) -> tuple[str, Session]:
    """A new session for `user` (not stored yet) and its raw token.
    `method`: "passkey" or "oauth:<provider>". `stepped_up`: the passkey ceremony that
    starts it would have passed the step-up too (reauthenticated_within)."""
    token = tokens.new_token()
    session = model_from(
        Session,
        id=uuid.uuid4(),
        token_hash=token_hash(token),
        user_id=user.id,
        user_verified=user_verified,
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=lifetimes.expiry(now, now),
        user_agent=(client.user_agent or None) and client.user_agent[:512],
        ip=client.ip,
        scope=scope,
        stepped_up_at=now if stepped_up else None,
        # As read with the check that the account is enabled: see User.session_generation.
        user_generation=user.session_generation,
    )
    return token, session


async def start(
    db: AsyncSession,
    *,
    user: User,
    user_verified: bool,
    client: ClientInfo,
    lifetimes: Lifetimes,
    now: datetime,
    scope: Scope = FULL,
    method: str = "passkey",
    stepped_up: bool = False,
) -> tuple[str, Session]:
    """Add a session for `user` (flushed, not committed) and return its raw token."""
    token, session = new(
        user=user,
        user_verified=user_verified,
        client=client,
        lifetimes=lifetimes,
        now=now,
        scope=scope,
        method=method,
        stepped_up=stepped_up,
    )
    await repository.add(db, session)
    return token, session


async def upgrade_recovery(
    db: AsyncSession,
    active: ActiveSession,
    *,
    user_verified: bool,
    stepped_up: bool,
    client: ClientInfo,
    lifetimes: Lifetimes,
    now: datetime,
) -> tuple[str, Session, list[Session]]:
    """Replace a recovery session by a full one with a new token (not committed), once a
    passkey was added in it; also the account's other sessions, for the user to review.
    `stepped_up`: the new passkey's ceremony counts as the step-up (see new()).

    The recovery session is deleted conditionally, so two passkeys added at once in one
    recovery session upgrade it once: the second finds it gone and its unit of work is
    rolled back."""
    if not await repository.delete_scoped(db, active.session.id, RECOVERY):
        raise NotAuthenticated("The recovery session ended meanwhile.")
    token, session = await start(
        db,
        user=active.user,
        user_verified=user_verified,
        client=client,
        lifetimes=lifetimes,
        now=now,
        stepped_up=stepped_up,
    )
    others = [s for s in await repository.list_for_user(db, active.user.id) if s.id != session.id]
    return token, session, others


async def resolve(
    databases: Databases,
    token: str,
    *,
    lifetimes: Lifetimes,
    now: datetime,
    cache: SessionCache,
) -> ActiveSession | None:
    """The live session behind `token`, slid forward when due; None when there is none.

    A session read before, with nothing changed in users or sessions since, comes from
    the cache (sessions/cache.py: one Redis read instead of the database's). Otherwise
    it is read: on PostgreSQL through the asyncpg pool (one round trip), elsewhere on a
    database session of its own in autocommit. The rare writes (expiry, sliding, last
    seen) always take the database path, and run on a database session of their own,
    each its own transaction, so they never mix with a route's unit of work.
    """
    key = token_hash(token)
    lookup = await cache.lookup(key)
    if lookup.found is not None:
        session, user = lookup.found
        if not _due(session, lifetimes, now):
            return ActiveSession(session=session, user=user, extended=False)
        cache.forget(key)  # something to write: read the rows themselves first
    found = await repository.get_with_user(databases, key)
    if found is None:
        return None
    session, user = found
    if user.disabled_at is not None:
        return None  # a disabled account's sessions stop working at once
    if session.user_generation != user.session_generation:
        # Written by a sign-in that read the account before all its sessions were ended
        # (disabled, signed out everywhere by an admin): never valid (models.User).
        return None
    extended = _extends(session, lifetimes, now)
    if _due(session, lifetimes, now):  # the same rule that sends a cache hit here
        async with databases.session() as db:
            try:
                if _expired(session, lifetimes, now):
                    await repository.delete_by_id(db, session.id)
                    await db.commit()
                    return None
                # Untracked: these only move the session's times forward, expires_at
                # written only to extend it (sessions/cache.py).
                times: dict[str, datetime] = {"last_seen_at": now}
                if extended:
                    times["expires_at"] = lifetimes.expiry(session.created_at, now)
                with untracked(db):
                    written = await repository.update(db, session, **times)
                if not written:
                    return None  # revoked while this request was reading it
                await db.commit()
            except BaseException:
                with contextlib.suppress(Exception):  # the database may be what failed
                    await db.rollback()
                raise
    cache.store(key, session, user, lookup)
    return ActiveSession(session=session, user=user, extended=extended)


def _expired(session: Session, lifetimes: Lifetimes, now: datetime) -> bool:
    return session.expires_at <= now or lifetimes.expiry(session.created_at, now) <= now


def _extends(session: Session, lifetimes: Lifetimes, now: datetime) -> bool:
    """Whether a request now slides the session's expiry forward."""
    return (
        session.scope == FULL  # a recovery session ends when it was meant to, used or not
        and session.expires_at - now < lifetimes.idle / 2
        and lifetimes.expiry(session.created_at, now) > session.expires_at
    )


def _due(session: Session, lifetimes: Lifetimes, now: datetime) -> bool:
    """Whether a request now must write the session (or delete it, expired)."""
    return (
        _expired(session, lifetimes, now)
        or _extends(session, lifetimes, now)
        or now - session.last_seen_at >= LAST_SEEN_GRANULARITY
    )


async def mark_reauthenticated(
    db: AsyncSession, session: Session, purpose: str, now: datetime
) -> str:
    """Stamp a re-authentication for one purpose and give the session a new token, in one
    UPDATE (not committed); returns the new raw token. The session stays the same (id,
    creation, expiry); the token it was read with stops working when this commits, so a
    copy taken earlier neither gains the step-up nor works at all (OWASP ASVS 5.0 7.2.4).
    The UPDATE is conditional on that token: of two step-ups racing with one token, the
    second finds it replaced and fails like a revoked session."""
    token = tokens.new_token()
    stamps = {**session.reauthenticated, purpose: now.isoformat()}
    if not await repository.replace_token(db, session, token_hash(token), reauthenticated=stamps):
        raise NotAuthenticated("The session ended meanwhile.")
    return token


def reauthenticated_within(
    session: Session, purpose: str, *, window: timedelta, now: datetime
) -> bool:
    """Whether the session stepped up for `purpose` within `window`: by the explicit
    ceremony for that purpose, or, for every purpose, by the passkey ceremony that started
    it (Session.stepped_up_at), as OpenID Connect's auth_time answers any max_age."""
    started = session.stepped_up_at
    if started is not None and now - started <= window:
        return True
    stamp = session.reauthenticated.get(purpose)
    return stamp is not None and now - datetime.fromisoformat(stamp) <= window


# What a fresh sign-in may do on an account without a passkey: add ways in (the first
# passkey, another provider) and manage the providers it has.
FRESH_SIGN_IN_PURPOSES = frozenset({"passkeys", "identities"})


async def check_step_up(
    db: AsyncSession, active: ActiveSession, purpose: str, *, window: timedelta, now: datetime
) -> None:
    """Admit a sensitive action of `purpose`, or say what the user must do first.

    Only passkey ceremonies step up: /v1/session/reauthenticate/* for one purpose, and the
    passkey ceremony that started the session, for every purpose within the window, when
    it would have passed the former (sign-up, sign-in, the passkey that ended a recovery
    session). A social sign-in never stands in for an account's passkey. An
    account without a passkey (created by a social sign-in) cannot do that ceremony: its
    sign-in counts as the step-up for adding a passkey or managing its providers within
    PASSKEY_REAUTH_WINDOW (`fresh_sign_in_required` after that), and anything else tells
    it to create a passkey first (`passkey_required`).
    """
    if reauthenticated_within(active.session, purpose, window=window, now=now):
        return
    if await passkeys.has_any(db, active.user.id):
        raise ReauthenticationRequired(
            f"Confirm it is you for {purpose!r}, then try again.", purpose=purpose
        )
    if purpose not in FRESH_SIGN_IN_PURPOSES:
        raise PasskeyRequired(
            "This account has no passkey to confirm it is you: create one first.",
            purpose=purpose,
        )
    if now - active.session.created_at > window:
        raise FreshSignInRequired(
            "Sign in again, then do this within a few minutes.", purpose=purpose
        )


async def revoke(db: AsyncSession, session_id: uuid.UUID) -> None:
    await repository.delete_by_id(db, session_id)
    await db.commit()


async def list_for(db: AsyncSession, user: User) -> list[Session]:
    return await repository.list_for_user(db, user.id)


async def revoke_own(
    db: AsyncSession,
    active: ActiveSession,
    session_id: uuid.UUID,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    """Revoke one of the user's sessions; another user's id is as absent as a missing one."""
    if not await repository.delete_owned(db, active.user.id, session_id):
        raise NotFound("No such session.")
    await audit.record(
        db,
        "session_revoked",
        user_id=active.user.id,
        client=client,
        now=now,
        session=str(session_id),
    )
    await db.commit()


async def revoke_others(
    db: AsyncSession, active: ActiveSession, *, client: ClientInfo, now: datetime
) -> int:
    """Sign out everywhere else: every session of the user but the current one."""
    count = await repository.delete_for_user(db, active.user.id, keep=active.session.id)
    await audit.record(
        db, "sessions_revoked", user_id=active.user.id, client=client, now=now, count=count
    )
    await db.commit()
    return count
