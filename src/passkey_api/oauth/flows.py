"""What a social sign-in remembers between its redirects, in the challenge store (Redis
GETDEL or in-process): single use, expiring.

- A flow (state, nonce, PKCE verifier, where to go back, the browser it belongs to) lives
  from /authorize to /callback, keyed by its `state`.
- A one-time code (native apps) lives from /callback to /v1/oauth/exchange.

Keys are HMAC(secret key, kind + value): the store never holds a usable state or code,
and nobody can make a WebAuthn challenge that names one of these entries. While the secret
key is being rotated, entries are put under the new key and taken under it or, when not
there, under each key it replaced: a flow begun before the rotation still finishes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal

from passkey_api.kit import base64url, keys
from passkey_api.storage.challenges import ChallengeStore

Mode = Literal["cookie", "code"]
Purpose = Literal["sign_in", "link"]

# Values from the URL are refused before any lookup when they are not of our shape.
MAX_VALUE_LENGTH = 128


@dataclass(frozen=True)
class Flow:
    kind: Literal["oauth_flow"]
    provider: str
    purpose: Purpose
    mode: Mode
    redirect_to: str
    nonce: str
    code_verifier: str
    # SHA-256 of the browser-binding cookie set when the flow began.
    browser: str
    # link: the signed-in user the provider account is linked to, and the session that
    # asked (the callback must come with that same live session)
    user_id: str | None = None
    session_id: str | None = None
    # native apps (mode=code): the app's own PKCE challenge for the exchange (required)
    code_challenge: str | None = None


@dataclass(frozen=True)
class OneTimeCode:
    kind: Literal["oauth_code"]
    provider: str
    user_id: str
    passkey_suggested: bool
    code_challenge: str | None = None


def new_secret() -> str:
    return base64url.encode(secrets.token_bytes(32))


def browser_hash(binding: str) -> str:
    return hashlib.sha256(binding.encode("ascii", "replace")).hexdigest()


def same_browser(flow: Flow, binding: str | None) -> bool:
    if binding is None:
        return False
    return hmac.compare_digest(flow.browser, browser_hash(binding))


def _key(secret_key: bytes, kind: str, value: str) -> bytes:
    return hmac.new(secret_key, f"{kind}:{value}".encode(), hashlib.sha256).digest()


async def _take(
    store: ChallengeStore, secret_key: bytes, kind: str, value: str
) -> dict[str, Any] | None:
    """The entry put under the secret key, or under a key it replaced; taken (single use)."""
    for key in keys.accepted(secret_key):
        found = await store.take(_key(key, kind, value))
        if found is not None:
            return found
    return None


async def put_flow(
    store: ChallengeStore, secret_key: bytes, state: str, flow: Flow, ttl: timedelta
) -> None:
    await store.put(_key(secret_key, "oauth-flow", state), asdict(flow), ttl)


async def take_flow(store: ChallengeStore, secret_key: bytes, state: str) -> Flow | None:
    if not 0 < len(state) <= MAX_VALUE_LENGTH or not state.isascii():
        return None
    found = await _take(store, secret_key, "oauth-flow", state)
    if found is None or found.get("kind") != "oauth_flow":
        return None
    return Flow(**found)


async def put_code(
    store: ChallengeStore, secret_key: bytes, code: str, entry: OneTimeCode, ttl: timedelta
) -> None:
    await store.put(_key(secret_key, "oauth-code", code), asdict(entry), ttl)


async def take_code(store: ChallengeStore, secret_key: bytes, code: str) -> OneTimeCode | None:
    if not 0 < len(code) <= MAX_VALUE_LENGTH or not code.isascii():
        return None
    found = await _take(store, secret_key, "oauth-code", code)
    if found is None or found.get("kind") != "oauth_code":
        return None
    return OneTimeCode(**found)
