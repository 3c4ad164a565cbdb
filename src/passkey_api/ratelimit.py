"""Fixed-window rate limits: counted in Redis when configured (shared by every replica),
in-process otherwise, and in-process too while Redis is unreachable (fail open to a
per-replica limit rather than to none, and never to an outage)."""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, spec: str) -> Limit:
        """'60/minute', '1000/hour', ..."""
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(f"{spec!r} is not a rate like '60/minute'")
        return cls(int(match.group(1)), _UNITS[match.group(2)])


class MemoryCounter:
    def __init__(self, max_keys: int = 200_000) -> None:
        self._counts: dict[str, int] = {}
        self._max_keys = max_keys

    def hit(self, key: str) -> int:
        if len(self._counts) >= self._max_keys:
            self._counts.clear()  # windows roll over anyway; a flood must not grow memory
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        return count


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self._redis = (
            aioredis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
            if redis_url
            else None
        )
        self._memory = MemoryCounter()

    async def hit(self, key: str, limit: Limit) -> int | None:
        """Count one request; the seconds to wait when over the limit, else None."""
        now = time.time()
        window = int(now // limit.seconds)
        bucket = f"passkey-api:rl:{key}:{limit.seconds}:{window}"
        count = await self._count(bucket, limit.seconds)
        if count <= limit.count:
            return None
        return max(1, math.ceil((window + 1) * limit.seconds - now))

    async def _count(self, bucket: str, ttl: int) -> int:
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.incr(bucket)
                    pipe.expire(bucket, ttl + 1)
                    count, _ = await pipe.execute()
                return int(count)
            except RedisError:
                log.warning("rate limiter: Redis unreachable, counting in-process")
        return self._memory.hit(bucket)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
