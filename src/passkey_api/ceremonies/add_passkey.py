"""One more passkey for a signed-in user (WebAuthn Level 3, section 7.1), stored in the
request's unit of work; in a recovery session it also replaces the session by a full one,
in the same commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.authenticators.service import MetadataService
from passkey_api.ceremonies import attestation, checks, steps
from passkey_api.ceremonies.options import creation_options
from passkey_api.ceremonies.schemas import AddPasskeyOptionsRequest, RegistrationResponseJSON
from passkey_api.ceremonies.steps import PendingCeremony
from passkey_api.config import Settings
from passkey_api.errors import CeremonyMismatch, CredentialExists, TooManyPasskeys
from passkey_api.kit import base64url
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys import repository as passkeys
from passkey_api.sessions import service as sessions
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.models import Passkey, Session, User

# Far more than anyone carries (phones, laptops, security keys and their spares); a bound
# so that one account cannot grow the passkeys table and the key cache without limit.
MAX_PASSKEYS_PER_USER = 50


async def options(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    user: User,
    request: AddPasskeyOptionsRequest,
) -> dict[str, Any]:
    await _refuse_past_the_limit(db, user)
    challenge = await steps.begin(
        store,
        settings,
        PendingCeremony(
            ceremony="add_passkey",
            user_verification=settings.user_verification,
            user_id=str(user.id),
            mediation=request.mediation,
        ),
    )
    return creation_options(
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


@steps.counted("add_passkey")
async def verify(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    active: ActiveSession,
    credential: RegistrationResponseJSON,
    *,
    decoy_seed: bytes,
    client: ClientInfo,
    now: datetime,
    metadata: MetadataService | None = None,
) -> AddedPasskey:
    """Verify and store one more passkey; in a recovery session, also replace the session
    by a full one, in the same commit."""
    user = active.user
    client_data = checks.client_data(credential.response.clientDataJSON)
    pending = await steps.take(store, client_data.challenge, "add_passkey")
    if pending.user_id != str(user.id):
        raise CeremonyMismatch("This challenge was issued to another account.")
    conditional = pending.mediation == "conditional"
    verified = attestation.verify(
        settings,
        credential,
        client_data,
        require_uv=pending.user_verification == "required",
        require_up=not conditional,
        metadata=metadata,
    )
    steps.refuse_decoy(decoy_seed, verified.credential_id)
    await _refuse_known_credential(db, verified.credential_id)
    await _refuse_past_the_limit(db, user)
    passkey = steps.new_passkey(user, verified, credential.authenticatorAttachment, client, now)
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
        # made by conditional create, perhaps without a gesture: worth knowing in a review
        **({"conditional": True} if conditional else {}),
    )
    recovered = None
    if active.session.scope == sessions.RECOVERY:
        token, session, others = await sessions.upgrade_recovery(
            db,
            active,
            user_verified=verified.user_verified,
            stepped_up=steps.steps_up(verified.user_verified, passkey),
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


async def _refuse_past_the_limit(db: AsyncSession, user: User) -> None:
    if await passkeys.count_for_user(db, user.id) >= MAX_PASSKEYS_PER_USER:
        raise TooManyPasskeys(
            f"An account holds at most {MAX_PASSKEYS_PER_USER} passkeys: remove one first."
        )


async def _refuse_known_credential(db: AsyncSession, credential_id: bytes) -> None:
    if await passkeys.credential_exists(db, credential_id):
        raise CredentialExists()
