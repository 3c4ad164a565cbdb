"""The registration and authentication ceremonies (WebAuthn Level 3, sections 7.1 and 7.2).

Each verify takes the challenge out of the store first, so a challenge is single use even
when verification then fails: the client starts the ceremony over.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import decode_credential_public_key
from webauthn.helpers.structs import (
    AttestationFormat,
    AuthenticationCredential,
    AuthenticatorAssertionResponse,
    AuthenticatorAttestationResponse,
    RegistrationCredential,
)

from passkey_api import base64url
from passkey_api.ceremonies import checks, options
from passkey_api.ceremonies.schemas import (
    AuthenticationOptionsRequest,
    AuthenticationResponseJSON,
    RegistrationOptionsRequest,
    RegistrationResponseJSON,
)
from passkey_api.challenges import ChallengeStore
from passkey_api.config import Settings
from passkey_api.errors import (
    BackupEligibilityChanged,
    CeremonyMismatch,
    ChallengeExpired,
    CredentialExists,
    CredentialNotAllowed,
    InvalidCredential,
    SignCountRegression,
    UnknownCredential,
    UnsupportedAlgorithm,
    UserHandleMismatch,
    UserHandleMissing,
    UsernameTaken,
)
from passkey_api.models import Passkey, Session, User
from passkey_api.passkeys import repository as passkeys
from passkey_api.sessions import service as sessions
from passkey_api.sessions.service import ClientInfo
from passkey_api.users import names
from passkey_api.users import repository as users

log = logging.getLogger(__name__)

CHALLENGE_BYTES = 32
USER_HANDLE_BYTES = 32
Ceremony = Literal["registration", "authentication"]


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
    # authentication, username-first: whose credentials were offered (None: discoverable)
    user_id: str | None = None

    @classmethod
    def load(cls, state: dict[str, Any]) -> PendingCeremony:
        return cls(**state)


@dataclass(frozen=True)
class Registered:
    user: User
    passkey: Passkey


@dataclass(frozen=True)
class Authenticated:
    user: User
    passkey: Passkey
    user_verified: bool


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    token: str


async def sign_up(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    credential: RegistrationResponseJSON,
    *,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    """Verify a registration, create the account and its first session, in one commit."""
    registered = await verify_registration(db, store, settings, credential, now=now)
    return await _start_session(
        db, settings, registered.user, registered.passkey.user_verified, client, now
    )


async def sign_in(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    credential: AuthenticationResponseJSON,
    *,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    """Verify an assertion, record the passkey's use and start a session, in one commit."""
    authenticated = await verify_authentication(db, store, settings, credential, now=now)
    return await _start_session(
        db, settings, authenticated.user, authenticated.user_verified, client, now
    )


async def _start_session(
    db: AsyncSession,
    settings: Settings,
    user: User,
    user_verified: bool,
    client: ClientInfo,
    now: datetime,
) -> SignedIn:
    token, session = await sessions.start(
        db,
        user=user,
        user_verified=user_verified,
        client=client,
        lifetime=settings.session_lifetime,
        now=now,
    )
    await db.commit()
    return SignedIn(user=user, session=session, token=token)


# --- registration ---------------------------------------------------------------------


async def registration_options(
    db: AsyncSession, store: ChallengeStore, settings: Settings, request: RegistrationOptionsRequest
) -> dict[str, Any]:
    username, username_key = names.normalize(request.username)
    if await users.username_taken(db, username_key):
        raise UsernameTaken()
    display_name = (request.display_name or "").strip() or username
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    user_handle = secrets.token_bytes(USER_HANDLE_BYTES)
    pending = PendingCeremony(
        ceremony="registration",
        user_verification=settings.user_verification,
        username=username,
        username_key=username_key,
        display_name=display_name,
        user_handle=base64url.encode(user_handle),
    )
    await store.put(challenge, asdict(pending), settings.challenge_ttl)
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


