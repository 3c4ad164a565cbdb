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
    return verify(key, value)[0]


_REFUSED: tuple[str | None, bool] = (None, False)


def verify(key: bytes, value: str) -> tuple[str | None, bool]:
    """unsign(), and whether the value was signed with a key the secret key replaced
    (PASSKEY_SECRET_KEY_PREVIOUS): then it is to be signed again with the current one,
    wherever it can be, so that the previous key can be dropped sooner."""
    if not value.isascii():
        return _REFUSED
    token, sep, mac = value.partition(".")
    if not sep or len(token) != 43 or len(mac) != 43:
        return _REFUSED
    accepted = keys.accepted(key)
    if hmac.compare_digest(_mac(accepted[0], token), mac):
        return token, False  # the current key: the common case
    for previous in accepted[1:]:
        if hmac.compare_digest(_mac(previous, token), mac):
            return token, True
    return _REFUSED
