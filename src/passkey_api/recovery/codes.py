"""Recovery codes: made, read back and hashed (no I/O).

A code is 12 symbols of a 32-symbol alphabet without look-alikes (no 0/O, 1/I): 60 bits,
shown as XXXX-XXXX-XXXX. What people type back is normalised (case, spaces, dashes,
full-width forms). Only an HMAC-SHA256 keyed with the secret key is stored, bound to the
user, so a copy of the table alone lets nobody try codes offline.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
import uuid

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 12
GROUP = 4
COUNT = 10
# Domain separation from the other uses of the secret key (token signatures).
_CONTEXT = b"passkey-api recovery code\x00"


def new_code() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(symbols[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def new_codes(count: int = COUNT) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:  # a repeat among 10 of 2^60 never happens, but costs nothing
        codes.add(new_code())
    return sorted(codes)


def normalize(typed: str) -> str:
    """The code as stored: upper case, without separators. Anything else in it simply
    makes a code that matches nothing, at the same cost as a wrong one."""
    folded = unicodedata.normalize("NFKC", typed).upper()
    return "".join(ch for ch in folded if ch not in " -\t\u00a0")


def digest(secret_key: bytes, user_id: uuid.UUID, typed: str) -> bytes:
    message = _CONTEXT + user_id.bytes + normalize(typed).encode("utf-8", "surrogatepass")
    return hmac.new(secret_key, message, hashlib.sha256).digest()
