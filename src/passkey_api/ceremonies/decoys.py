"""Decoy credentials: what username-first sign-in lists for a username nobody has, so that
the options never tell whether an account exists. A name's decoys are as many as a real
account's passkeys tend to be (one, sometimes two, rarely three), each of a shape of its
own, and the same every time the name is asked for.

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
# keys and phones. Each decoy picks one by its own MAC, so it looks like some real passkey.
_SHAPES: tuple[tuple[int, list[str]], ...] = (
    (16, ["hybrid", "internal"]),
    (20, ["internal"]),
    (32, ["hybrid", "internal"]),
    (64, ["nfc", "usb"]),
    (48, ["usb"]),
)
_SHORTEST = min(length for length, _ in _SHAPES)

# How many decoys a name lists, by one byte of its MAC (out of 256): most accounts hold one
# passkey, some a second (a phone and a laptop, or a synced passkey and a security key),
# few a third. Were every decoy alone, any answer listing two or more would prove an
# account; drawn like this, the count tells little (no mix fits every deployment, and an
# account with four or more passkeys still shows, as a rare account does anyway).
_ONE_BELOW, _TWO_BELOW = 192, 243  # 75 % one, 20 % two, 5 % three


def _key(seed: bytes) -> bytes:
    # No other use of the seed shares this key (keys.py, which caches it).
    return keys.derive(seed, keys.DECOY_CREDENTIALS)


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"tag:" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def descriptors(seed: bytes, username_key: str) -> list[Descriptor]:
    """The decoys of a username: the same every time it is asked for."""
    key = _key(seed)
    name = username_key.encode("utf-8", "surrogatepass")
    draw = hmac.new(key, b"count:" + name, hashlib.sha256).digest()[0]
    count = 1 if draw < _ONE_BELOW else 2 if draw < _TWO_BELOW else 3
    listed = []
    for index in range(count):
        prefix = b"id:" if index == 0 else b"id%d:" % index
        digest = hmac.new(key, prefix + name, hashlib.sha512).digest()
        length, transports = _SHAPES[digest[0] % len(_SHAPES)]
        body = digest[1 : 1 + length - _TAG_BYTES]
        listed.append((body + _tag(key, body), list(transports)))
    return listed


def is_decoy(seed: bytes, credential_id: bytes) -> bool:
    """Whether the id is a decoy (made with this seed)."""
    if len(credential_id) < _SHORTEST:
        return False
    body, tag = credential_id[:-_TAG_BYTES], credential_id[-_TAG_BYTES:]
    return hmac.compare_digest(tag, _tag(_key(seed), body))
