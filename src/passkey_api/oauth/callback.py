"""The callback: the flow taken back (single use), the same browser, the code exchanged,
then a sign-in, a new account or a link; every outcome a redirect to the app."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.errors import (
    AccountDisabled,
    AccountExistsSignInFirst,
    ApiError,
    IdentityInUse,
    NotAuthenticated,
    OAuthBrowserMismatch,
    OAuthDenied,
    OAuthProviderError,
    OAuthProviderUnavailable,
    OAuthStateInvalid,
    UsernameTaken,
)
from passkey_api.identities import repository as identities
from passkey_api.kit import metrics
from passkey_api.kit.client_info import ClientInfo
from passkey_api.kit.text import DISPLAY_NAME_BYTES, clean_name
from passkey_api.oauth import flows
from passkey_api.oauth.flows import Flow, OneTimeCode
from passkey_api.oauth.providers import OAuthClients, ProviderAccount
from passkey_api.oauth.signed_in import SignedIn, start_session
from passkey_api.oauth.start import Redirect, provider_of, with_params
from passkey_api.passkeys import repository as passkeys
from passkey_api.sessions import service as sessions
from passkey_api.sessions.cache import SessionCache
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.db import Databases
from passkey_api.storage.models import Identity, Session, User
from passkey_api.users import names
from passkey_api.users import repository as users

USER_HANDLE_BYTES = 32
# Concurrent sign-ups that collide on a username: tries before giving up (username_taken).
NEW_ACCOUNT_ATTEMPTS = 4
# What the provider may say instead of a code (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6).
_DENIALS = frozenset(
    {"access_denied", "login_required", "consent_required", "interaction_required"}
)


# --- starting a flow -------------------------------------------------------------------


# --- the callback ----------------------------------------------------------------------


async def finish(
    db: AsyncSession,
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    oauth: OAuthClients,
    *,
    provider: str,
    state: str | None,
    code: str | None,
    error: str | None,
    binding: str | None,
    session_token: str | None,
    secret_key: bytes,
    session_cache: SessionCache,
    client: ClientInfo,
    now: datetime,
) -> Redirect:
    """`session_token`: the browser's session cookie, if any (a link must come back with
    the session that started it)."""
    config = provider_of(settings, provider)
    flow = await flows.take_flow(store, secret_key, state) if state else None
    if flow is None or flow.provider != provider:
        # A tampered, replayed or expired state: there is nowhere trusted to go back to.
        metrics.ceremony("oauth", "failed", OAuthStateInvalid.code)
        await audit.record_failure(
            db, "sign_in", user_id=None, client=client, now=now, code=OAuthStateInvalid.code
        )
        raise OAuthStateInvalid()
    user_id = uuid.UUID(flow.user_id) if flow.user_id else None
    renewed: Session | None = None
    try:
        if not flows.same_browser(flow, binding):
            raise OAuthBrowserMismatch()
        if flow.purpose == "link":
            # Signed out, or someone else signed in, in this browser meanwhile: the
            # provider account must not land on the account that started the flow.
            active = (
                await sessions.resolve(
                    databases,
                    session_token,
                    lifetimes=settings.session_lifetimes,
                    now=now,
                    cache=session_cache,
                )
                if session_token is not None
                else None
            )
            if active is None or str(active.session.id) != flow.session_id:
                raise NotAuthenticated("The session that started linking has ended.")
            renewed = active.session if active.extended else None
        if error is not None:
            if error in _DENIALS:
                raise OAuthDenied()
            if error == "temporarily_unavailable":
                raise OAuthProviderUnavailable()
            raise OAuthProviderError("The provider refused the sign-in.")
        if not code:
            raise OAuthProviderError("The provider sent no code.")
        account = await oauth.account(
            provider, config, code=code, code_verifier=flow.code_verifier, nonce=flow.nonce
        )
        if flow.purpose == "link":
            assert user_id is not None  # link flows carry their user (begin_link)
            await _link(db, flow, user_id, account, client=client, now=now)
            params = {"linked": provider}
            signed_in = None
        else:
            params, signed_in = await _sign_in(
                db, store, settings, flow, account, secret_key, client=client, now=now
            )
    except ApiError as exc:
        metrics.ceremony("oauth", "failed", exc.code)
        await audit.record_failure(
            db,
            "identity_linked" if flow.purpose == "link" else "sign_in",
            user_id=user_id,
            client=client,
            now=now,
            code=exc.code,
        )
        return Redirect(location=with_params(flow.redirect_to, error=exc.code))
    metrics.ceremony("oauth", "succeeded")
    return Redirect(
        location=with_params(flow.redirect_to, **params), signed_in=signed_in, renewed=renewed
    )


async def _sign_in(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    flow: Flow,
    account: ProviderAccount,
    secret_key: bytes,
    *,
    client: ClientInfo,
    now: datetime,
) -> tuple[dict[str, str], SignedIn | None]:
    user = await _account_for(db, flow.provider, account, client=client, now=now)
    if flow.mode == "code":
        await db.commit()  # the new account, if any; the session comes with /exchange
        code = flows.new_secret()
        suggested = not await passkeys.has_any(db, user.id)
        await flows.put_code(
            store,
            secret_key,
            code,
            OneTimeCode(
                kind="oauth_code",
                provider=flow.provider,
                user_id=str(user.id),
                passkey_suggested=suggested,
                code_challenge=flow.code_challenge,
            ),
            settings.oauth_code_ttl,
        )
        return {"code": code}, None
    signed_in = await start_session(db, settings, user, flow.provider, client=client, now=now)
    params = {"signed_in": flow.provider}
    if signed_in.passkey_suggested:
        params["passkey_suggested"] = "true"
    return params, signed_in


async def _account_for(
    db: AsyncSession,
    provider: str,
    account: ProviderAccount,
    *,
    client: ClientInfo,
    now: datetime,
) -> User:
    """The user this provider account signs in: the linked one, or a new account."""
    for attempt in range(NEW_ACCOUNT_ATTEMPTS):
        identity = await identities.get_by_subject(db, provider, account.subject)
        if identity is not None:
            break
        try:
            return await _new_account(
                db, provider, account, suffixed=attempt > 0, client=client, now=now
            )
        except IntegrityError:
            # A concurrent sign-up won a UNIQUE constraint: the same provider account
            # (found on the next turn) or the same username (the next turn picks another).
            # Nothing else of this unit of work is written yet.
            await db.rollback()
    else:
        raise UsernameTaken("No free username was found; try again.")
    user = await users.get(db, identity.user_id)
    if user is None:
        raise NotAuthenticated("The account is gone.")
    if user.disabled_at is not None:
        raise AccountDisabled()
    await identities.record_use(
        db, identity.id, email=account.email, email_verified=account.email_verified, now=now
    )
    return user


async def _new_account(
    db: AsyncSession,
    provider: str,
    account: ProviderAccount,
    *,
    suffixed: bool,
    client: ClientInfo,
    now: datetime,
) -> User:
    # Never a silent takeover: whoever owns that account proves it with its own way in
    # (a passkey), then links this provider from inside.
    verified_email = account.email if account.email_verified else None
    if verified_email is not None:
        # Two new provider accounts with the same verified email at once: one account.
        await identities.lock_email(db, verified_email)
        if await identities.account_with_email(db, verified_email) is not None:
            raise AccountExistsSignInFirst()
    username, username_key = await _free_username(
        db, account.username or account.email or account.name, suffixed=suffixed
    )
    user = User(
        id=uuid.uuid4(),
        username=username,
        username_key=username_key,
        display_name=_display_name(account.name) or username,
        user_handle=secrets.token_bytes(USER_HANDLE_BYTES),
        created_at=now,
        roles=["user"],
    )
    await users.add(db, user)
    await identities.add(db, _identity(user.id, provider, account, now))
    if (
        verified_email is not None
        and await identities.account_with_email(db, verified_email, other_than=user.id) is not None
    ):
        # SQLite: another sign-up with this email committed while we waited to write.
        await db.rollback()
        raise AccountExistsSignInFirst()
    await audit.record(db, "sign_up", user_id=user.id, client=client, now=now, provider=provider)
    return user


async def _link(
    db: AsyncSession,
    flow: Flow,
    user_id: uuid.UUID,
    account: ProviderAccount,
    *,
    client: ClientInfo,
    now: datetime,
) -> None:
    user = await users.get(db, user_id)
    if user is None:
        raise NotAuthenticated("The account is gone.")
    if user.disabled_at is not None:
        raise AccountDisabled()
    identity = await identities.get_by_subject(db, flow.provider, account.subject)
    if identity is not None and identity.user_id != user.id:
        raise IdentityInUse()
    if identity is not None:  # linked already: nothing to add
        await identities.record_use(
            db, identity.id, email=account.email, email_verified=account.email_verified, now=now
        )
    else:
        try:
            await identities.add(db, _identity(user.id, flow.provider, account, now))
        except IntegrityError:
            await db.rollback()
            raise IdentityInUse() from None
    await audit.record(
        db, "identity_linked", user_id=user.id, client=client, now=now, provider=flow.provider
    )
    await db.commit()


# --- native apps: the one-time code ----------------------------------------------------


# --- shared steps ----------------------------------------------------------------------


def _identity(
    user_id: uuid.UUID, provider: str, account: ProviderAccount, now: datetime
) -> Identity:
    return Identity(
        id=uuid.uuid4(),
        user_id=user_id,
        provider=provider,
        subject=account.subject,
        email=account.email,
        email_verified=account.email_verified,
        created_at=now,
        last_used_at=now,
    )


async def _free_username(
    db: AsyncSession, hint: str | None, *, suffixed: bool = False
) -> tuple[str, str]:
    """The hint as a username if it is free, else (or when `suffixed`: a concurrent
    sign-up just took it) with a random suffix."""
    base = names.from_hint(hint)
    candidates = [
        *([] if suffixed else [base]),
        *(f"{base}-{secrets.token_hex(2)}" for _ in range(3)),
    ]
    candidates.append(f"user-{secrets.token_hex(6)}")
    for candidate in candidates:
        try:
            username, key = names.normalize(candidate)
        except ApiError:
            continue
        if not await users.username_taken(db, key):
            return username, key
    # 48 random bits: taken only by a vanishing chance, which the UNIQUE constraint catches.
    return names.normalize(f"user-{secrets.token_hex(6)}")


def _display_name(name: str | None) -> str | None:
    # A provider's profile is not ours to refuse: what a name may not hold is dropped.
    return None if name is None else clean_name(name, DISPLAY_NAME_BYTES)
