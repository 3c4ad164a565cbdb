"""Resolved sessions kept in the process, never trusted past a change to any of them.

The cache saves the session check its database round trip, not its truth. Every entry
carries the *epoch* it was read under: an opaque value in Redis. A commit that updates or
deletes rows of `users` or `sessions`, on any replica (db.py's ChangeTrackingSession),
first registers itself as a writer and ends the epoch, commits, then ends the epoch again
and leaves. While any writer is registered no replica serves or stores an entry, and every
entry read before stops matching, so the next request reads the database. A revoked
session, a disabled user or a withdrawn role fails on the very next request, from any
replica, as without the cache.

Why it holds in every order:
- A miss reads the epoch (making one if there is none) *before* it reads the database,
  and none is handed out while a writer is registered. So an entry is stored only from a
  read that began after every change committed so far, or that a later end outdates.
- A writer that vanishes after registering (a crash, Redis lost the reply that ends it)
  is struck off after LEASE: until then nothing is cached, which is safe, only slower.
- An epoch is compared with the Redis connection it was read on: after a reconnection
  (a restart, a failover, a restored snapshot that could bring back an ended epoch) no
  older entry is used. An epoch that Redis lost reads as none, which matches no entry.
- Redis unreachable: the check reads the database (no entry is used or stored). A change
  still commits (sign-out and revocation must work in an outage) and its end is retried
  in the background. Only a replica that reaches Redis while the writer cannot could
  serve an entry read before the change, for at most `ttl`; the log says so. Redis
  answering but refusing to register the change (READONLY after a failover, MISCONF)
  may go on serving hits: that change is not committed (RedisRefused, a 503).
- A commit that fails may still become visible (a COMMIT that timed out): its writer
  stays registered until the lease ends.
- What this cannot see: Redis losing an acknowledged DEL without dropping our connection
  (a failover behind a proxy, a resync from a lagging replica). The README asks for a
  Redis that keeps acknowledged writes, which consumed challenges need as well.
- Writes made around the service (psql) are seen within `ttl`: no entry is used longer.
  The CLI's units of work announce themselves like the server's, given its Redis URL.
- Without Redis (one process, the embedded default) the app keeps no entries: the CLI
  could not reach an epoch kept in the server's process.

The session check's own last-seen and sliding writes do not announce themselves: they
only move times forward (expires_at is written only to extend it), and a replica holding
the earlier times takes its slow path (a database read) when they come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON

from passkey_api.storage.db import model_from
from passkey_api.storage.models import Session, User
from passkey_api.storage.redispipe import RedisPipe, RedisRefused, RedisUnavailable

log = logging.getLogger(__name__)

# One hash tag: on Redis Cluster both keys live in one slot, as the scripts need.
EPOCH_KEY = "passkey-api:{sessions}:epoch"
WRITERS_KEY = "passkey-api:{sessions}:writers"  # sorted set: writer -> deadline (ms)
# How long a registered writer blocks caching if it never leaves: longer than any commit
# (the database's command timeout is 30 s).
LEASE_MS = 60_000

# Redis's own clock decides leases, so that replicas' clocks need not agree.
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
_ENSURE = (
    _NOW
    + "if redis.call('ZCOUNT', KEYS[2], now, '+inf') > 0 then return false end "
    + "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])"
)
_BEGIN = (
    _NOW
    + "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) "
    + "redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1]) "
    + "redis.call('PEXPIRE', KEYS[2], ARGV[2]) redis.call('DEL', KEYS[1]) return 1"
)
_END = "redis.call('ZREM', KEYS[2], ARGV[1]) redis.call('DEL', KEYS[1]) return 1"


class Epoch(Protocol):
    @property
    def generation(self) -> int:
        """Changes whenever what the epoch is read from may have lost its memory."""

    async def current(self) -> bytes | None:
        """The epoch now; None when there is none, or a change is being committed."""

    async def ensure(self) -> bytes | None:
        """The epoch now, made first when there is none; None while a change is being
        committed (nothing may be stored)."""

    async def begin(self, writer: str) -> None:
        """A change is being committed: end the epoch, and hand out none until end()."""

    async def end(self, writer: str, *, leave: bool) -> None:
        """The change is over: end the epoch read meanwhile; `leave`: and the writer
        leaves (otherwise it stays registered until its lease ends)."""


class RedisEpoch:
    """The epoch every replica shares. Raises RedisUnavailable."""

    def __init__(self, redis: RedisPipe) -> None:
        self._redis = redis

    @property
    def generation(self) -> int:
        return self._redis.connections

    async def current(self) -> bytes | None:
        # A plain GET, the one command of a cache hit: while a writer is registered there
        # is no epoch to read, since begin() deletes it and ensure() makes none.
        return _bytes(await self._redis.execute("GET", EPOCH_KEY))

    async def ensure(self) -> bytes | None:
        return _bytes(await self._run(_ENSURE, secrets.token_hex(16)))

    async def begin(self, writer: str) -> None:
        await self._run(_BEGIN, writer, str(LEASE_MS))

    async def end(self, writer: str, *, leave: bool) -> None:
        if leave:
            await self._run(_END, writer)
        else:
            await self._redis.execute("DEL", EPOCH_KEY)

    async def _run(self, script: str, *args: str) -> Any:
        return await self._redis.execute("EVAL", script, 2, EPOCH_KEY, WRITERS_KEY, *args)


class MemoryEpoch:
    """An epoch of this process alone."""

    generation = 0

    def __init__(self) -> None:
        self._value: bytes | None = None
        self._writers: set[str] = set()

    async def current(self) -> bytes | None:
        return None if self._writers else self._value

    async def ensure(self) -> bytes | None:
        if self._writers:
            return None
        if self._value is None:
            self._value = secrets.token_bytes(16)
        return self._value

    async def begin(self, writer: str) -> None:
        self._writers.add(writer)
        self._value = None

    async def end(self, writer: str, *, leave: bool) -> None:
        if leave:
            self._writers.discard(writer)
        self._value = None


def _bytes(value: Any) -> bytes | None:
    return value if isinstance(value, bytes) else None


@dataclass(frozen=True, slots=True)
class _Entry:
    session: dict[str, Any]
    user: dict[str, Any]
    epoch: bytes
    generation: int  # Epoch.generation when the epoch was read
    deadline: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class Lookup:
    """A hit (`found`), or a miss with the epoch (and its generation) to store what is
    read under; epoch None: store nothing."""

    found: tuple[Session, User] | None
    epoch: bytes | None
    generation: int = 0


class SessionCache:
    def __init__(self, epoch: Epoch, *, ttl: float, max_entries: int = 4096) -> None:
        self.epoch = epoch
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[bytes, _Entry] = {}
        self._retries: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    async def lookup(self, token_hash: bytes) -> Lookup:
        if not self.enabled:
            return Lookup(None, None)
        entry = self._entries.get(token_hash)
        epoch = self.epoch
        try:
            if entry is not None and entry.deadline > time.monotonic():
                current = await epoch.current()
                if current == entry.epoch and epoch.generation == entry.generation:
                    return Lookup((_build(Session, entry.session), _build(User, entry.user)), None)
                if self._entries.get(token_hash) is entry:  # not replaced meanwhile
                    del self._entries[token_hash]
                if current is not None:
                    return Lookup(None, current, epoch.generation)
            value = await epoch.ensure()
            return Lookup(None, value, epoch.generation)
        except RedisUnavailable:
            return Lookup(None, None)

    def store(self, token_hash: bytes, session: Session, user: User, lookup: Lookup) -> None:
        """Keep what a miss read after `lookup` (nothing if it gave no epoch)."""
        if lookup.epoch is None or not self.enabled:
            return
        entries, now = self._entries, time.monotonic()
        entries.pop(token_hash, None)
        # In the order they were stored, so by deadline: the oldest go first, whether
        # out of time or crowded out (at most max_entries, about 2 kB each).
        for oldest in list(itertools.islice(entries, 64)):
            if len(entries) < self._max_entries and entries[oldest].deadline > now:
                break
            del entries[oldest]
        entries[token_hash] = _Entry(
            _values(session), _values(user), lookup.epoch, lookup.generation, now + self._ttl
        )

    def forget(self, token_hash: bytes) -> None:
        self._entries.pop(token_hash, None)

    @contextlib.asynccontextmanager
    async def change(self) -> AsyncIterator[None]:
        """Around committing a change to users or sessions: no entry read before it
        leaves is used again, here or on any replica. Raises RedisRefused, before the
        commit, when Redis answers but refuses to register it."""
        writer = secrets.token_hex(16)
        self._entries.clear()
        try:
            await self.epoch.begin(writer)
        except RedisRefused:
            # Redis may still be serving the reads that make cache hits (a demoted
            # primary, a failed save): committing now would leave them stale.
            raise
        except RedisUnavailable:
            # Unreachable: so are the hits of every replica that shares this outage.
            # Sign-out and revocation must work in it; the end follows once it answers.
            log.warning("session cache: Redis unreachable before a change; ending it later")
        committed = False
        try:
            yield
            committed = True
        finally:
            self._entries.clear()
            # A commit that failed may still become visible (a COMMIT that timed out):
            # then the writer stays registered until its lease ends, so that nothing
            # read before that is cached.
            try:
                await self.epoch.end(writer, leave=committed)
            except RedisUnavailable:
                task = asyncio.get_running_loop().create_task(
                    self._end_later(writer, leave=committed)
                )
                self._retries.add(task)
                task.add_done_callback(self._retries.discard)

    async def _end_later(self, writer: str, *, leave: bool) -> None:
        # Until it ends, a replica that reaches Redis while this one cannot may serve an
        # entry read before the change, for at most its ttl; after LEASE nothing can.
        deadline = time.monotonic() + LEASE_MS / 1000
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            with contextlib.suppress(RedisUnavailable):
                await self.epoch.end(writer, leave=leave)
                return
        log.warning("session cache: could not end the epoch after a change")

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        self._entries.clear()


def _values(model: Session | User) -> dict[str, Any]:
    values = {k: v for k, v in vars(model).items() if k != "_sa_instance_state"}
    _copy_json(type(model), values)  # the caller's object may still change
    return values


M = TypeVar("M", Session, User)


def _build(model: type[M], values: dict[str, Any]) -> M:
    # A new object per request (a route may write to its session object), with its own
    # copies of the JSON fields (roles, re-authentication stamps), so that no request
    # can change what another one reads.
    fields = dict(values)
    _copy_json(model, fields)
    return model_from(model, **fields)


def _copy_json(model: type[Session | User], values: dict[str, Any]) -> None:
    for name in _json_fields(model):
        values[name] = copy.copy(values[name])


@functools.cache
def _json_fields(model: type[Session | User]) -> tuple[str, ...]:
    table = model.__table__  # type: ignore[union-attr]
    return tuple(c.name for c in table.c if isinstance(c.type, JSON))
