"""Social sign-in and linking (OAuth 2.0 authorization code + PKCE; OpenID Connect).

/authorize remembers a flow (flows.py) and sends the browser to the provider;
/callback takes the flow back (single use), checks that it is the same browser, exchanges
the code, and then:

- sign-in: the provider account's linked user signs in; an unknown provider account
  becomes a new account, unless its verified email is already known for an account (no
  takeover by email: that user signs in with a passkey and links); a disabled user is
  refused. Browsers get the session cookie; native apps a one-time code for /exchange.
- link: the provider account is linked to the user who started the flow.

Every outcome goes back to the app's `redirect_to`: `?error=<code>` when refused.
Refusals are audited; the unit of work of a refused callback is rolled back.
"""

from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import OAuthProvider, Settings, origin_of
from passkey_api.errors import (
    AccountDisabled,
    AccountExistsSignInFirst,
    ApiError,
    IdentityInUse,
    NotAuthenticated,
    OAuthBrowserMismatch,
    OAuthCodeChallengeRequired,
    OAuthCodeInvalid,
    OAuthCodeVerifierMismatch,
    OAuthDenied,
    OAuthProviderError,
    OAuthProviderUnavailable,
    OAuthProviderUnknown,
    OAuthStateInvalid,
    RedirectNotAllowed,
    UsernameTaken,
    ValidationFailed,
)
from passkey_api.identities import repository as identities
from passkey_api.kit import metrics
from passkey_api.kit.client_info import ClientInfo
from passkey_api.kit.text import DISPLAY_NAME_BYTES, clean_name
from passkey_api.oauth import flows
from passkey_api.oauth.flows import Flow, Mode, OneTimeCode
from passkey_api.oauth.providers import OAuthClients, ProviderAccount
from passkey_api.passkeys import repository as passkeys
from passkey_api.passkeys import service as passkey_service
from passkey_api.passkeys.schemas import Signals
from passkey_api.sessions import service as sessions
from passkey_api.sessions.cache import SessionCache
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.db import Databases
from passkey_api.storage.models import Identity, Session, User
from passkey_api.users import names
from passkey_api.users import repository as users

USER_HANDLE_BYTES = 32
MAX_REDIRECT_LENGTH = 2048
# Concurrent sign-ups that collide on a username: tries before giving up (username_taken).
NEW_ACCOUNT_ATTEMPTS = 4
# RFC 7636 4.2: BASE64URL(SHA256(verifier)) is 43 characters.
CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
CODE_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
# What the provider may say instead of a code (RFC 6749 4.1.2.1, OIDC Core 3.1.2.6).
_DENIALS = frozenset(
    {"access_denied", "login_required", "consent_required", "interaction_required"}
)


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    token: str
    signals: Signals
    # The account has no passkey yet: the app should offer to create one.
    passkey_suggested: bool


@dataclass(frozen=True)
class Redirect:
    """Where the browser goes next, and what it carries there."""

    location: str
    # A new or renewed browser-binding cookie for the flow that was just started.
    binding: str | None = None
    # Cookie mode: the session cookie to set.
    signed_in: SignedIn | None = None
    # Link: the session that finished it, slid forward by this request (its cookie is
    # sent again with the new expiry).
    renewed: Session | None = None


@dataclass(frozen=True)
class LinkStarted:
    authorize_url: str
    binding: str


def provider_of(settings: Settings, name: str) -> OAuthProvider:
    provider = settings.oauth_providers.get(name)
    if provider is None:
        raise OAuthProviderUnknown(f"No sign-in provider {name!r} is configured.")
    return provider


# --- starting a flow -------------------------------------------------------------------


async def begin_sign_in(
    store: ChallengeStore,
    settings: Settings,
    oauth: OAuthClients,
    *,
    provider: str,
    redirect_to: str,
    mode: Mode,
    code_challenge: str | None,
    binding: str | None,
    secret_key: bytes,
) -> Redirect:
    """The provider's authorization URL; once redirect_to is known to be ours, any
    failure goes back there as `?error=<code>`."""
    config = provider_of(settings, provider)
    check_redirect(settings, redirect_to, mode)
    if code_challenge is not None and (mode != "code" or not CODE_CHALLENGE.match(code_challenge)):
        raise ValidationFailed("code_challenge is for mode=code: BASE64URL(SHA-256(verifier)).")
    if mode == "code" and code_challenge is None:
        # The one-time code lands in a URL another app may be able to read (a custom
        # scheme is not owned by anyone): only the app that began the flow, holding the
        # verifier, may exchange it (RFC 8252 8.1, RFC 9700 2.1.1).
        raise OAuthCodeChallengeRequired()
    try:
        url, binding = await _begin(
            store,
            settings,
            oauth,
            config,
            secret_key,
            binding,
            provider=provider,
            purpose="sign_in",
            mode=mode,
            redirect_to=redirect_to,
            code_challenge=code_challenge,
        )
    except ApiError as exc:
        metrics.ceremony("oauth", "failed", exc.code)
        return Redirect(location=with_params(redirect_to, error=exc.code))
    return Redirect(location=url, binding=binding)


