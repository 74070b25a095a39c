"""Token buckets: at most N takes per period, with bursts up to N. Plain arithmetic on a
given clock; a leaf module, so that the GitHub client (write pacing) and the pipeline
(rate-limit hook) share it."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from cachetools import LRUCache

from bot.domain import RateLimit

# Enough for every active user and command; the least recently used are forgotten (full).
MAX_BUCKETS = 100_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket per key: `limit.count` tokens, refilled evenly over `limit.period_s`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_BUCKETS):
        self._clock = clock
        self._buckets: LRUCache[Hashable, _Bucket] = LRUCache(max_keys)

    def take(self, key: Hashable, limit: RateLimit) -> float:
        """Take a token: 0.0 when taken, else the seconds until one is free (none taken)."""
        if limit.unlimited:
            return 0.0
        now = self._clock()
        rate = limit.count / limit.period_s
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.count), now)
        bucket.tokens = min(float(limit.count), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        # A little slack, so that waiting exactly the time we gave is always enough.
        if bucket.tokens >= 1.0 - 1e-9:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return 0.0
        return (1.0 - bucket.tokens) / rate
