"""Recovery codes: made, read back and hashed (no I/O).

A code is 16 symbols of a 32-symbol alphabet without look-alikes (no 0/O, 1/I), shown as
LLLL-XXXX-XXXX-XXXX: the first group is its lookup, which names it among the user's codes
(stored as is), and the 12 symbols after it are the secret (60 bits). What people type
back is normalised (case, spaces, dashes, full-width forms).

Only a slow, salted hash of each is stored (scrypt, a random 16-byte salt per code, bound
to the user and the lookup): a copy of the table, even with the secret key, has to run
scrypt per code and guess (OWASP ASVS 5.0 6.5.2 for lookup secrets under 112 bits). The
lookup makes one attempt cost one scrypt, however many codes the user has.

Codes of 12 symbols were made before lookups and stored as an HMAC keyed with the secret
key (`digest`); they keep working until used or replaced by a new set, and across a
rotation of the secret key as long as the key they were made with is among the previous
ones (`digests`: one per accepted key).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from passkey_api.errors import RecoveryBusy
from passkey_api.kit import keys

T = TypeVar("T")

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LOOKUP_LENGTH = 4
LENGTH = 12  # the secret part
GROUP = 4
COUNT = 10
SALT_BYTES = 16
# scrypt with N=2^14, r=8 (16 MiB), p=1: about 30 ms of one core (measured: README).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
# Domain separation from the other uses of the secret key (token signatures).
_CONTEXT = b"passkey-api recovery code\x00"
_SLOW_CONTEXT = b"passkey-api recovery code scrypt\x00"
# scrypt runs on two threads of its own (each run holds 16 MiB and a core): a flood of
# attempts or of new sets waits in this pool's queue, holding no thread of the event
# loop's shared executor (which mail and the database driver need) and no connection.
_SLOW_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="recovery-scrypt")
# Slow hashes waiting or running on _SLOW_POOL, held by slow_turn(): its queue is bounded
# (an executor's own queue is not), so a flood is refused rather than delaying everyone.
# Only the event loop's thread changes it.
_queued = 0
# What a miss is checked against, so that it costs what a hit does.
_MISS_SALT = bytes(SALT_BYTES)


@dataclass(frozen=True)
class Typed:
    """A code of the current form, as typed, read back."""

    lookup: str
    secret: str


@dataclass(frozen=True)
class Stored:
    """What is kept of a code."""

    lookup: str
    salt: bytes
    code_hash: bytes


def _group(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP))


def new_code(lookup: str | None = None) -> str:
    if lookup is None:
        lookup = "".join(secrets.choice(ALPHABET) for _ in range(LOOKUP_LENGTH))
    return _group(lookup + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))


def new_codes(count: int = COUNT) -> list[str]:
    lookups: set[str] = set()
    while len(lookups) < count:  # distinct within a set: each names one row
        lookups.add("".join(secrets.choice(ALPHABET) for _ in range(LOOKUP_LENGTH)))
    return sorted(new_code(lookup) for lookup in lookups)


def normalize(typed: str) -> str:
    """The code as stored: upper case, without separators. Anything else in it simply
    makes a code that matches nothing, at the same cost as a wrong one."""
    folded = unicodedata.normalize("NFKC", typed).upper()
    return "".join(ch for ch in folded if ch not in " -\t\u00a0")


def parse(typed: str) -> Typed | None:
    """A code of the current form, or None (one made before lookups, or no code at all)."""
    symbols = normalize(typed)
    if len(symbols) != LOOKUP_LENGTH + LENGTH or not all(ch in ALPHABET for ch in symbols):
        return None
    return Typed(lookup=symbols[:LOOKUP_LENGTH], secret=symbols[LOOKUP_LENGTH:])


def slow_hash(user_id: uuid.UUID, typed: Typed, salt: bytes) -> bytes:
    """scrypt of the code, bound to its user and lookup. Blocking (~30 ms): run it with
    off_the_loop()."""
    password = _SLOW_CONTEXT + user_id.bytes + f"{typed.lookup}:{typed.secret}".encode("ascii")
    return hashlib.scrypt(password, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)


def queued() -> int:
    """Slow hashes waiting or running now (held by slow_turn)."""
    return _queued


@contextlib.contextmanager
def slow_turn(hashes: int, limit: int) -> Iterator[None]:
    """Hold `hashes` places in the pool's queue for the block (PASSKEY_RECOVERY_HASH_QUEUE
    is `limit`), or RecoveryBusy at once when they would exceed it: taken before the work
    counts or writes anything, so a refusal leaves nothing behind."""
    global _queued
    if _queued + hashes > limit:
        raise RecoveryBusy("Too many recovery codes are being checked; try again shortly.")
    _queued += hashes
    try:
        yield
    finally:
        _queued -= hashes


async def off_the_loop(work: Callable[[], T]) -> T:
    """Run blocking slow-hash work on the pool of its own (see _SLOW_POOL)."""
    return await asyncio.get_running_loop().run_in_executor(_SLOW_POOL, work)


def store(user_id: uuid.UUID, code: str) -> Stored:
    """What to keep of a new code (blocking: one slow hash)."""
    typed = parse(code)
    if typed is None:
        raise ValueError("not a code of the current form")
    salt = secrets.token_bytes(SALT_BYTES)
    return Stored(lookup=typed.lookup, salt=salt, code_hash=slow_hash(user_id, typed, salt))


def check(user_id: uuid.UUID, typed: Typed, stored: Stored | None) -> bool:
    """Whether the typed code is the stored one; a miss (None) costs the same slow hash."""
    computed = slow_hash(user_id, typed, stored.salt if stored else _MISS_SALT)
    return stored is not None and hmac.compare_digest(computed, stored.code_hash)


def digest(secret_key: bytes, user_id: uuid.UUID, typed: str) -> bytes:
    """The HMAC that codes made before lookups were stored as."""
    message = _CONTEXT + user_id.bytes + normalize(typed).encode("utf-8", "surrogatepass")
    return hmac.new(secret_key, message, hashlib.sha256).digest()


def digests(secret_key: bytes, user_id: uuid.UUID, typed: str) -> list[bytes]:
    """What a code made before lookups may be stored as: its HMAC under the secret key and
    under each key it replaced (keys.accepted), during a rotation."""
    return [digest(key, user_id, typed) for key in keys.accepted(secret_key)]
