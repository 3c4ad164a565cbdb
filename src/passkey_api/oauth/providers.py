"""Talking to the providers: authorization URLs, the code-for-token exchange, ID-token
validation (OpenID Connect) and GitHub's user API. The OAuth and JOSE work is Authlib's
(and joserfc's, Authlib's JOSE library); this module only moves the bytes, through one
httpx client owned by the app's lifespan, and turns failures into problem codes.

Discovery documents and key sets are cached for PASSKEY_OAUTH_METADATA_TTL; an ID token
signed with a key id the cached set does not hold fetches the set once more (the provider
rotated its keys) before it is refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, cast

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from passkey_api.config import OAuthProvider, Settings
from passkey_api.errors import (
    OAuthCodeRejected,
    OAuthIdTokenExpired,
    OAuthIdTokenInvalid,
    OAuthNonceMismatch,
    OAuthProviderError,
    OAuthProviderUnavailable,
)

# Clock skew tolerated on exp/iat/nbf.
LEEWAY_SECONDS = 60
# Only asymmetric signatures: "none" and HMAC (keyed with the client secret) are refused.
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Token endpoint errors that mean "this code is no good" rather than "we are misconfigured";
# GitHub says bad_verification_code, with status 200.
_CODE_ERRORS = frozenset({"invalid_grant", "bad_verification_code"})
# Answers larger than this are not provider documents.
MAX_DOCUMENT_BYTES = 1_000_000


@dataclass(frozen=True)
class ProviderAccount:
    """Who the provider says signed in."""

    subject: str
    email: str | None
    email_verified: bool
    username: str | None
    name: str | None


class OAuthClients:
    """The outgoing side of social sign-in; one per process (see resources.py)."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        self._settings = settings
        self._http = httpx.AsyncClient(
            timeout=settings.oauth_timeout,
            follow_redirects=False,
            headers={"User-Agent": "passkey-api", "Accept": "application/json"},
            transport=transport,
        )
        # url -> (fetched at, document)
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    async def close(self) -> None:
        await self._http.aclose()

    # --- the authorization request -----------------------------------------------------

    async def authorization_url(
        self,
        name: str,
        provider: OAuthProvider,
        *,
        state: str,
        nonce: str,
        code_challenge: str,
    ) -> str:
        if provider.kind == "oidc":
            endpoint = str((await self._metadata(provider))["authorization_endpoint"])
            extra = {"nonce": nonce}
        else:
            endpoint, extra = provider.authorization_endpoint, {}
        return str(
            add_params_to_uri(
                endpoint,
                [
                    ("response_type", "code"),
                    ("client_id", provider.client_id),
                    ("redirect_uri", self._settings.oauth_redirect_uri(name)),
                    ("scope", " ".join(provider.scope_list)),
                    ("state", state),
                    ("code_challenge", code_challenge),
                    ("code_challenge_method", "S256"),
                    *extra.items(),
                ],
            )
        )

    # --- the callback --------------------------------------------------------------------

    async def account(
        self, name: str, provider: OAuthProvider, *, code: str, code_verifier: str, nonce: str
    ) -> ProviderAccount:
        """Exchange the code (with the PKCE verifier) and say who signed in."""
        if provider.kind == "oidc":
            metadata = await self._metadata(provider)
            token = await self._token(
                name, provider, str(metadata["token_endpoint"]), code, code_verifier, metadata
            )
            return await self._oidc_account(provider, metadata, token, nonce)
        token = await self._token(
            name, provider, provider.token_endpoint, code, code_verifier, metadata=None
        )
        return await self._github_account(provider, token)

    async def _token(
        self,
        name: str,
        provider: OAuthProvider,
        endpoint: str,
        code: str,
        code_verifier: str,
        metadata: dict[str, Any] | None,
    ) -> dict[str, Any]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self._settings.oauth_redirect_uri(name),
            code_verifier=code_verifier,
        )
        secret = provider.client_secret.get_secret_value() if provider.client_secret else None
        uri, headers, body = ClientAuth(
            provider.client_id, secret, _auth_method(provider, metadata, secret)
        ).prepare("POST", endpoint, {"Content-Type": "application/x-www-form-urlencoded"}, body)
        response = await self._send("POST", uri, headers=headers, content=body)
        document = _json_object(response, accept_errors=True)
        error = document.get("error")
        if error is not None or response.status_code != 200:
            if error in _CODE_ERRORS:
                raise OAuthCodeRejected()
            raise OAuthProviderError(f"The token endpoint answered {response.status_code}.")
        if not isinstance(document.get("access_token"), str):
            raise OAuthProviderError("The token endpoint gave no access token.")
        return document

    async def _oidc_account(
        self,
        provider: OAuthProvider,
        metadata: dict[str, Any],
        token: dict[str, Any],
        nonce: str,
    ) -> ProviderAccount:
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OAuthIdTokenInvalid("The provider gave no ID token.")
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in SIGNING_ALGORITHMS] or ["RS256"]
        try:
            try:
                decoded = jwt.decode(id_token, await self._keys(metadata), algorithms)
            except InvalidKeyIdError:
                keys = await self._keys(metadata, refresh=True)
                decoded = jwt.decode(id_token, keys, algorithms)
        except JoseError as exc:
            raise OAuthIdTokenInvalid("The ID token's signature did not verify.") from exc
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": metadata["issuer"]},
                "aud": {"essential": True, "value": provider.client_id},
                "sub": {"essential": True},
            },
            {
                "nonce": nonce,
                "client_id": provider.client_id,
                "access_token": token["access_token"],
            },
        )
        try:
            claims.validate(now=int(time.time()), leeway=LEEWAY_SECONDS)
        except ExpiredTokenError as exc:
            raise OAuthIdTokenExpired() from exc
        except ClaimError as exc:
            if exc.claim == "nonce":
                raise OAuthNonceMismatch() from exc
            raise OAuthIdTokenInvalid(f"The ID token's {exc.claim!r} claim is wrong.") from exc
        info: dict[str, Any] = dict(claims)
        # OIDC Core 3.1.3.7: Authlib accepts extra audiences when azp names us; an ID token
        # that is also meant for others is not one we take.
        if info.get("aud") not in (provider.client_id, [provider.client_id]):
            raise OAuthIdTokenInvalid("The ID token is also meant for other audiences.")
        # Issued during this flow: not older than a flow can live (plus the clock skew).
        issued_at = info.get("iat")
        oldest = time.time() - self._settings.oauth_flow_ttl.total_seconds() - LEEWAY_SECONDS
        if (
            not isinstance(issued_at, int | float)
            or isinstance(issued_at, bool)
            or issued_at < oldest
        ):
            raise OAuthIdTokenInvalid("The ID token was issued too long ago.")
        subject = info["sub"]
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise OAuthIdTokenInvalid("The ID token's subject is not an identifier.")
        if "email" not in info and metadata.get("userinfo_endpoint"):
            info = await self._userinfo(str(metadata["userinfo_endpoint"]), token, info)
        return ProviderAccount(
            subject=subject,
            email=_email(info.get("email")),
            email_verified=info.get("email_verified") in (True, "true"),
            username=_text(info.get("preferred_username"), 64),
            name=_text(info.get("name"), 64),
        )

    async def _userinfo(
        self, endpoint: str, token: dict[str, Any], claims: dict[str, Any]
    ) -> dict[str, Any]:
        """Some providers keep the email out of the ID token; UserInfo has it. Its `sub`
        must be the ID token's (OpenID Connect Core 5.3.2)."""
        response = await self._send(
            "GET", endpoint, headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        info = _json_object(response)
        if info.get("sub") != claims["sub"]:
            raise OAuthProviderError("UserInfo describes another user.")
        return {
            **claims,
            "email": info.get("email"),
            "email_verified": info.get("email_verified"),
            "preferred_username": claims.get("preferred_username")
            or info.get("preferred_username"),
            "name": claims.get("name") or info.get("name"),
        }

    async def _github_account(
        self, provider: OAuthProvider, token: dict[str, Any]
    ) -> ProviderAccount:
        headers = {
            "Authorization": f"Bearer {token['access_token']}",
            "Accept": "application/vnd.github+json",
        }
        api = provider.api_url.rstrip("/")
        user = _json_object(await self._send("GET", f"{api}/user", headers=headers))
        if not isinstance(user.get("id"), int):
            raise OAuthProviderError("GitHub's /user has no id.")
        emails = _json(await self._send("GET", f"{api}/user/emails", headers=headers))
        primary = next(
            (
                e
                for e in (emails if isinstance(emails, list) else [])
                if isinstance(e, dict) and e.get("primary") and e.get("verified")
            ),
            None,
        )
        return ProviderAccount(
            # The numeric id: a login can be renamed and then taken by someone else.
            subject=str(user["id"]),
            email=_email(primary.get("email")) if primary else None,
            email_verified=primary is not None,
            username=_text(user.get("login"), 64),
            name=_text(user.get("name"), 64),
        )

    # --- documents, cached ---------------------------------------------------------------

    async def _metadata(self, provider: OAuthProvider) -> dict[str, Any]:
        assert provider.issuer is not None  # oidc providers have one (config/providers.py)
        issuer = provider.issuer.rstrip("/")
        document = await self._cached(f"{issuer}/.well-known/openid-configuration")
        # OpenID Connect Discovery 4.3: the document must be the issuer's own.
        if document.get("issuer") != provider.issuer and document.get("issuer") != issuer:
            raise OAuthProviderError("The discovery document names another issuer.")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(field), str):
                raise OAuthProviderError(f"The discovery document has no {field}.")
        if not isinstance(document.get("userinfo_endpoint", ""), str):
            raise OAuthProviderError("The discovery document's userinfo_endpoint is not a URL.")
        for field in (
            "id_token_signing_alg_values_supported",
            "token_endpoint_auth_methods_supported",
        ):
            value = document.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise OAuthProviderError(f"The discovery document's {field} is not a list.")
        return document

    async def _keys(self, metadata: dict[str, Any], *, refresh: bool = False) -> KeySet:
        document = await self._cached(str(metadata["jwks_uri"]), refresh=refresh)
        try:
            return KeySet.import_key_set(cast(Any, document))
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OAuthProviderError("The provider's key set is malformed.") from exc

    async def _cached(self, url: str, *, refresh: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        hit = self._cache.get(url)
        ttl = self._settings.oauth_metadata_ttl.total_seconds()
        if hit is not None and not refresh and now - hit[0] < ttl:
            return hit[1]
        document = _json_object(await self._send("GET", url))
        self._cache[url] = (now, document)
        return document

    async def _send(self, method: str, url: str, **kwargs: Any) -> Answer:
        """The provider's answer, read up to MAX_DOCUMENT_BYTES (decoded): a provider that
        misbehaves is an OAuthProviderError, one that cannot be reached unavailable."""
        try:
            async with self._http.stream(method, url, **kwargs) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise OAuthProviderError("The provider's answer is too large.")
                return Answer(status_code=response.status_code, content=bytes(body))
        except httpx.UnsupportedProtocol as exc:  # a discovery document naming ftp://...
            raise OAuthProviderError("The provider named an unusable URL.") from exc
        except httpx.TransportError as exc:  # timeouts, refused connections, TLS
            raise OAuthProviderUnavailable() from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # undecodable bodies, bad URLs
            raise OAuthProviderError("The provider's answer could not be read.") from exc


@dataclass(frozen=True)
class Answer:
    """What is kept of a provider's HTTP answer."""

    status_code: int
    content: bytes


def _auth_method(
    provider: OAuthProvider, metadata: dict[str, Any] | None, secret: str | None
) -> str:
    if secret is None:
        return "none"  # a public client: PKCE is its proof
    if provider.kind == "github":
        return "client_secret_post"
    supported = (metadata or {}).get("token_endpoint_auth_methods_supported")
    # The default of RFC 8414 is client_secret_basic.
    if not supported or "client_secret_basic" in supported:
        return "client_secret_basic"
    return "client_secret_post"


def _json(response: Answer) -> Any:
    if response.status_code >= 500:
        raise OAuthProviderError(f"The provider answered {response.status_code}.")
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise OAuthProviderError("The provider's answer is not JSON.") from exc


def _json_object(response: Answer, *, accept_errors: bool = False) -> dict[str, Any]:
    if response.status_code >= 400 and not accept_errors:
        raise OAuthProviderError(f"The provider answered {response.status_code}.")
    document = _json(response)
    if not isinstance(document, dict):
        raise OAuthProviderError("The provider's answer is not a JSON object.")
    return document


def _text(value: object, limit: int) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def _email(value: object) -> str | None:
    """Lowercased for comparison; anything that is not an address is no email."""
    if not isinstance(value, str) or "@" not in value or len(value) > 320:
        return None
    return value.strip().lower()
