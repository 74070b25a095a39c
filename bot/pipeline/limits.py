"""The state behind the built-in hooks: token buckets for rate limits, the slots of the
concurrency guard, and circuit breakers. Plain data and arithmetic, no I/O; the clock is
given.

Both live in this process's memory. With several replicas, each keeps its own: a user gets
up to N times the rate, and one run per scope per replica (docs/decisions/0009).
"""

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


class ConcurrencyGuard:
    """Which run holds each scope: at most one per key."""

    def __init__(self) -> None:
        self._holders: dict[Hashable, str] = {}

    def acquire(self, key: Hashable, run_id: str) -> str | None:
        """Hold `key` for `run_id`: None when held now, else the run that holds it."""
        holder = self._holders.setdefault(key, run_id)
        return None if holder == run_id else holder

    def release(self, key: Hashable, run_id: str) -> None:
        if self._holders.get(key) == run_id:
            del self._holders[key]


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    # While open: when a probe may go through (monotonic seconds).
    open_until: float | None = None
    probing: bool = False


class Breakers:
    """A circuit breaker per key: closed until `threshold` failures in a row, then open for
    `cooldown_s`; then one run goes through as a probe (half-open). Its success closes the
    circuit; its failure opens it again."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._circuits: dict[Hashable, _Circuit] = {}

    def admit(self, key: Hashable) -> tuple[float, bool]:
        """(0.0, probe?) when a run may go, perhaps as the probe; else (seconds until a
        probe, False)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.open_until is None:
            return 0.0, False
        wait_s = circuit.open_until - self._clock()
        if wait_s > 0:
            return wait_s, False
        if circuit.probing:
            return 1.0, False  # the probe's result decides; ask again shortly
        circuit.probing = True
        return 0.0, True

    def record(self, key: Hashable, *, failed: bool, threshold: int, cooldown_s: float) -> None:
        circuit = self._circuits.setdefault(key, _Circuit())
        if not failed:
            self._circuits.pop(key, None)
            return
        circuit.failures += 1
        circuit.probing = False
        if circuit.failures >= threshold:
            circuit.open_until = self._clock() + cooldown_s

    def end_probe(self, key: Hashable) -> None:
        """A probe that ended without a verdict (blocked before its handler) frees the slot."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing = False
