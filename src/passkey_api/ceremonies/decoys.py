"""Decoy credentials: what username-first sign-in lists for a username nobody has, so that
the options never tell whether an account exists.

A decoy must then pass for a real credential wherever it can be shown again: a forged
assertion for it, in any sign-in, is refused as a bad signature is (not as an unknown
credential), and a registration presenting its id is refused as a registered one. So a
decoy id is recognisable without its username: its last 8 bytes are a MAC of the rest.
A real credential id ends that way by chance once in 2**64.

Both MACs are keyed with a key of their own, derived (keys.derive: HKDF-SHA256, label
keys.DECOY_CREDENTIALS) from the decoy seed: 32 random bytes made once per database and
the same for every replica (storage/decoy_seed.py), not PASSKEY_SECRET_KEY. A real
account's credentials stay the same when the secret key is rotated, so its decoys must
too: keyed with the secret key, every decoy changed at a rotation, and comparing a name's
options across one told whether it had an account (and once the previous key was
dropped, a decoy kept from before answered as an unknown credential). Whoever knows the
secret key, leaked or a placeholder, cannot tell a decoy from a real passkey either; the
seed is as secret as the database that holds it.
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


def _key(seed: bytes) -> bytes:
    # No other use of the seed shares this key (keys.py, which caches it).
    return keys.derive(seed, keys.DECOY_CREDENTIALS)


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"tag:" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def descriptor(seed: bytes, username_key: str) -> Descriptor:
    """The decoy of a username: the same every time it is asked for."""
    key = _key(seed)
    name = username_key.encode("utf-8", "surrogatepass")
    digest = hmac.new(key, b"id:" + name, hashlib.sha512).digest()
    length, transports = _SHAPES[digest[0] % len(_SHAPES)]
    body = digest[1 : 1 + length - _TAG_BYTES]
    return body + _tag(key, body), list(transports)


def is_decoy(seed: bytes, credential_id: bytes) -> bool:
    """Whether the id is a decoy (made with this seed)."""
    if len(credential_id) < _SHORTEST:
        return False
    body, tag = credential_id[:-_TAG_BYTES], credential_id[-_TAG_BYTES:]
    return hmac.compare_digest(tag, _tag(_key(seed), body))