async def begin_link(
    store: ChallengeStore,
    settings: Settings,
    oauth: OAuthClients,
    active: ActiveSession,
    *,
    provider: str,
    redirect_to: str,
    binding: str | None,
    secret_key: bytes,
) -> LinkStarted:
    """Start linking a provider account to the signed-in user (after a step-up)."""
    config = provider_of(settings, provider)
    check_redirect(settings, redirect_to, "cookie")
    url, binding = await _begin(
        store,
        settings,
        oauth,
        config,
        secret_key,
        binding,
        provider=provider,
        purpose="link",
        mode="cookie",
        redirect_to=redirect_to,
        user_id=str(active.user.id),
        session_id=str(active.session.id),
    )
    return LinkStarted(authorize_url=url, binding=binding)


async def _begin(
    store: ChallengeStore,
    settings: Settings,
    oauth: OAuthClients,
    config: OAuthProvider,
    secret_key: bytes,
    binding: str | None,
    *,
    provider: str,
    purpose: flows.Purpose,
    mode: Mode,
    redirect_to: str,
    user_id: str | None = None,
    session_id: str | None = None,
    code_challenge: str | None = None,
) -> tuple[str, str]:
    # One binding per browser, kept across flows, so that two tabs can each sign in
    # (43 base64url characters, the shape of every secret here).
    if binding is None or not CODE_CHALLENGE.match(binding):
        binding = flows.new_secret()
    state, nonce, verifier = flows.new_secret(), flows.new_secret(), flows.new_secret()
    url = await oauth.authorization_url(
        provider,
        config,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
    )
    flow = Flow(
        kind="oauth_flow",
        provider=provider,
        purpose=purpose,
        mode=mode,
        redirect_to=redirect_to,
        nonce=nonce,
        code_verifier=verifier,
        browser=flows.browser_hash(binding),
        user_id=user_id,
        session_id=session_id,
        code_challenge=code_challenge,
    )
    await flows.put_flow(store, secret_key, state, flow, settings.oauth_flow_ttl)
    metrics.ceremony("oauth", "started")
    return url, binding


def check_redirect(settings: Settings, redirect_to: str, mode: Mode) -> None:
    """Browsers (mode=cookie) go back to a page on one of PASSKEY_ORIGINS; native apps
    (mode=code) only to one of their exact PASSKEY_OAUTH_APP_REDIRECTS: a one-time code
    delivered to a web page would leak through its history, logs and Referer."""
    if mode == "code":
        if redirect_to not in settings.oauth_app_redirects:
            raise RedirectNotAllowed("mode=code goes back only to PASSKEY_OAUTH_APP_REDIRECTS.")
        return
    try:
        parts = urlsplit(redirect_to)
        # Serialised like PASSKEY_ORIGINS (config/origins.py): [::1] and [0:0::1] are one origin.
        origin = origin_of(parts)
    except ValueError:
        raise RedirectNotAllowed() from None
    if (
        len(redirect_to) > MAX_REDIRECT_LENGTH
        or parts.scheme not in ("https", "http")
        or parts.username is not None
        or parts.password is not None
        or parts.fragment
        or "\\" in redirect_to
        or any(unicodedata.category(ch) == "Cc" for ch in redirect_to)
    ):
        raise RedirectNotAllowed()
    if origin not in settings.origins:
        raise RedirectNotAllowed(f"{origin} is not one of the allowed origins.")


def with_params(url: str, **params: str) -> str:
    return str(add_params_to_uri(url, list(params.items())))


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
    signed_in = await _start_session(db, settings, user, flow.provider, client=client, now=now)
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


async def exchange(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    *,
    code: str,
    code_verifier: str | None,
    secret_key: bytes,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    """Turn a one-time code from the callback into a session (a bearer token)."""
    user_id: uuid.UUID | None = None
    try:
        entry = await flows.take_code(store, secret_key, code)
        if entry is None:
            raise OAuthCodeInvalid()
        user_id = uuid.UUID(entry.user_id)
        # Codes are only issued with the app's challenge (begin_sign_in); one without is
        # refused all the same.
        if not (
            entry.code_challenge is not None
            and code_verifier is not None
            and CODE_VERIFIER.match(code_verifier)
            and hmac.compare_digest(create_s256_code_challenge(code_verifier), entry.code_challenge)
        ):
            raise OAuthCodeVerifierMismatch()
        user = await users.get(db, user_id)
        if user is None:
            raise OAuthCodeInvalid()
        if user.disabled_at is not None:
            raise AccountDisabled()
        return await _start_session(db, settings, user, entry.provider, client=client, now=now)
    except ApiError as exc:
        await audit.record_failure(
            db, "sign_in", user_id=user_id, client=client, now=now, code=exc.code
        )
        raise


# --- shared steps ----------------------------------------------------------------------


async def _start_session(
    db: AsyncSession,
    settings: Settings,
    user: User,
    provider: str,
    *,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    """Audit the sign-in, start the session and commit the unit of work."""
    method = f"oauth:{provider}"
    await audit.record(db, "sign_in", user_id=user.id, client=client, now=now, method=method)
    token, session = await sessions.start(
        db,
        user=user,
        # A provider's word is not a user verification by one of our passkeys.
        user_verified=False,
        client=client,
        lifetimes=settings.session_lifetimes,
        now=now,
        method=method,
    )
    credential_ids = await passkeys.credential_ids_of(db, user.id)
    signals = passkey_service.signals(settings.rp_id, user, credential_ids)
    await db.commit()
    return SignedIn(
        user=user,
        session=session,
        token=token,
        signals=signals,
        passkey_suggested=not credential_ids,
    )


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