async def verify_registration(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    credential: RegistrationResponseJSON,
    *,
    now: datetime,
) -> Registered:
    response = credential.response
    client_data = checks.client_data(response.clientDataJSON)
    pending = await _take(store, client_data.challenge, "registration")
    checks.client_data_fits(client_data, expected_type="webauthn.create", origins=settings.origins)
    checks.credential_id_fits(credential.rawId, credential.id)
    require_uv = pending.user_verification == "required"

    attestation = checks.attestation(response.attestationObject)
    auth_data = attestation.auth_data
    checks.flags_fit(auth_data, rp_id=settings.rp_id, require_uv=require_uv)
    attested = auth_data.attested_credential_data
    if attested is None or attested.credential_id != credential.rawId:
        raise InvalidCredential("The attested credential id differs from rawId.")
    try:
        algorithm = decode_credential_public_key(attested.credential_public_key).alg
    except Exception:
        raise InvalidCredential("The credential public key cannot be read.") from None
    if algorithm not in options.ALGORITHMS:
        raise UnsupportedAlgorithm()

    try:
        verified = verify_registration_response(
            credential=RegistrationCredential(
                id=credential.id,
                raw_id=credential.rawId,
                response=AuthenticatorAttestationResponse(
                    client_data_json=response.clientDataJSON,
                    attestation_object=response.attestationObject,
                ),
            ),
            expected_challenge=client_data.challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.origins,
            require_user_verification=require_uv,
            supported_pub_key_algs=options.ALGORITHMS,
        )
    except Exception as exc:  # py_webauthn raises several families; all mean "did not verify"
        log.info("registration did not verify: %s", type(exc).__name__)
        raise InvalidCredential() from None

    # A registration challenge always carries these (see registration_options).
    assert pending.username is not None
    assert pending.username_key is not None
    assert pending.user_handle is not None
    user = User(
        id=uuid.uuid4(),
        username=pending.username,
        username_key=pending.username_key,
        display_name=pending.display_name or pending.username,
        user_handle=base64url.decode(pending.user_handle),
        created_at=now,
    )
    passkey = Passkey(
        id=uuid.uuid4(),
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=_transports(response.transports),
        aaguid=verified.aaguid,
        backup_eligible=auth_data.flags.be,
        backup_state=auth_data.flags.bs,
        discoverable=_discoverable(credential.clientExtensionResults),
        attestation_format=AttestationFormat(verified.fmt).value,
        user_verified=verified.user_verified,
        created_at=now,
    )
    # Checked first for a precise answer; the UNIQUE constraints decide any race.
    if await users.username_taken(db, user.username_key):
        raise UsernameTaken()
    if await passkeys.credential_exists(db, passkey.credential_id):
        raise CredentialExists()
    try:
        await users.add(db, user)
        await passkeys.add(db, passkey)  # after the user: the foreign key needs it
    except IntegrityError:
        await db.rollback()
        if await users.username_taken(db, user.username_key):
            raise UsernameTaken() from None
        if await passkeys.credential_exists(db, passkey.credential_id):
            raise CredentialExists() from None
        raise
    return Registered(user=user, passkey=passkey)


# --- authentication -------------------------------------------------------------------


async def authentication_options(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    request: AuthenticationOptionsRequest,
    secret_key: bytes,
) -> dict[str, Any]:
    allow: list[options.Descriptor] = []
    user_id: str | None = None
    if request.username is not None:
        try:
            _, username_key = names.normalize(request.username)
        except Exception:
            username_key = request.username  # an impossible name is just an unknown one
        user = await users.get_by_username_key(db, username_key)
        if user is not None:
            user_id = str(user.id)
            allow = await passkeys.descriptors_of(db, user.id)
        if not allow:
            # Unknown names get a stable, plausible credential so that the answer does
            # not tell whether the account exists.
            allow = [_decoy_descriptor(secret_key, username_key)]
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    pending = PendingCeremony(
        ceremony="authentication", user_verification=settings.user_verification, user_id=user_id
    )
    await store.put(challenge, asdict(pending), settings.challenge_ttl)
    return options.request_options(
        settings, challenge=challenge, allow=allow, hints=list(request.hints)
    )


