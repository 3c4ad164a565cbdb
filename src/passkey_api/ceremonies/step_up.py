"""Re-authentication, the step-up (sudo mode; WebAuthn Level 3, section 7.2): a
user-verified assertion with one of the account's own passkeys stamps the session for one
purpose and gives it a new token, in the request's unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.authenticators.service import MetadataService
from passkey_api.ceremonies import assertion, checks, steps
from passkey_api.ceremonies.options import request_options
from passkey_api.ceremonies.schemas import AuthenticationResponseJSON
from passkey_api.ceremonies.steps import PendingCeremony
from passkey_api.config import Settings
from passkey_api.errors import ApiError, CeremonyMismatch, SignCountRegression
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys import repository as passkeys
from passkey_api.sessions import service as sessions
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.models import Passkey, Session, User


@dataclass(frozen=True)
class SteppedUp:
    """A step-up: its purpose, and the same session under a new token."""

    purpose: str
    session: Session
    token: str


async def options(
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
    challenge = await steps.begin(
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
    return request_options(
        settings,
        challenge=challenge,
        # Only the user's own passkeys can confirm it is them.
        allow=[(p.credential_id, list(p.transports)) for p in own],
        hints=hints,
        user_verification=user_verification,
    )


@steps.counted("reauthentication")
async def verify(
    db: AsyncSession,
    store: ChallengeStore,
    settings: Settings,
    active: ActiveSession,
    credential: AuthenticationResponseJSON,
    *,
    client: ClientInfo,
    now: datetime,
    metadata: MetadataService | None = None,
) -> SteppedUp:
    """Verify a user-verified assertion, stamp the session for the ceremony's purpose and
    give it a new token (sessions.mark_reauthenticated), in one commit."""
    try:
        client_data = checks.client_data(credential.response.clientDataJSON)
        pending = await steps.take(store, client_data.challenge, "reauthentication")
        if pending.session_id != str(active.session.id) or pending.purpose is None:
            raise CeremonyMismatch("This challenge was issued to another session.")
        found = await _find_passkey(db, settings, credential, client_data)
        passkey, _, asserted = steps.verify_assertion(
            settings, credential, client_data, pending, found, None
        )
        if settings.compromised_authenticators == "refuse":  # authentic from here on
            steps.refuse_compromised(metadata, passkey)
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


async def _find_passkey(
    db: AsyncSession,
    settings: Settings,
    credential: AuthenticationResponseJSON,
    client_data: checks.ClientData,
) -> tuple[Passkey, User] | None:
    steps.check_response(settings, credential, client_data)
    return await passkeys.get_with_user_on(db, credential.rawId)


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
