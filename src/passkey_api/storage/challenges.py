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

from passkey_api.errors import ChallengeStoreFull, ChallengeStoreUnavailable
from passkey_api.kit import base64url, metrics
from passkey_api.storage.redispipe import RedisPipe, RedisUnavailable

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
        # One lane per lifetime (ceremonies, social sign-in flows, one-time codes): a lane
        # is in insertion order, and so in expiry order, so what has expired is at the
        # front of its lane and the earliest expiry is the front of one. No put scans the
        # store, however full.
        self._lanes: dict[float, OrderedDict[bytes, tuple[float, dict[str, Any]]]] = {}
        self._max_entries = max_entries

    async def put(self, challenge: bytes, state: dict[str, Any], ttl: timedelta) -> None:
        now = time.monotonic()
        self._purge(now)
        held = self._pop(challenge) is not None
        if not held and sum(map(len, self._lanes.values())) >= self._max_entries:
            wait = max(1, math.ceil(self._soonest() - now))
            raise ChallengeStoreFull(
                "Too many ceremonies are in progress; try again shortly.",
                headers={"Retry-After": str(wait)},
            )
        seconds = ttl.total_seconds()
        # Put at the back of its lane (again, if it was held): it lives from now.
        self._lanes.setdefault(seconds, OrderedDict())[challenge] = (now + seconds, state)

    async def take(self, challenge: bytes) -> dict[str, Any] | None:
        # No await between lookup and removal: atomic on the event loop.
        entry = self._pop(challenge)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._lanes.clear()

    def _pop(self, challenge: bytes) -> tuple[float, dict[str, Any]] | None:
        for lane in self._lanes.values():
            entry = lane.pop(challenge, None)
            if entry is not None:
                return entry
        return None

    def _purge(self, now: float) -> None:
        for seconds, lane in list(self._lanes.items()):
            while lane and next(iter(lane.values()))[0] <= now:
                lane.popitem(last=False)
            if not lane:
                del self._lanes[seconds]

    def _soonest(self) -> float:
        # After _purge every lane holds an entry.
        return min(next(iter(lane.values()))[0] for lane in self._lanes.values())


def _ms(ttl: timedelta) -> int:
    return max(1, int(ttl.total_seconds() * 1000))


def create_challenge_store(redis: RedisPipe | None, prefix: str = KEY_PREFIX) -> ChallengeStore:
    """`prefix` names the namespace in Redis; each in-process store is its own namespace."""
    return RedisChallengeStore(redis, prefix) if redis is not None else MemoryChallengeStore()
