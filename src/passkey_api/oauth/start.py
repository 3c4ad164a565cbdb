"""Starting a social sign-in or a link: the flow remembered in the challenge store
(flows.py), the browser sent to the provider with PKCE (and a nonce for OpenID Connect),
and where it may come back to (check_redirect)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from passkey_api.config import OAuthProvider, Settings, origin_of
from passkey_api.errors import (
    ApiError,
    OAuthCodeChallengeRequired,
    OAuthProviderUnknown,
    RedirectNotAllowed,
    ValidationFailed,
)
from passkey_api.kit import metrics
from passkey_api.oauth import flows
from passkey_api.oauth.flows import Flow, Mode
from passkey_api.oauth.providers import OAuthClients
from passkey_api.oauth.signed_in import SignedIn
from passkey_api.sessions.service import ActiveSession
from passkey_api.storage.challenges import ChallengeStore
from passkey_api.storage.models import Session

# RFC 7636 4.2: BASE64URL(SHA256(verifier)) is 43 characters.
CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


MAX_REDIRECT_LENGTH = 2048


@dataclass(frozen=True)
class Redirect:
    """Where the browser goes next, and what it carries there."""

    location: str
    # A new or renewed browser-binding cookie for the flow that was just started.
    binding: str | None = None
    # Cookie mode: the session cookie to set.
    signed_in: SignedIn | None = None
    # Link: the session that finished it, slid forward by this request (its cookie is
    # sent again with the new expiry).
    renewed: Session | None = None


@dataclass(frozen=True)
class LinkStarted:
    authorize_url: str
    binding: str


def provider_of(settings: Settings, name: str) -> OAuthProvider:
    provider = settings.oauth_providers.get(name)
    if provider is None:
        raise OAuthProviderUnknown(f"No sign-in provider {name!r} is configured.")
    return provider


async def begin_sign_in(
    store: ChallengeStore,
    settings: Settings,
    oauth: OAuthClients,
    *,
    provider: str,
    redirect_to: str,
    mode: Mode,
    code_challenge: str | None,
    binding: str | None,
    secret_key: bytes,
) -> Redirect:
    """The provider's authorization URL; once redirect_to is known to be ours, any
    failure goes back there as `?error=<code>`."""
    config = provider_of(settings, provider)
    check_redirect(settings, redirect_to, mode)
    if code_challenge is not None and (mode != "code" or not CODE_CHALLENGE.match(code_challenge)):
        raise ValidationFailed("code_challenge is for mode=code: BASE64URL(SHA-256(verifier)).")
    if mode == "code" and code_challenge is None:
        # The one-time code lands in a URL another app may be able to read (a custom
        # scheme is not owned by anyone): only the app that began the flow, holding the
        # verifier, may exchange it (RFC 8252 8.1, RFC 9700 2.1.1).
        raise OAuthCodeChallengeRequired()
    try:
        url, binding = await _begin(
            store,
            settings,
            oauth,
            config,
            secret_key,
            binding,
            provider=provider,
            purpose="sign_in",
            mode=mode,
            redirect_to=redirect_to,
            code_challenge=code_challenge,
        )
    except ApiError as exc:
        metrics.ceremony("oauth", "failed", exc.code)
        return Redirect(location=with_params(redirect_to, error=exc.code))
    return Redirect(location=url, binding=binding)


async def begin_link(
    store: ChallengeStore,
    settings: Settings,
    oauth: OAuthClients,
    active: ActiveSession,
    *,
    provider: str,
    redirect_to: str,
    binding: str | None,
    secret_key: bytes,
) -> LinkStarted:
    """Start linking a provider account to the signed-in user (after a step-up)."""
    config = provider_of(settings, provider)
    check_redirect(settings, redirect_to, "cookie")
    url, binding = await _begin(
        store,
        settings,
        oauth,
        config,
        secret_key,
        binding,
        provider=provider,
        purpose="link",
        mode="cookie",
        redirect_to=redirect_to,
        user_id=str(active.user.id),
        session_id=str(active.session.id),
    )
    return LinkStarted(authorize_url=url, binding=binding)


async def _begin(
    store: ChallengeStore,
    settings: Settings,
    oauth: OAuthClients,
    config: OAuthProvider,
    secret_key: bytes,
    binding: str | None,
    *,
    provider: str,
    purpose: flows.Purpose,
    mode: Mode,
    redirect_to: str,
    user_id: str | None = None,
    session_id: str | None = None,
    code_challenge: str | None = None,
) -> tuple[str, str]:
    # One binding per browser, kept across flows, so that two tabs can each sign in
    # (43 base64url characters, the shape of every secret here).
    if binding is None or not CODE_CHALLENGE.match(binding):
        binding = flows.new_secret()
    state, nonce, verifier = flows.new_secret(), flows.new_secret(), flows.new_secret()
    url = await oauth.authorization_url(
        provider,
        config,
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
    )
    flow = Flow(
        kind="oauth_flow",
        provider=provider,
        purpose=purpose,
        mode=mode,
        redirect_to=redirect_to,
        nonce=nonce,
        code_verifier=verifier,
        browser=flows.browser_hash(binding),
        user_id=user_id,
        session_id=session_id,
        code_challenge=code_challenge,
    )
    await flows.put_flow(store, secret_key, state, flow, settings.oauth_flow_ttl)
    metrics.ceremony("oauth", "started")
    return url, binding


def check_redirect(settings: Settings, redirect_to: str, mode: Mode) -> None:
    """Browsers (mode=cookie) go back to a page on one of PASSKEY_ORIGINS; native apps
    (mode=code) only to one of their exact PASSKEY_OAUTH_APP_REDIRECTS: a one-time code
    delivered to a web page would leak through its history, logs and Referer."""
    if mode == "code":
        if redirect_to not in settings.oauth_app_redirects:
            raise RedirectNotAllowed("mode=code goes back only to PASSKEY_OAUTH_APP_REDIRECTS.")
        return
    try:
        parts = urlsplit(redirect_to)
        # Serialised like PASSKEY_ORIGINS (config/origins.py): [::1] and [0:0::1] are one origin.
        origin = origin_of(parts)
    except ValueError:
        raise RedirectNotAllowed() from None
    if (
        len(redirect_to) > MAX_REDIRECT_LENGTH
        or parts.scheme not in ("https", "http")
        or parts.username is not None
        or parts.password is not None
        or parts.fragment
        or "\\" in redirect_to
        or any(unicodedata.category(ch) == "Cc" for ch in redirect_to)
    ):
        raise RedirectNotAllowed()
    if origin not in settings.origins:
        raise RedirectNotAllowed(f"{origin} is not one of the allowed origins.")


def with_params(url: str, **params: str) -> str:
    return str(add_params_to_uri(url, list(params.items())))
