"""What the ceremonies share: the pending ceremony a challenge stands for, begun with
the options and taken by the verify, first, so that a challenge is single use even when
verification then fails (the client starts the ceremony over); the count of each
verify's outcome; the assertion's checks; a new passkey; the session a ceremony starts.

One module per ceremony (WebAuthn Level 3, sections 7.1 and 7.2) holds its options and
its verify, top to bottom: sign_up.py (a new account), sign_in.py (a new session),
add_passkey.py (one more passkey, or a recovery session made full) and step_up.py (a
re-authenticated session). Their writes that differ between the backends are
repository.py's.
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

from passkey_api.audit import service as audit
from passkey_api.authenticators.service import MetadataService
from passkey_api.ceremonies import assertion, attestation, checks, decoys
from passkey_api.ceremonies.schemas import AuthenticationResponseJSON
from passkey_api.config import Settings
from passkey_api.errors import (
    ApiError,
    AuthenticatorCompromised,
    CeremonyMismatch,
    ChallengeExpired,
    CredentialExists,
)
from passkey_api.kit import base64url, metrics
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys.naming import new_passkey_name
from passkey_api.passkeys.schemas import Signals
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.db import model_from
from passkey_api.storage.models import AuditEvent, Passkey, Session, User

CHALLENGE_BYTES = 32
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
    # adding a passkey: "conditional" when the browser may create it without a gesture
    mediation: str | None = None


def counted(
    ceremony: Ceremony,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Count a verify's outcome: passkey_ceremonies{outcome="succeeded"|"failed", code}."""

    def wrap(verify: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(verify)
        async def counting(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                result = await verify(*args, **kwargs)
            except ApiError as exc:
                metrics.ceremony(ceremony, "failed", exc.code)
                raise
            metrics.ceremony(ceremony, "succeeded")
            return result

        return counting

    return wrap


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    token: str
    signals: Signals


async def begin(store: ChallengeStore, settings: Settings, pending: PendingCeremony) -> bytes:
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    # Only what is set (PendingCeremony(**state) gives the rest its default): a smaller
    # value, and without asdict(), which deep-copies field by field.
    state = {name: value for name, value in vars(pending).items() if value is not None}
    await store.put(challenge, state, settings.challenge_ttl)
    metrics.ceremony(pending.ceremony, "started")
    return challenge


async def take(store: ChallengeStore, challenge: bytes, ceremony: Ceremony) -> PendingCeremony:
    state = await store.take(challenge)
    if state is None:
        raise ChallengeExpired()
    pending = PendingCeremony(**state)
    if pending.ceremony != ceremony:
        raise CeremonyMismatch(f"This challenge was issued for {pending.ceremony}.")
    return pending


async def take_while(
    store: ChallengeStore, challenge: bytes, ceremony: Ceremony, reading: Coroutine[Any, Any, T]
) -> tuple[PendingCeremony, T]:
    """take(), with `reading` run meanwhile: two round trips in one wait. The challenge
    still decides first, and is consumed whatever follows."""
    read = asyncio.ensure_future(reading)
    try:
        pending = await take(store, challenge, ceremony)
    except BaseException:
        with contextlib.suppress(Exception):
            await read  # not cancelled: that would cost its connection
        raise
    return pending, await read


def check_response(
    settings: Settings, credential: AuthenticationResponseJSON, client_data: checks.ClientData
) -> None:
    checks.client_data_fits(
        client_data, expected_type="webauthn.get", origins=settings.allowed_origins
    )
    checks.credential_id_fits(credential.rawId, credential.id)


def verify_assertion(
    settings: Settings,
    credential: AuthenticationResponseJSON,
    client_data: checks.ClientData,
    pending: PendingCeremony,
    found: tuple[Passkey, User] | None,
    decoy_seed: bytes | None,
) -> tuple[Passkey, User, assertion.Asserted]:
    """`decoy_seed` to recognise a decoy among unknown credentials (decoys.py); None in a
    ceremony bound to an account, where every unknown credential is refused alike."""
    return assertion.verify(
        settings,
        credential,
        client_data,
        found,
        decoy=found is None
        and decoy_seed is not None
        and decoys.is_decoy(decoy_seed, credential.rawId),
        expected_user_id=pending.user_id,
        require_uv=pending.user_verification == "required",
        require_uv_if_capable=pending.ceremony == "reauthentication",
    )


def refuse_compromised(metadata: MetadataService | None, passkey: Passkey) -> None:
    """With PASSKEY_COMPROMISED_AUTHENTICATORS=refuse (the caller's branch), and only once
    the passkey's signature verified: AuthenticatorCompromised when the held metadata
    reports its model, or a model its attestation could not be told apart from,
    compromised. In-memory lookups by what the passkey row carries; nothing without
    metadata."""
    if metadata is None:
        return
    compromise = metadata.compromise(
        passkey.aaguid, passkey.attestation_key_identifier, passkey.attestation_ca_names
    )
    if compromise is not None:
        raise AuthenticatorCompromised(
            f"{compromise.words}. This service no longer accepts it for signing in: sign "
            "in with another passkey or recover your account, then remove this passkey "
            f'("{passkey.name}").'
        )


def refuse_decoy(decoy_seed: bytes, credential_id: bytes) -> None:
    """A decoy id is refused as the registered credential it stands for (decoys.py)."""
    if decoys.is_decoy(decoy_seed, credential_id):
        raise CredentialExists()


def new_passkey(
    user: User,
    verified: attestation.NewCredential,
    attachment: str | None,
    client: ClientInfo,
    now: datetime,
) -> Passkey:
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
        attestation_type=verified.attestation_type,
        attestation_verified=verified.attestation_verified,
        attestation_key_identifier=verified.attestation_key_identifier,
        attestation_ca_names=list(verified.attestation_ca_names),
        user_verified=verified.user_verified,
        created_at=now,
        # Named after their provider, or what they are (passkeys/naming.py); the user can
        # rename them.
        name=new_passkey_name(
            aaguid=verified.aaguid,
            transports=verified.transports,
            attachment=attachment,
            user_agent=client.user_agent,
            created_at=now,
        ),
    )


def signed_in_event(
    event: str, user: User, passkey: Passkey, client: ClientInfo, now: datetime
) -> AuditEvent:
    return audit.event_row(
        event,
        user_id=user.id,
        client=client,
        now=now,
        passkey=base64url.encode(passkey.credential_id),
    )


def steps_up(user_verified: bool, passkey: Passkey) -> bool:
    """Whether a ceremony with `passkey` that starts a session would also have passed the
    explicit step-up, and so counts as one (sessions.reauthenticated_within). That step-up
    demands user verification exactly of a passkey that ever gave it (verify_assertion,
    and step_up.options: "preferred" only while some passkey never did): the UV flag,
    or presence from a passkey that never verified anyone (an old U2F key). `passkey` as
    stored before this use; a new one (sign-up, added in recovery) always counts."""
    return user_verified or not passkey.user_verified
