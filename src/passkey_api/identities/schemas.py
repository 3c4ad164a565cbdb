from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from passkey_api.oauth.schemas import ProviderOut
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


class IdentityList(BaseModel):
    identities: list[IdentityOut]
    providers: list[ProviderOut] = Field(description="Every provider that can be linked")


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redirect_to: str = Field(
        max_length=2048,
        description="A page on one of PASSKEY_ORIGINS; it gets `?linked=<provider>` or "
        "`?error=<code>`.",
    )


class LinkStarted(BaseModel):
    authorize_url: str = Field(description="Navigate the browser there (top level).")
