"""Keys derived from a secret (PASSKEY_SECRET_KEY, or the decoy seed), one per use
(HKDF-SHA256, RFC 5869, with a label of its own as `info`), so that a value made with one
key says nothing about another; and the keys a value made before may have been made with,
during a rotation of the secret key (`accepted`)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from passkey_api.config import SecretKey

# The decoy credentials given for unknown usernames (ceremonies/decoys.py), derived from
# the decoy seed (storage/decoy_seed.py), not from the secret key.
DECOY_CREDENTIALS = "passkey-api decoy credential ids"


@lru_cache(maxsize=16)
def derive(secret_key: bytes, label: str) -> bytes:
    """A 32-byte key for one use of a secret; the same for the same inputs."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode("ascii")).derive(
        secret_key
    )


def accepted(secret_key: bytes) -> tuple[bytes, ...]:
    """The keys to verify (or look up) a value made with the secret key under: the current
    one first, then those it replaced (PASSKEY_SECRET_KEY_PREVIOUS) while a rotation runs.
    Everything new is made with the current one: the secret key's own bytes."""
    return secret_key.accepted if isinstance(secret_key, SecretKey) else (secret_key,)
