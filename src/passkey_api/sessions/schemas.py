from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from passkey_api.passkeys.schemas import Signals
from passkey_api.sessions.service import Scope
from passkey_api.storage.models import Session
from passkey_api.users.schemas import UserOut

METHOD_DESCRIPTION = (
    "How the session was created: `passkey`, `oauth:<provider>` for a social sign-in, "
    "`recovery_code` or `recovery_email` for a recovery session."
)


class SessionOut(BaseModel):
    id: uuid.UUID = Field(description="Public session id (never the token).")
    created_at: datetime
    expires_at: datetime
    user_verified: bool = Field(
        description="Whether the sign-in verified the user (PIN, biometric)."
    )
    scope: Scope = Field(
        description="`recovery`: made by account recovery, it can only add a passkey "
        "(POST /v1/me/passkeys/options), which turns it into a `full` session."
    )
    method: str = Field(description=METHOD_DESCRIPTION)

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            id=session.id,
            created_at=session.created_at,
            expires_at=session.expires_at,
            user_verified=session.user_verified,
            scope="recovery" if session.scope == "recovery" else "full",
            method=session.method,
        )


class SessionInfo(BaseModel):
    user: UserOut
    session: SessionOut


class SignedIn(SessionInfo):
    signals: Signals | None = Field(
        default=None,
        description="After sign-in: WebAuthn Signal API payloads for the browser.",
    )
    session_token: str | None = Field(
        default=None,
        description="Only for native clients (X-Client-Type: native): send it as "
        "`Authorization: Bearer <session_token>`. Browsers get an HttpOnly cookie instead.",
    )
    passkey_suggested: bool = Field(
        default=False,
        description="After a first social sign-in (a new account, no passkey yet): offer "
        "to create a passkey.",
    )


class SessionListItem(BaseModel):
    id: uuid.UUID = Field(description="Public session id (never the token or its hash).")
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    user_verified: bool
    scope: Scope
    method: str = Field(description=METHOD_DESCRIPTION)
    current: bool

    @classmethod
    def of(cls, session: Session, *, current_id: uuid.UUID | None) -> SessionListItem:
        return cls(
            id=session.id,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            user_agent=session.user_agent,
            ip=session.ip,
            user_verified=session.user_verified,
            scope="recovery" if session.scope == "recovery" else "full",
            method=session.method,
            current=session.id == current_id,
        )


class SessionList(BaseModel):
    sessions: list[SessionListItem]


class Revoked(BaseModel):
    revoked: int
