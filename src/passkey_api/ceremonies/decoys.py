"""Decoy credentials: what username-first sign-in lists for a username nobody has, so that
the options never tell whether an account exists.

A decoy must then pass for a real credential wherever it can be shown again: a forged
assertion for it, in any sign-in, is refused as a bad signature is (not as an unknown
credential), and a registration presenting its id is refused as a registered one. So a
decoy id is recognisable without its username: its last 8 bytes are a MAC of the rest.
A real credential id ends that way by chance once in 2**64.

Both MACs are keyed with a key of their own, derived from the secret key under a label
of its own (keys.derive: HKDF-SHA256, keys.DECOY_CREDENTIALS), so that no other use of
the secret key (session tokens, recovery codes) shares it, and whoever knows the
session-signing key alone (leaked, or a placeholder that production refuses) cannot tell
a decoy from a real passkey.

While the secret key is being rotated, decoys are made with the new key's, and a decoy
made with a previous key's (listed before the rotation) is still recognised as one.
"""

from __future__ import annotations

import hashlib
import hmac

from passkey_api.kit import keys

Descriptor = tuple[bytes, list[str]]

_TAG_BYTES = 8

# Shapes real credentials come in: (id length, transports) of platform passkeys, security
# keys and phones. A decoy picks one by the username, so it looks like some real account.
_SHAPES: tuple[tuple[int, list[str]], ...] = (
    (16, ["hybrid", "internal"]),
    (20, ["internal"]),
    (32, ["hybrid", "internal"]),
    (64, ["nfc", "usb"]),
    (48, ["usb"]),
)
_SHORTEST = min(length for length, _ in _SHAPES)


def _key(secret_key: bytes) -> bytes:
    # One way to derive keys from the secret key (keys.py, which caches it).
    return keys.derive(secret_key, keys.DECOY_CREDENTIALS)


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"tag:" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def descriptor(secret_key: bytes, username_key: str) -> Descriptor:
    """The decoy of a username: the same every time it is asked for."""
    key = _key(secret_key)
    seed = username_key.encode("utf-8", "surrogatepass")
    digest = hmac.new(key, b"id:" + seed, hashlib.sha512).digest()
    length, transports = _SHAPES[digest[0] % len(_SHAPES)]
    body = digest[1 : 1 + length - _TAG_BYTES]
    return body + _tag(key, body), list(transports)


def is_decoy(secret_key: bytes, credential_id: bytes) -> bool:
    """Whether the id is a decoy, made with the secret key or one it replaced."""
    if len(credential_id) < _SHORTEST:
        return False
    body, tag = credential_id[:-_TAG_BYTES], credential_id[-_TAG_BYTES:]
    return any(hmac.compare_digest(tag, _tag(_key(key), body)) for key in keys.accepted(secret_key))
