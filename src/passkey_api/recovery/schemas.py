from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from passkey_api.kit.text import PlainText
from passkey_api.passkeys.schemas import PasskeyOut
from passkey_api.sessions.schemas import SessionListItem, SessionOut
from passkey_api.storage.models import User

# Link tokens are what tokens.new_token() makes: 32 bytes, unpadded base64url.
LINK_FORMAT = r"^[A-Za-z0-9_-]{43}$"


class RecoveryCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: PlainText = Field(min_length=1, max_length=64)
    code: PlainText = Field(
        min_length=1,
        max_length=64,
        description="One of the recovery codes; case, spaces and dashes do not matter.",
    )


class RecoveryEmailRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: PlainText = Field(min_length=1, max_length=320)


class RecoveryLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(pattern=LINK_FORMAT, description="From the link's fragment (#token=...)")


class RecoveryEmailAccepted(BaseModel):
    detail: str = Field(
        description="Always the same: the answer does not tell whether the address is known."
    )


class RecoveryCodes(BaseModel):
    codes: list[str] = Field(
        description="Shown this once: each works one time. Earlier codes no longer work."
    )
    generated_at: datetime


class RecoveryCodesStatus(BaseModel):
    remaining: int = Field(description="Codes not used yet (0: generate a new set)")
    total: int = Field(description="Codes in the current set (0: none ever generated)")
    generated_at: datetime | None


class EmailOut(BaseModel):
    email: str | None = Field(description="The verified recovery address, or null")
    verified_at: datetime | None

    @classmethod
    def of(cls, user: User) -> EmailOut:
        return cls(email=user.email, verified_at=user.email_verified_at)


class SetEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: PlainText = Field(min_length=1, max_length=320)


class EmailVerificationSent(BaseModel):
    email: str = Field(description="Where the verification link went (normalised)")
    expires_at: datetime


class Recovered(BaseModel):
    """The recovery session is over: this full session replaced it (new token)."""

    session: SessionOut
    session_token: str | None = Field(
        default=None,
        description="Only when the recovery session came as a bearer token: the new one. "
        "Browsers get a new cookie instead.",
    )
    other_sessions: list[SessionListItem] = Field(
        description="The account's other sessions: review them and revoke any you do not "
        "recognise (DELETE /v1/me/sessions/{id})."
    )


class PasskeyAdded(PasskeyOut):
    recovered: Recovered | None = Field(
        default=None, description="Set when the passkey was added in a recovery session."
    )