async def verify_authentication(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    credential: AuthenticationResponseJSON,
    *,
    now: datetime,
) -> Authenticated:
    response = credential.response
    client_data = checks.client_data(response.clientDataJSON)
    pending = await _take(store, client_data.challenge, "authentication")
    checks.client_data_fits(client_data, expected_type="webauthn.get", origins=settings.origins)
    checks.credential_id_fits(credential.rawId, credential.id)

    found = await passkeys.get_with_user(db, credential.rawId)
    if found is None:
        raise UnknownCredential(
            # What the SPA hands to PublicKeyCredential.signalUnknownCredential().
            signal_unknown_credential={"rpId": settings.rp_id, "credentialId": credential.id}
        )
    passkey, user = found
    if pending.user_id is not None and str(passkey.user_id) != pending.user_id:
        raise CredentialNotAllowed()
    if response.userHandle is not None:
        if not hmac.compare_digest(response.userHandle, user.user_handle):
            raise UserHandleMismatch()
    elif pending.user_id is None:
        # A discoverable sign-in must name its user (WebAuthn 7.2 step 6).
        raise UserHandleMissing()

    require_uv = pending.user_verification == "required"
    auth_data = checks.authenticator_data(response.authenticatorData)
    checks.flags_fit(auth_data, rp_id=settings.rp_id, require_uv=require_uv)
    if auth_data.flags.be != passkey.backup_eligible:
        raise BackupEligibilityChanged()

    try:
        verify_authentication_response(
            credential=AuthenticationCredential(
                id=credential.id,
                raw_id=credential.rawId,
                response=AuthenticatorAssertionResponse(
                    client_data_json=response.clientDataJSON,
                    authenticator_data=response.authenticatorData,
                    signature=response.signature,
                    user_handle=response.userHandle,
                ),
            ),
            expected_challenge=client_data.challenge,
            expected_rp_id=settings.rp_id,
            expected_origin=settings.origins,
            credential_public_key=passkey.public_key,
            # The counter is checked below, after the signature, with its own code.
            credential_current_sign_count=0,
            require_user_verification=require_uv,
        )
    except Exception as exc:
        log.info("authentication did not verify: %s", type(exc).__name__)
        raise InvalidCredential() from None

    new_count, stored = auth_data.sign_count, passkey.sign_count
    if (new_count or stored) and new_count <= stored:
        raise SignCountRegression()
    if not await passkeys.record_use(
        db, passkey.id, new_sign_count=new_count, backup_state=auth_data.flags.bs, now=now
    ):
        raise SignCountRegression("A concurrent sign-in used a newer counter value.")
    passkey.sign_count, passkey.backup_state, passkey.last_used_at = (
        new_count,
        auth_data.flags.bs,
        now,
    )
    return Authenticated(user=user, passkey=passkey, user_verified=auth_data.flags.uv)


# --- shared ---------------------------------------------------------------------------


async def _take(store: ChallengeStore, challenge: bytes, ceremony: Ceremony) -> PendingCeremony:
    state = await store.take(challenge)
    if state is None:
        raise ChallengeExpired()
    pending = PendingCeremony.load(state)
    if pending.ceremony != ceremony:
        raise CeremonyMismatch(f"This challenge was issued for {pending.ceremony}.")
    return pending


def _transports(raw: list[str]) -> list[str]:
    return sorted({t for t in raw if t in options.KNOWN_TRANSPORTS})


def _discoverable(extension_results: dict[str, Any]) -> bool | None:
    cred_props = extension_results.get("credProps")
    if isinstance(cred_props, dict) and isinstance(cred_props.get("rk"), bool):
        return bool(cred_props["rk"])
    return None


def _decoy_descriptor(secret_key: bytes, username_key: str) -> options.Descriptor:
    digest = hmac.new(secret_key, b"decoy:" + username_key.encode(), hashlib.sha256).digest()
    return digest + hashlib.sha256(digest).digest()[:16], ["hybrid", "internal"]
