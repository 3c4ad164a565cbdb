"""Resolved sessions kept in the process, never trusted past a change to any of them.

The cache saves the session check its database round trip, not its truth. Every entry
carries the *epoch* it was read under: an opaque value in Redis. A commit that updates or
deletes rows of `users` or `sessions`, on any replica, ends the epoch before and after it
commits (db.py's ChangeTrackingSession), so every entry read before it stops matching and
the next request reads the database again. A revoked session, a disabled user or a
withdrawn role fails on the very next request, from any replica, as without the cache.

Why it is safe in every order:
- A miss reads the epoch (making one if there is none) *before* it reads the database.
  A change committed after that read ends that epoch after its commit, so the entry it
  stores is already stale-marked; a change committed before it is in what it read.
- An epoch that Redis lost (restart, eviction, FLUSHALL) reads as none, which matches no
  entry: losing it empties every cache, never revives one.
- Redis unreachable: the check reads the database (no entry is used or stored), and a
  change that cannot end the epoch is not committed (503, nothing written).
- Writes made around the service (psql) are seen within `ttl`: no entry is used longer.
  The CLI's units of work end the epoch like the server's, given the same Redis URL.
- Without Redis (one process, the embedded default) the app keeps no entries: the CLI
  could not reach an epoch kept in the server's process. MemoryEpoch is what the change
  tracking then ends, to no effect.

The session check's own writes (last seen, sliding expiry, deleting an expired session)
do not end the epoch: they move times forward only, and a replica holding the earlier
times takes its slow path (a database read) when they come due, so no one serves them.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from passkey_api.db import model_from
from passkey_api.models import Session, User
from passkey_api.redispipe import RedisPipe, RedisUnavailable

EPOCH_KEY = "passkey-api:sessions:epoch"


class Epoch(Protocol):
    async def current(self) -> bytes | None:
        """The epoch now; None when there is none."""

    async def ensure(self) -> bytes:
        """The epoch now, made first when there is none."""

    async def end(self) -> None:
        """End the epoch: no entry read under it is used again."""


class RedisEpoch:
    """The epoch every replica shares. Raises RedisUnavailable."""

    def __init__(self, redis: RedisPipe) -> None:
        self._redis = redis

    async def current(self) -> bytes | None:
        value = await self._redis.execute("GET", EPOCH_KEY)
        return value if isinstance(value, bytes) else None

    async def ensure(self) -> bytes:
        # SET NX then GET in one write: whoever made it, this is the epoch now.
        _, value = await self._redis.pipeline(
            [("SET", EPOCH_KEY, secrets.token_hex(16), "NX"), ("GET", EPOCH_KEY)]
        )
        if not isinstance(value, bytes):  # ended between the two: a race, not an error
            raise RedisUnavailable("the session epoch changed while it was read")
        return value

    async def end(self) -> None:
        await self._redis.execute("DEL", EPOCH_KEY)


class MemoryEpoch:
    """An epoch of this process alone."""

    def __init__(self) -> None:
        self._value: bytes | None = None

    async def current(self) -> bytes | None:
        return self._value

    async def ensure(self) -> bytes:
        if self._value is None:
            self._value = secrets.token_bytes(16)
        return self._value

    async def end(self) -> None:
        self._value = None


@dataclass(frozen=True, slots=True)
class _Entry:
    session: dict[str, Any]
    user: dict[str, Any]
    epoch: bytes
    deadline: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class Lookup:
    """A hit (`found`), or a miss with the epoch to store what is read under (None: do
    not store; the epoch could not be read)."""

    found: tuple[Session, User] | None
    epoch: bytes | None


class SessionCache:
    def __init__(self, epoch: Epoch, *, ttl: float, max_entries: int = 10_000) -> None:
        self.epoch = epoch
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[bytes, _Entry] = {}

    async def lookup(self, token_hash: bytes) -> Lookup:
        if self._ttl <= 0:
            return Lookup(None, None)
        entry = self._entries.get(token_hash)
        try:
            if entry is not None and entry.deadline > time.monotonic():
                current = await self.epoch.current()
                if current == entry.epoch:
                    return Lookup((_build(Session, entry.session), _build(User, entry.user)), None)
                del self._entries[token_hash]
                if current is not None:
                    return Lookup(None, current)
            return Lookup(None, await self.epoch.ensure())
        except RedisUnavailable:
            return Lookup(None, None)

    def store(self, token_hash: bytes, session: Session, user: User, epoch: bytes) -> None:
        """Keep what a miss read under `epoch` (its Lookup's)."""
        if self._ttl <= 0:
            return
        entries, now = self._entries, time.monotonic()
        entries.pop(token_hash, None)
        # In the order they were stored, so by deadline: the oldest go first, whether
        # out of time or crowded out (at most max_entries, about 1.5 kB each).
        for oldest in list(itertools.islice(entries, 64)):
            if len(entries) < self._max_entries and entries[oldest].deadline > now:
                break
            del entries[oldest]
        entries[token_hash] = _Entry(_values(session), _values(user), epoch, now + self._ttl)

    def forget(self, token_hash: bytes) -> None:
        self._entries.pop(token_hash, None)

    def clear(self) -> None:
        self._entries.clear()

    async def end_epoch(self) -> None:
        """For a change to users or sessions: no entry, here or on any replica, is used
        again. Raises RedisUnavailable (the change must then not be committed)."""
        self._entries.clear()
        await self.epoch.end()


def _values(model: Session | User) -> dict[str, Any]:
    return {k: v for k, v in vars(model).items() if k != "_sa_instance_state"}


M = TypeVar("M", Session, User)


def _build(model: type[M], values: dict[str, Any]) -> M:
    # A new object per request: a route may write to its session object
    # (set_committed_value), and the JSON fields (roles, re-authentication stamps) are
    # copied so that no request can change what another one reads.
    return model_from(
        model,
        **{k: v.copy() if isinstance(v, (list, dict)) else v for k, v in values.items()},
    )
