"""The ceremonies (WebAuthn Level 3, sections 7.1 and 7.2) and what they lead to: a new
account, a new session, one more passkey, or a re-authenticated session.

Each verify takes its challenge out of the store first, so a challenge is single use
even when verification then fails: the client starts the ceremony over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.ceremonies import assertion, attestation, checks, decoys, options, repository
from passkey_api.ceremonies.schemas import (
    AddPasskeyOptionsRequest,
    AuthenticationOptionsRequest,
    AuthenticationResponseJSON,
    RegistrationOptionsRequest,
    RegistrationResponseJSON,
)
from passkey_api.config import Settings
from passkey_api.errors import (
    AccountDisabled,
    ApiError,
    CeremonyMismatch,
    ChallengeExpired,
    CredentialExists,
    InvalidUsername,
    SignCountRegression,
    TooManyPasskeys,
    UsernameTaken,
)
from passkey_api.kit import base64url, metrics
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys import repository as passkeys
from passkey_api.passkeys import service as passkey_service
from passkey_api.passkeys.providers import provider
from passkey_api.passkeys.schemas import Signals
from passkey_api.sessions import service as sessions
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.db import Databases, model_from
from passkey_api.storage.models import AuditEvent, Passkey, Session, User
from passkey_api.users import names
from passkey_api.users import repository as users

CHALLENGE_BYTES = 32
USER_HANDLE_BYTES = 32
# Far more than anyone carries (phones, laptops, security keys and their spares); a bound
# so that one account cannot grow the passkeys table and the key cache without limit.
MAX_PASSKEYS_PER_USER = 50
Ceremony = Literal["registration", "add_passkey", "authentication", "reauthentication"]
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class PendingCeremony:
    """What the options step remembers, keyed by the challenge, until verify takes it."""

    ceremony: Ceremony
    user_verification: str
    # registration: the account to create
    username: str | None = None
    username_key: str | None = None
    display_name: str | None = None
    user_handle: str | None = None
    # whose credentials were offered or who is adding one (None: discoverable sign-in)
    user_id: str | None = None
    # reauthentication: the session to elevate, and for what
    session_id: str | None = None
    purpose: str | None = None


def _counted(
    ceremony: Ceremony,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Count a verify's outcome: passkey_ceremonies{outcome="succeeded"|"failed", code}."""

    def wrap(verify: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(verify)
        async def counted(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                result = await verify(*args, **kwargs)
            except ApiError as exc:
                metrics.ceremony(ceremony, "failed", exc.code)
                raise
            metrics.ceremony(ceremony, "succeeded")
            return result

        return counted

    return wrap


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    token: str
    signals: Signals


# --- sign-up ----------------------------------------------------------------------------


async def registration_options(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    request: RegistrationOptionsRequest,
) -> dict[str, Any]:
    username, username_key = names.normalize(request.username)
    if await users.username_exists(databases, username_key):
        raise UsernameTaken()
    display_name = (request.display_name or "").strip() or username
    user_handle = secrets.token_bytes(USER_HANDLE_BYTES)
    challenge = await _begin(
        store,
        settings,
        PendingCeremony(
            ceremony="registration",
            user_verification=settings.user_verification,
            username=username,
            username_key=username_key,
            display_name=display_name,
            user_handle=base64url.encode(user_handle),
        ),
    )
    return options.creation_options(
        settings,
        challenge=challenge,
        user_handle=user_handle,
        username=username,
        display_name=display_name,
        attachment=request.attachment,
        hints=list(request.hints),
        exclude=[],
    )


@_counted("registration")
async def sign_up(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    credential: RegistrationResponseJSON,
    *,
    secret_key: bytes,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    """Verify a registration; create the account, its passkey and a session, all or none
    (repository.record_sign_up)."""
    client_data = checks.client_data(credential.response.clientDataJSON)
    pending = await _take(store, client_data.challenge, "registration")
    verified = attestation.verify(
        settings, credential, client_data, require_uv=pending.user_verification == "required"
    )
    _refuse_decoy(secret_key, verified.credential_id)
    # A registration challenge always carries these (see registration_options).
    assert pending.username is not None
    assert pending.username_key is not None
    assert pending.user_handle is not None
    user = model_from(
        User,
        id=uuid.uuid4(),
        username=pending.username,
        username_key=pending.username_key,
        display_name=pending.display_name or pending.username,
        user_handle=base64url.decode(pending.user_handle),
        created_at=now,
        roles=["user"],
    )
    passkey = _new_passkey(user, verified, now)
    token, session = sessions.new(
        user=user,
        user_verified=verified.user_verified,
        client=client,
        lifetimes=settings.session_lifetimes,
        now=now,
        stepped_up=_steps_up(verified.user_verified, passkey),
    )
    # UsernameTaken or CredentialExists from the UNIQUE constraints, in the same write.
    await repository.record_sign_up(
        databases,
        user=user,
        passkey=passkey,
        session=session,
        event=_signed_in_event("sign_up", user, passkey, client, now),
    )
    signals = passkey_service.signals(settings.rp_id, user, [passkey.credential_id])
    return SignedIn(user=user, session=session, token=token, signals=signals)


# --- sign-in ----------------------------------------------------------------------------


async def authentication_options(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    request: AuthenticationOptionsRequest,
    secret_key: bytes,
) -> dict[str, Any]:
    allow: list[options.Descriptor] = []
    user_id: str | None = None
    if request.username is not None:
        if not request.username.strip():
            # No account can have it, so saying so tells nothing about any account.
            raise InvalidUsername("The username is empty.")
        async with databases.session() as db:
            try:
                _, username_key = names.normalize(request.username)
                user = await users.get_by_username_key(db, username_key)
            except ApiError:
                username_key, user = request.username, None  # an impossible name is unknown
            # The same queries whether or not the name exists, so timing does not tell.
            allow = await passkeys.descriptors_of(db, user.id if user else uuid.uuid4())
        if user is not None and allow:
            user_id = str(user.id)
        else:
            # Unknown names get a stable, plausible credential so that the answer does not
            # tell whether the account exists, and a ceremony bound to no account, so that
            # verify refuses every credential exactly as it would for a real user's.
            allow = [decoys.descriptor(secret_key, username_key)]
            user_id = str(uuid.uuid4())
    challenge = await _begin(
        store,
        settings,
        PendingCeremony(
            ceremony="authentication",
            user_verification=settings.user_verification,
            user_id=user_id,
        ),
    )
    return options.request_options(
        settings,
        challenge=challenge,
        allow=allow,
        hints=list(request.hints),
        user_verification=settings.user_verification,
    )


@_counted("authentication")
async def sign_in(
    databases: Databases,
    store: ChallengeStore,
    settings: Settings,
    credential: AuthenticationResponseJSON,
    *,
    secret_key: bytes,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    """Verify an assertion, record the passkey's use and start a session, all or none
    (repository.record_sign_in)."""
    user_id: uuid.UUID | None = None
    try:
        client_data = checks.client_data(credential.response.clientDataJSON)
        try:
            # What the response says of itself, checked before anything is read for it.
            _check_response(settings, credential, client_data)
        except ApiError:
            # The challenge still decides first, and is consumed whatever follows.
            user_id = _user_id(await _take(store, client_data.challenge, "authentication"))
            raise
        pending, found = await _take_while(
            store,
            client_data.challenge,
            "authentication",
            passkeys.get_with_user(databases, credential.rawId),
        )
        user_id = _user_id(pending)
        if found is not None:
            user_id = found[1].id  # failures from here on show in its activity
        passkey, user, asserted = _verify(
            settings, credential, client_data, pending, found, secret_key
        )
        if user.disabled_at is not None:
            raise AccountDisabled()
        token, session = sessions.new(
            user=user,
            user_verified=asserted.user_verified,
            client=client,
            lifetimes=settings.session_lifetimes,
            now=now,
            stepped_up=_steps_up(asserted.user_verified, passkey),
        )
        # SignCountRegression when a concurrent sign-in used a newer counter value.
        credential_ids = await repository.record_sign_in(
            databases,
            passkey_id=passkey.id,
            sign_count=asserted.sign_count,
            backup_state=asserted.backup_state,
            user_verified=asserted.user_verified,
            session=session,
            event=_signed_in_event("sign_in", user, passkey, client, now),
        )
        signals = passkey_service.signals(settings.rp_id, user, credential_ids)
        return SignedIn(user=user, session=session, token=token, signals=signals)
    except ApiError as exc:
        async with databases.session() as db:
            await audit.record_failure(
                db, "sign_in", user_id=user_id, client=client, now=now, code=exc.code
            )
        raise


# --- one more passkey for a signed-in user ----------------------------------------------


async def add_passkey_options(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    user: User,
    request: AddPasskeyOptionsRequest,
) -> dict[str, Any]:
    await _refuse_past_the_limit(db, user)
    challenge = await _begin(
        store,
        settings,
        PendingCeremony(
            ceremony="add_passkey",
            user_verification=settings.user_verification,
            user_id=str(user.id),
        ),
    )
    return options.creation_options(
        settings,
        challenge=challenge,
        user_handle=user.user_handle,
        username=user.username,
        display_name=user.display_name,
        attachment=request.attachment,
        hints=list(request.hints),
        # The same authenticator must not be registered twice for one account.
        exclude=await passkeys.descriptors_of(db, user.id),
    )


@dataclass(frozen=True)
class Recovered:
    """A recovery session turned into a full one by the passkey added in it."""

    session: Session
    token: str
    # The account's other sessions, for the user to review (and revoke a thief's).
    others: list[Session]


@dataclass(frozen=True)
class AddedPasskey:
    passkey: Passkey
    recovered: Recovered | None


@_counted("add_passkey")
async def add_passkey(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    active: ActiveSession,
    credential: RegistrationResponseJSON,
    *,
    secret_key: bytes,
    client: ClientInfo,
    now: datetime,
) -> AddedPasskey:
    """Verify and store one more passkey; in a recovery session, also replace the session
    by a full one, in the same commit."""
    user = active.user
    client_data = checks.client_data(credential.response.clientDataJSON)
    pending = await _take(store, client_data.challenge, "add_passkey")
    if pending.user_id != str(user.id):
        raise CeremonyMismatch("This challenge was issued to another account.")
    verified = attestation.verify(
        settings, credential, client_data, require_uv=pending.user_verification == "required"
    )
    _refuse_decoy(secret_key, verified.credential_id)
    await _refuse_known_credential(db, verified.credential_id)
    await _refuse_past_the_limit(db, user)
    passkey = _new_passkey(user, verified, now)
    try:
        await passkeys.add(db, passkey)
    except IntegrityError:
        await db.rollback()
        raise CredentialExists() from None
    await audit.record(
        db,
        "passkey_added",
        user_id=user.id,
        client=client,
        now=now,
        passkey=base64url.encode(passkey.credential_id),
        name=passkey.name,
    )
    recovered = None
    if active.session.scope == sessions.RECOVERY:
        token, session, others = await sessions.upgrade_recovery(
            db,
            active,
            user_verified=verified.user_verified,
            stepped_up=_steps_up(verified.user_verified, passkey),
            client=client,
            lifetimes=settings.session_lifetimes,
            now=now,
        )
        await audit.record(
            db,
            "recovery_completed",
            user_id=user.id,
            client=client,
            now=now,
            passkey=base64url.encode(passkey.credential_id),
            session=str(session.id),
            other_sessions=len(others),
        )
        recovered = Recovered(session=session, token=token, others=others)
    await db.commit()
    return AddedPasskey(passkey=passkey, recovered=recovered)


# --- re-authentication (sudo mode) ------------------------------------------------------


@dataclass(frozen=True)
class SteppedUp:
    """A step-up: its purpose, and the same session under a new token."""

    purpose: str
    session: Session
    token: str


async def reauthentication_options(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    active: ActiveSession,
    *,
    purpose: str,
    hints: list[str],
) -> dict[str, Any]:
    own = await passkeys.list_for_user(db, active.user.id)
    # User verification is demanded of every passkey that can do it (it did once). An old
    # U2F key never can: without this its owner could never step up, so could never add
    # the second passkey the service urges on them; for such a key a fresh
    # presence-checked assertion is the strongest proof there is.
    # Never weaker than sign-in: PASSKEY_USER_VERIFICATION=required holds here too.
    user_verification = (
        "required"
        if settings.user_verification == "required" or all(p.user_verified for p in own)
        else "preferred"
    )
    challenge = await _begin(
        store,
        settings,
        PendingCeremony(
            ceremony="reauthentication",
            user_verification=user_verification,
            user_id=str(active.user.id),
            session_id=str(active.session.id),
            purpose=purpose,
        ),
    )
    return options.request_options(
        settings,
        challenge=challenge,
        # Only the user's own passkeys can confirm it is them.
        allow=[(p.credential_id, list(p.transports)) for p in own],
        hints=hints,
        user_verification=user_verification,
    )


@_counted("reauthentication")
async def reauthenticate(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    active: ActiveSession,
    credential: AuthenticationResponseJSON,
    *,
    client: ClientInfo,
    now: datetime,
) -> SteppedUp:
    """Verify a user-verified assertion, stamp the session for the ceremony's purpose and
    give it a new token (sessions.mark_reauthenticated), in one commit."""
    try:
        client_data = checks.client_data(credential.response.clientDataJSON)
        pending = await _take(store, client_data.challenge, "reauthentication")
        if pending.session_id != str(active.session.id) or pending.purpose is None:
            raise CeremonyMismatch("This challenge was issued to another session.")
        found = await _find_passkey(db, settings, credential, client_data)
        passkey, _, asserted = _verify(settings, credential, client_data, pending, found, None)
        await _record_use(db, passkey, asserted, now)
        token = await sessions.mark_reauthenticated(db, active.session, pending.purpose, now)
        await audit.record(
            db,
            "reauthenticated",
            user_id=active.user.id,
            client=client,
            now=now,
            purpose=pending.purpose,
        )
        await db.commit()
        return SteppedUp(purpose=pending.purpose, session=active.session, token=token)
    except ApiError as exc:
        await audit.record_failure(
            db, "reauthenticated", user_id=active.user.id, client=client, now=now, code=exc.code
        )
        raise


# --- shared steps -----------------------------------------------------------------------


async def _begin(store: ChallengeStore, settings: Settings, pending: PendingCeremony) -> bytes:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    # Only what is set (PendingCeremony(**state) gives the rest its default): a smaller
    # value, and without asdict(), which deep-copies field by field.
    state = {name: value for name, value in vars(pending).items() if value is not None}
    await store.put(challenge, state, settings.challenge_ttl)
    metrics.ceremony(pending.ceremony, "started")
    return challenge


async def _take(store: ChallengeStore, challenge: bytes, ceremony: Ceremony) -> PendingCeremony:
    state = await store.take(challenge)
    if state is None:
        raise ChallengeExpired()
    pending = PendingCeremony(**state)
    if pending.ceremony != ceremony:
        raise CeremonyMismatch(f"This challenge was issued for {pending.ceremony}.")
    return pending


async def _take_while(
    store: ChallengeStore, challenge: bytes, ceremony: Ceremony, reading: Coroutine[Any, Any, T]
) -> tuple[PendingCeremony, T]:
    """_take(), with `reading` run meanwhile: two round trips in one wait. The challenge
    still decides first, and is consumed whatever follows."""
    read = asyncio.ensure_future(reading)
    try:
        pending = await _take(store, challenge, ceremony)
    except BaseException:
        with contextlib.suppress(Exception):
            await read  # not cancelled: that would cost its connection
        raise
    return pending, await read


def _user_id(pending: PendingCeremony) -> uuid.UUID | None:
    """The account the ceremony was started for, if any."""
    return uuid.UUID(pending.user_id) if pending.user_id else None


async def _find_passkey(
    db: AsyncSession,
    settings: Settings,
    credential: AuthenticationResponseJSON,
    client_data: checks.ClientData,
) -> tuple[Passkey, User] | None:
    _check_response(settings, credential, client_data)
    return await passkeys.get_with_user_on(db, credential.rawId)


def _check_response(
    settings: Settings, credential: AuthenticationResponseJSON, client_data: checks.ClientData
) -> None:
    checks.client_data_fits(
        client_data, expected_type="webauthn.get", origins=settings.allowed_origins
    )
    checks.credential_id_fits(credential.rawId, credential.id)


def _verify(
    settings: Settings,
    credential: AuthenticationResponseJSON,
    client_data: checks.ClientData,
    pending: PendingCeremony,
    found: tuple[Passkey, User] | None,
    secret_key: bytes | None,
) -> tuple[Passkey, User, assertion.Asserted]:
    """`secret_key` to recognise a decoy among unknown credentials (decoys.py); None in a
    ceremony bound to an account, where every unknown credential is refused alike."""
    return assertion.verify(
        settings,
        credential,
        client_data,
        found,
        decoy=found is None
        and secret_key is not None
        and decoys.is_decoy(secret_key, credential.rawId),
        expected_user_id=pending.user_id,
        require_uv=pending.user_verification == "required",
        require_uv_if_capable=pending.ceremony == "reauthentication",
    )


async def _record_use(
    db: AsyncSession, passkey: Passkey, asserted: assertion.Asserted, now: datetime
) -> None:
    """Record the passkey's use (flushed) if its counter still moves forward."""
    if not await passkeys.record_use(
        db,
        passkey.id,
        new_sign_count=asserted.sign_count,
        backup_state=asserted.backup_state,
        user_verified=asserted.user_verified,
        now=now,
    ):
        raise SignCountRegression("A concurrent sign-in used a newer counter value.")


async def _refuse_past_the_limit(db: AsyncSession, user: User) -> None:
    if await passkeys.count_for_user(db, user.id) >= MAX_PASSKEYS_PER_USER:
        raise TooManyPasskeys(
            f"An account holds at most {MAX_PASSKEYS_PER_USER} passkeys: remove one first."
        )


def _refuse_decoy(secret_key: bytes, credential_id: bytes) -> None:
    """A decoy id is refused as the registered credential it stands for (decoys.py)."""
    if decoys.is_decoy(secret_key, credential_id):
        raise CredentialExists()


async def _refuse_known_credential(db: AsyncSession, credential_id: bytes) -> None:
    if await passkeys.credential_exists(db, credential_id):
        raise CredentialExists()


def _new_passkey(user: User, verified: attestation.NewCredential, now: datetime) -> Passkey:
    return model_from(
        Passkey,
        id=uuid.uuid4(),
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.public_key,
        sign_count=verified.sign_count,
        transports=verified.transports,
        aaguid=verified.aaguid,
        backup_eligible=verified.backup_eligible,
        backup_state=verified.backup_state,
        discoverable=verified.discoverable,
        attestation_format=verified.attestation_format,
        user_verified=verified.user_verified,
        created_at=now,
        # New passkeys are named after their provider; the user can rename them.
        name=provider(verified.aaguid, verified.transports).name,
    )


def _signed_in_event(
    event: str, user: User, passkey: Passkey, client: ClientInfo, now: datetime
) -> AuditEvent:
    return audit.event_row(
        event,
        user_id=user.id,
        client=client,
        now=now,
        passkey=base64url.encode(passkey.credential_id),
    )


def _steps_up(user_verified: bool, passkey: Passkey) -> bool:
    """Whether a ceremony with `passkey` that starts a session would also have passed the
    explicit step-up, and so counts as one (sessions.reauthenticated_within). That step-up
    demands user verification exactly of a passkey that ever gave it (_verify, and
    reauthentication_options: "preferred" only while some passkey never did): the UV flag,
    or presence from a passkey that never verified anyone (an old U2F key). `passkey` as
    stored before this use; a new one (sign-up, added in recovery) always counts."""
    return user_verified or not passkey.user_verified
