"""Keys derived from PASSKEY_SECRET_KEY, one per use (HKDF-SHA256, RFC 5869, with a label
of its own as `info`), so that a value made with one key says nothing about another."""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The decoy credentials given for unknown usernames (ceremonies/decoys.py).
DECOY_CREDENTIALS = "passkey-api decoy credential ids"


@lru_cache(maxsize=16)
def derive(secret_key: bytes, label: str) -> bytes:
    """A 32-byte key for one use of the secret key; the same for the same inputs."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode("ascii")).derive(
        secret_key
    )
