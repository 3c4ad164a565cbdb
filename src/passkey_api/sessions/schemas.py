from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from passkey_api.models import Session
from passkey_api.users.schemas import UserOut


class SessionOut(BaseModel):
    id: uuid.UUID = Field(description="Public session id (never the token).")
    created_at: datetime
    expires_at: datetime
    user_verified: bool = Field(
        description="Whether the sign-in verified the user (PIN, biometric)."
    )

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            id=session.id,
            created_at=session.created_at,
            expires_at=session.expires_at,
            user_verified=session.user_verified,
        )


class SessionInfo(BaseModel):
    user: UserOut
    session: SessionOut


class SignedIn(SessionInfo):
    session_token: str | None = Field(
        default=None,
        description="Only for native clients (X-Client-Type: native): send it as "
        "`Authorization: Bearer <session_token>`. Browsers get an HttpOnly cookie instead.",
    )
