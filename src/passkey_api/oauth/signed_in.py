"""The end of a social sign-in: a session for the user, and what the app is told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.config import Settings
from passkey_api.kit.client_info import ClientInfo
from passkey_api.passkeys import repository as passkeys
from passkey_api.passkeys import service as passkey_service
from passkey_api.passkeys.schemas import Signals
from passkey_api.sessions import service as sessions
from passkey_api.storage.models import Session, User


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    token: str
    signals: Signals
    # The account has no passkey yet: the app should offer to create one.
    passkey_suggested: bool


async def start_session(
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
