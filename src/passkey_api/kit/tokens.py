"""Session tokens: random secrets, signed for transport, stored only as a hash.

A token is 32 random bytes (256 bits). What a client holds is `<token>.<hmac>`, so a forged
or tampered value is refused by a constant-time compare before any database lookup; the
database keeps only SHA-256(token), so a leaked table lets nobody sign in. Values are
signed with the secret key; while it is being rotated, a value signed with a key it
replaced is still accepted (keys.accepted), and the token inside is the same.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from passkey_api.kit import base64url, keys

TOKEN_BYTES = 32


def new_token() -> str:
    return base64url.encode(secrets.token_bytes(TOKEN_BYTES))


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def _mac(key: bytes, token: str) -> str:
    return base64url.encode(hmac.new(key, token.encode("ascii"), hashlib.sha256).digest())


def sign(key: bytes, token: str) -> str:
    return f"{token}.{_mac(key, token)}"


def unsign(key: bytes, value: str) -> str | None:
    """The token inside a signed value, or None when the value was not signed by us: with
    the secret key, or one it replaced (keys.accepted)."""
    if not value.isascii():
        return None
    token, sep, mac = value.partition(".")
    if not sep or len(token) != 43 or len(mac) != 43:
        return None
    for accepted in keys.accepted(key):
        if hmac.compare_digest(_mac(accepted, token), mac):
            return token
    return None
