"""Pending ceremony challenges: single use, expiring, bound to their ceremony.

Redis in production (GETDEL makes taking a challenge atomic across replicas); an
in-process store with the same semantics when no Redis is configured.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any, Protocol

from passkey_api import base64url, metrics
from passkey_api.errors import ChallengeStoreFull, ChallengeStoreUnavailable
from passkey_api.redispipe import RedisPipe, RedisUnavailable

KEY_PREFIX = "passkey-api:challenge:"
# Emailed links (recovery, address verification): the same semantics in their own
# namespace, so a link token can never be presented as a ceremony challenge or back.
LINK_PREFIX = "passkey-api:link:"


class ChallengeStore(Protocol):
    async def put(self, challenge: bytes, state: dict[str, Any], ttl: timedelta) -> None: ...

    async def take(self, challenge: bytes) -> dict[str, Any] | None:
        """Remove and return the state; None when unknown, already taken or expired."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class RedisChallengeStore:
    def __init__(self, redis: RedisPipe, prefix: str = KEY_PREFIX) -> None:
        self._prefix = prefix
        self._redis = redis

    async def put(self, challenge: bytes, state: dict[str, Any], ttl: timedelta) -> None:
        try:
            with metrics.CHALLENGE_PUT.time():
                await self._redis.execute(
                    "SET", self._key(challenge), json.dumps(state), "PX", _ms(ttl)
                )
        except RedisUnavailable as exc:
            raise ChallengeStoreUnavailable() from exc

    async def take(self, challenge: bytes) -> dict[str, Any] | None:
        try:
            with metrics.CHALLENGE_TAKE.time():
                raw = await self._redis.execute("GETDEL", self._key(challenge))
        except RedisUnavailable as exc:
            raise ChallengeStoreUnavailable() from exc
        return None if raw is None else dict(json.loads(raw))

    async def ping(self) -> None:
        try:
            await self._redis.execute("PING")
        except RedisUnavailable as exc:
            raise ChallengeStoreUnavailable() from exc

    async def close(self) -> None:
        return None  # the Redis connection is the app's lifespan's, closed by it

    def _key(self, challenge: bytes) -> str:
        return self._prefix + base64url.encode(challenge)


class MemoryChallengeStore:
    """One process only: fine for a laptop or a single worker, not for replicas.

    Bounded: when it holds `max_entries` live ceremonies, a new one is refused (503
    `challenge_store_full`, Retry-After: when the first one ends) rather than evicting one
    in progress, which would let a flood of options break every other user's sign-in
    silently and for as long as it lasts. Refused, the flood only delays new ceremonies
    until entries are taken or expire, and the per-client limits bound how fast anyone
    fills it."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[bytes, tuple[float, dict[str, Any]]] = OrderedDict()
        self._max_entries = max_entries
        # The earliest expiry of an entry (or earlier: taking one does not move it), so
        # that a full store is scanned only when something may have expired.
        self._soonest = math.inf

    async def put(self, challenge: bytes, state: dict[str, Any], ttl: timedelta) -> None:
        now = time.monotonic()
        self._purge(now)
        if len(self._entries) >= self._max_entries and challenge not in self._entries:
            if now >= self._soonest:
                self._purge_all(now)
            if len(self._entries) >= self._max_entries:
                wait = max(1, math.ceil(self._soonest - now))
                raise ChallengeStoreFull(
                    "Too many ceremonies are in progress; try again shortly.",
                    headers={"Retry-After": str(wait)},
                )
        expires_at = now + ttl.total_seconds()
        self._entries[challenge] = (expires_at, state)
        self._soonest = min(self._soonest, expires_at)

    async def take(self, challenge: bytes) -> dict[str, Any] | None:
        # No await between lookup and removal: atomic on the event loop.
        entry = self._entries.pop(challenge, None)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()

    def _purge(self, now: float) -> None:
        # Entries are in insertion order and mostly share one TTL, so expired ones mostly
        # sit at the front: the cheap pass for every put.
        while self._entries:
            first = next(iter(self._entries.values()))
            if first[0] > now:
                break
            self._entries.popitem(last=False)

    def _purge_all(self, now: float) -> None:
        # Stores mix lifetimes (ceremonies, social sign-in flows): when full, every entry.
        for key in [k for k, (end, _) in self._entries.items() if end <= now]:
            del self._entries[key]
        self._soonest = min((end for end, _ in self._entries.values()), default=math.inf)


def _ms(ttl: timedelta) -> int:
    return max(1, int(ttl.total_seconds() * 1000))


def create_challenge_store(redis: RedisPipe | None, prefix: str = KEY_PREFIX) -> ChallengeStore:
    """`prefix` names the namespace in Redis; each in-process store is its own namespace."""
    return RedisChallengeStore(redis, prefix) if redis is not None else MemoryChallengeStore()
