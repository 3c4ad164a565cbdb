"""One social sign-in provider as PASSKEY_OAUTH_PROVIDERS configures it."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

# Provider names appear in URLs and in sessions.method ("oauth:<name>", 32 characters).
PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,25}$")


GITHUB_SCOPES = ["read:user", "user:email"]


OIDC_SCOPES = ["openid", "email", "profile"]


class OAuthProvider(BaseModel):
    """One social sign-in provider: any OpenID Connect issuer (discovery, ID tokens), or
    GitHub (OAuth 2 without ID tokens: the user comes from its REST API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["oidc", "github"]
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    # oidc: the issuer; its /.well-known/openid-configuration names everything else.
    issuer: str | None = None
    # Defaults: openid email profile (oidc), read:user user:email (github).
    scopes: list[str] | None = None
    # github: overridable so that a GitHub Enterprise server (or a test double) can be used.
    authorization_endpoint: str = "https://github.com/login/oauth/authorize"
    token_endpoint: str = "https://github.com/login/oauth/access_token"  # noqa: S105 (a URL)
    api_url: str = "https://api.github.com"
    # Shown to people (e.g. "Sign in with Google"); defaults to the provider's key.
    display_name: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> OAuthProvider:
        if self.kind == "oidc" and not self.issuer:
            raise ValueError("an oidc provider needs its issuer URL")
        if self.kind == "github" and self.client_secret is None:
            raise ValueError("GitHub needs the client secret")
        for url in (self.issuer, self.authorization_endpoint, self.token_endpoint, self.api_url):
            if url is not None and urlsplit(url).scheme not in ("https", "http"):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return self

    @property
    def scope_list(self) -> list[str]:
        if self.scopes is not None:
            return list(self.scopes)
        return list(OIDC_SCOPES if self.kind == "oidc" else GITHUB_SCOPES)
