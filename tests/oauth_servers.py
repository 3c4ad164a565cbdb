"""Real OAuth servers for the social sign-in tests, served by uvicorn on free ports:

- OidcProvider: an OpenID Connect provider (discovery, JWKS, authorize that approves a
  configurable test user at once, token endpoint with PKCE, UserInfo), issuing RS256 or
  ES256 ID tokens with Authlib's and joserfc's helpers; knobs make it misbehave (wrong
  nonce, a foreign signing key, expired tokens, wrong aud/iss, refusals).
- GitHubFake: what passkey-api uses of GitHub (authorize, access_token, /user,
  /user/emails), with GitHub's quirks (errors with status 200).

Codes are single use and bound to the client, redirect URI and PKCE challenge, as a
real provider's are, so that replays are refused by the provider itself.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "passkey-api-test"
CLIENT_SECRET = "test-client-secret"


@dataclass
class TestUser:
    sub: str = field(default_factory=lambda: "sub-" + secrets.token_hex(6))
    email: str | None = field(default_factory=lambda: f"{secrets.token_hex(5)}@example.org")
    email_verified: bool = True
    name: str | None = "Test Person"
    preferred_username: str | None = None


@dataclass
class Knobs:
    """How the provider behaves for the next sign-ins (reset for every test)."""

    user: TestUser = field(default_factory=TestUser)
    alg: str = "RS256"
    # Sign the ID token with a key that is not in the JWKS; same kid or an unknown one.
    foreign_key: bool = False
    foreign_kid: str | None = None
    expired: bool = False
    nonce: str | None = None  # a nonce other than the one asked for
    audience: str | list[str] | None = None
    # Also name this party in `azp` (what makes Authlib accept extra audiences).
    authorized_party: str | None = None
    issuer: str | None = None
    # Seconds before now the ID token says it was issued (exp stays in the future).
    issued_ago: int | None = None
    # Merged into the discovery document (to make it malformed).
    discovery: dict[str, Any] = field(default_factory=dict)
    # The token endpoint's raw answer instead of a token: (body, headers).
    token_answer: tuple[bytes, dict[str, str]] | None = None
    # Answer the authorization request with ?error=...
    deny: str | None = None
    # Keep the email out of the ID token (it is in UserInfo).
    email_only_in_userinfo: bool = False


class OidcProvider:
    def __init__(self) -> None:
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "use": "sig"})
        self.ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})
        self.knobs = Knobs()
        self.redirect_uris: set[str] = set()
        self.issuer = ""  # set once the server has its port
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        self.token_requests = 0
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )

    def reset(self) -> None:
        self.knobs = Knobs()

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
            | self.knobs.discovery
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.rsa, self.ec]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or redirect_uri not in self.redirect_uris:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        state = query.get("state", "")
        if self.knobs.deny:
            return _back(redirect_uri, error=self.knobs.deny, state=state)
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": query.get("code_challenge", ""),
            "nonce": query.get("nonce"),
            "user": replace(self.knobs.user),
        }
        return _back(redirect_uri, code=code, state=state)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        client_id, secret = _basic(request.headers.get("authorization", ""))
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = parse_qs((await request.body()).decode())
        value = {k: v[0] for k, v in form.items()}
        grant = self._codes.pop(value.get("code", ""), None)  # single use
        if (
            grant is None
            or value.get("grant_type") != "authorization_code"
            or value.get("redirect_uri") != grant["redirect_uri"]
            or not compare_s256_code_challenge(value.get("code_verifier", ""), grant["challenge"])
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if self.knobs.token_answer is not None:
            body, headers = self.knobs.token_answer
            return Response(body, headers=headers, media_type="application/json")
        user: TestUser = grant["user"]
        access_token = secrets.token_urlsafe(24)
        self._tokens[access_token] = {"user": user}
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self.id_token(user, grant["nonce"], access_token),
            }
        )

    async def userinfo(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        found = self._tokens.get(token)
        if found is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        user: TestUser = found["user"]
        return JSONResponse(
            {"sub": user.sub, "email": user.email, "email_verified": user.email_verified}
        )

    def id_token(self, user: TestUser, nonce: str | None, access_token: str) -> str:
        knobs = self.knobs
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": knobs.issuer or self.issuer,
            "sub": user.sub,
            "aud": knobs.audience or CLIENT_ID,
            "iat": now - 7200 if knobs.expired else now - (knobs.issued_ago or 0),
            "exp": now - 3600 if knobs.expired else now + 300,
            "nonce": knobs.nonce or nonce,
            "at_hash": create_half_hash(access_token, knobs.alg).decode(),
        }
        if knobs.authorized_party:
            claims["azp"] = knobs.authorized_party
        if user.name:
            claims["name"] = user.name
        if user.preferred_username:
            claims["preferred_username"] = user.preferred_username
        if user.email and not knobs.email_only_in_userinfo:
            claims["email"] = user.email
            claims["email_verified"] = user.email_verified
        key: RSAKey | ECKey = self.rsa if knobs.alg == "RS256" else self.ec
        if knobs.foreign_key:
            kid = knobs.foreign_kid or key.kid or ""
            key = (
                RSAKey.generate_key(2048, parameters={"kid": kid})
                if knobs.alg == "RS256"
                else ECKey.generate_key("P-256", parameters={"kid": kid})
            )
        return jwt.encode({"alg": knobs.alg, "kid": key.kid}, claims, key)


@dataclass
class GitHubUser:
    id: int = field(default_factory=lambda: secrets.randbelow(10**9))
    login: str = field(default_factory=lambda: "octo-" + secrets.token_hex(3))
    name: str | None = "Octo Cat"
    email: str | None = field(default_factory=lambda: f"{secrets.token_hex(5)}@example.net")
    email_verified: bool = True


class GitHubFake:
    def __init__(self) -> None:
        self.user = GitHubUser()
        self.base_url = ""  # set once the server has its port
        self.redirect_uris: set[str] = set()
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, GitHubUser] = {}
        self.app = Starlette(
            routes=[
                Route("/login/oauth/authorize", self.authorize),
                Route("/login/oauth/access_token", self.access_token, methods=["POST"]),
                Route("/api/user", self.api_user),
                Route("/api/user/emails", self.api_emails),
            ]
        )

    def reset(self) -> None:
        self.user = GitHubUser()

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or redirect_uri not in self.redirect_uris:
            return JSONResponse({"error": "redirect_uri_mismatch"}, status_code=400)
        code = secrets.token_hex(10)
        self._codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": query.get("code_challenge", ""),
            "user": replace(self.user),
        }
        return _back(redirect_uri, code=code, state=query.get("state", ""))

    async def access_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "incorrect_client_credentials"})
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or not compare_s256_code_challenge(
            form.get("code_verifier", ""), grant["challenge"]
        ):
            # GitHub's way: 200 with an error member.
            return JSONResponse({"error": "bad_verification_code"})
        token = "gho_" + secrets.token_hex(16)
        self._tokens[token] = grant["user"]
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": "user:email"})

    def _user(self, request: Request) -> GitHubUser | None:
        return self._tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))

    async def api_user(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse({"id": user.id, "login": user.login, "name": user.name, "email": None})

    async def api_emails(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        emails = [{"email": "old@example.com", "primary": False, "verified": True}]
        if user.email:
            emails.append({"email": user.email, "primary": True, "verified": user.email_verified})
        return JSONResponse(emails)


def _back(redirect_uri: str, **params: str) -> Response:
    return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=302)


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test OAuth server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def provider_settings(oidc: OidcProvider, github: GitHubFake) -> dict[str, Any]:
    """PASSKEY_OAUTH_PROVIDERS (oauth_providers) for the test's OpenID Connect provider and
    GitHub fake."""
    base = github.base_url
    return {
        "oidc": {
            "kind": "oidc",
            "issuer": oidc.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "display_name": "Test OIDC",
        },
        "github": {
            "kind": "github",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "authorization_endpoint": f"{base}/login/oauth/authorize",
            "token_endpoint": f"{base}/login/oauth/access_token",
            "api_url": f"{base}/api",
            "display_name": "GitHub",
        },
    }
