"""Fixed-window rate limits: counted in Redis when configured (shared by every replica),
in-process otherwise, and in-process too while Redis is unreachable (fail open to a
per-replica limit rather than to none, and never to an outage)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from passkey_api.config import RATE_PATTERN
from passkey_api.storage.redispipe import RedisPipe, RedisUnavailable

log = logging.getLogger(__name__)

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, spec: str) -> Limit:
        """'60/minute', '1000/hour', ..."""
        match = RATE_PATTERN.match(spec)
        if not match:
            raise ValueError(f"{spec!r} is not a rate like '60/minute'")
        return cls(int(match.group(1)), _UNITS[match.group(2)])


class MemoryCounter:
    """Counts per bucket in this process; a bucket lives until its window ends.

    Bounded: when the table is full of live windows, a new bucket is not counted but
    refused (hit() is None), until windows end. Dropping live buckets instead would let a
    flood of new keys (usernames cost nothing) reset the counters it wants reset; refusing
    newcomers only slows new clients for at most one window, and filling the table at all
    takes many clients, each within its own limits."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._counts: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys
        # The earliest end of a window in the table: before then, a full table has
        # nothing to purge (so a flood costs no scan per request).
        self._soonest = math.inf

    def hit(self, key: str, expires_at: float) -> int | None:
        """The bucket's count with this hit; None when the table has no room for it."""
        known = self._counts.get(key)
        if known is None and len(self._counts) >= self._max_keys and not self._purge():
            return None
        _, count = known or (expires_at, 0)
        self._counts[key] = (expires_at, count + 1)
        self._soonest = min(self._soonest, expires_at)
        return count + 1

    def _purge(self) -> bool:
        """Drop ended windows; whether that made room."""
        now = time.time()
        if now < self._soonest:
            return False
        self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
        self._soonest = min((end for end, _ in self._counts.values()), default=math.inf)
        return len(self._counts) < self._max_keys


class RateLimiter:
    def __init__(self, redis: RedisPipe | None, *, max_keys: int = 200_000) -> None:
        self._redis = redis
        self._memory = MemoryCounter(max_keys)

    async def hit(self, key: str, limit: Limit) -> int | None:
        """Count one request; the seconds to wait when over the limit, else None."""
        now = time.time()
        window = int(now // limit.seconds)
        bucket = f"passkey-api:rl:{key}:{limit.seconds}:{window}"
        count = await self._count(bucket, limit.seconds, (window + 1) * limit.seconds)
        # None: the in-process table is full of live windows; a newcomer waits (MemoryCounter).
        if count is not None and count <= limit.count:
            return None
        return max(1, math.ceil((window + 1) * limit.seconds - now))

    async def _count(self, bucket: str, ttl: int, window_end: float) -> int | None:
        if self._redis is not None:
            try:
                count, _ = await self._redis.pipeline(
                    [("INCR", bucket), ("EXPIRE", bucket, ttl + 1)]
                )
                return int(count)
            except RedisUnavailable:
                log.warning("rate limiter: Redis unreachable, counting in-process")
        return self._memory.hit(bucket, window_end)
