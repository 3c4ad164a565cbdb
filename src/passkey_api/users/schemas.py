from __future__ import annotations

import uuid

from pydantic import BaseModel

from passkey_api.models import User


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, username=user.username, display_name=user.display_name)
