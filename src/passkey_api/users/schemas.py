from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from passkey_api.kit.text import DisplayName
from passkey_api.passkeys.schemas import Signals
from passkey_api.storage.models import User


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    roles: list[str]

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            roles=list(user.roles),
        )


class UpdateMe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName = Field(min_length=1)


class MeUpdated(BaseModel):
    user: UserOut
    signals: Signals


class AdminUserOut(UserOut):
    created_at: datetime
    disabled: bool
    passkeys: int
    sessions: int


class AdminUserPage(BaseModel):
    users: list[AdminUserOut]
    total: int
    limit: int
    offset: int


class AdminUpdateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] | None = Field(
        default=None,
        max_length=16,
        description='The full set of roles; "user" is always kept.',
    )
    disabled: bool | None = None
