"""Rate limits: a token bucket per key (a client id, or an address for anonymous callers).

The bucket holds `capacity` requests and refills at `per_minute / 60` a second. The headers follow
the IETF RateLimit header fields draft: `RateLimit-Limit` is the capacity, `RateLimit-Remaining`
what is left after this request, `RateLimit-Reset` the seconds until the bucket is full again.
"""

from __future__ import annotations

import math


class RateLimiter:
    def __init__(self, per_minute: int, capacity: int) -> None:
        self.capacity = float(capacity)
        self.rate = per_minute / 60.0
        self.limit_header = str(capacity).encode()
        # key -> [tokens left, time of the last update]
        self._buckets: dict[str, list[float]] = {}

    def take(self, key: str, now: float, cost: int = 1) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds): seconds until full when allowed, else until the next
        request would be allowed (Retry-After). A request costs `cost` tokens (at most the capacity)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            tokens = self.capacity
            bucket = self._buckets[key] = [tokens, now]
        else:
            tokens = bucket[0] + (now - bucket[1]) * self.rate
            if tokens > self.capacity:
                tokens = self.capacity
            bucket[1] = now
        if tokens >= cost:
            tokens -= cost
            bucket[0] = tokens
            return True, int(tokens), math.ceil((self.capacity - tokens) / self.rate)
        bucket[0] = tokens
        return False, int(tokens), max(1, math.ceil((cost - tokens) / self.rate))

    async def acquire(self, key: str, now: float, cost: int = 1) -> tuple[bool, int, int]:
        """`take`, with the signature of the Redis-backed limiter (redis_state.SharedRateLimiter)."""
        return self.take(key, now, cost)

    def headers(self, remaining: int, reset: int) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", self.limit_header),
            (b"ratelimit-remaining", str(remaining).encode()),
            (b"ratelimit-reset", str(reset).encode()),
        ]

    def prune(self, now: float) -> None:
        """Forget buckets that have filled up again: they behave exactly like new ones."""
        full = [key for key, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.capacity]
        for key in full:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
