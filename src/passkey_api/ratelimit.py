"""Fixed-window rate limits: counted in Redis when configured (shared by every replica),
in-process otherwise, and in-process too while Redis is unreachable (fail open to a
per-replica limit rather than to none, and never to an outage)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from passkey_api.config import RATE_PATTERN
from passkey_api.redispipe import RedisPipe, RedisUnavailable

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
    """Counts per bucket in this process; a bucket lives until its window ends."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._counts: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

    def hit(self, key: str, expires_at: float) -> int:
        if key not in self._counts and len(self._counts) >= self._max_keys:
            self._evict()
        _, count = self._counts.get(key, (expires_at, 0))
        self._counts[key] = (expires_at, count + 1)
        return count + 1

    def _evict(self) -> None:
        # Past windows first; if a flood fills the table with live ones, the oldest go
        # (dicts keep insertion order), never everything at once.
        now = time.time()
        for key in [k for k, (end, _) in self._counts.items() if end <= now]:
            del self._counts[key]
        while len(self._counts) >= self._max_keys:
            del self._counts[next(iter(self._counts))]


class RateLimiter:
    def __init__(self, redis: RedisPipe | None) -> None:
        self._redis = redis
        self._memory = MemoryCounter()

    async def hit(self, key: str, limit: Limit) -> int | None:
        """Count one request; the seconds to wait when over the limit, else None."""
        now = time.time()
        window = int(now // limit.seconds)
        bucket = f"passkey-api:rl:{key}:{limit.seconds}:{window}"
        count = await self._count(bucket, limit.seconds, (window + 1) * limit.seconds)
        if count <= limit.count:
            return None
        return max(1, math.ceil((window + 1) * limit.seconds - now))

    async def _count(self, bucket: str, ttl: int, window_end: float) -> int:
        if self._redis is not None:
            try:
                count, _ = await self._redis.pipeline(
                    [("INCR", bucket), ("EXPIRE", bucket, ttl + 1)]
                )
                return int(count)
            except RedisUnavailable:
                log.warning("rate limiter: Redis unreachable, counting in-process")
        return self._memory.hit(bucket, window_end)
