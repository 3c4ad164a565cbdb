from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from passkey_api.config import OAuthProvider
from passkey_api.identities.schemas import IdentityOut


class ProviderOut(BaseModel):
    name: str = Field(description="The provider's key, as in /v1/oauth/{provider}/authorize")
    display_name: str
    kind: Literal["oidc", "github"]

    @classmethod
    def of(cls, name: str, provider: OAuthProvider) -> ProviderOut:
        return cls(name=name, display_name=provider.display_name or name, kind=provider.kind)


class ProviderList(BaseModel):
    providers: list[ProviderOut]


class ExchangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=128, description="The one-time code")
    code_verifier: str | None = Field(
        default=None,
        min_length=43,
        max_length=128,
        description="The verifier of the code_challenge given to /authorize (required)",
    )


# Linking a provider to a signed-in account (/v1/me/identities).


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
