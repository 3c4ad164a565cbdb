from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from passkey_api.storage.models import Identity


class IdentityOut(BaseModel):
    id: uuid.UUID
    provider: str = Field(description="The provider's key (see /v1/oauth/providers)")
    email: str | None
    email_verified: bool
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, identity: Identity) -> IdentityOut:
        return cls(
            id=identity.id,
            provider=identity.provider,
            email=identity.email,
            email_verified=identity.email_verified,
            created_at=identity.created_at,
            last_used_at=identity.last_used_at,
        )
