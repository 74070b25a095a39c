"""Faults the emulator can inject into its answers: latency, server errors, secondary
rate limits, 429s and dropped connections."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum


class Latency:
    """A delay for every answer: `seconds` plus or minus a uniform `jitter`, drawn from a
    seeded generator so that a failing run can be repeated."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.jitter = 0.0
        self._rng = random.Random()

    def set(self, seconds: float, *, jitter: float = 0.0, seed: int | None = None) -> None:
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter must not be negative")
        self.seconds = seconds
        self.jitter = jitter
        self._rng = random.Random(seed)

    def draw(self) -> float:
        if self.seconds == 0 and self.jitter == 0:
            return 0.0
        return max(self.seconds + self._rng.uniform(-self.jitter, self.jitter), 0.0)


class Fault(Enum):
    SERVER_ERROR = "5xx"  # 502, nothing done
    SECONDARY_LIMIT = "secondary"  # 403 "secondary rate limit", nothing done
    TOO_MANY = "429"  # 429, nothing done
    DROP_BEFORE = "drop-before"  # the connection closes; nothing done
    DROP_AFTER = "drop-after"  # the request is served, then the connection closes


@dataclass
class Faults:
    """Failures injected into the REST API's answers, from a seeded generator.

    `error_ratio` and `drop_ratio` are chances per request (a drop is as often after the
    request was served as before: the ambiguous write); every `secondary_every`-th and
    `too_many_every`-th request is refused with a secondary limit (403) or a 429, with
    `retry_after` seconds in `Retry-After` when given (GitHub then expects at least 60 s).
    """

    error_ratio: float = 0.0
    drop_ratio: float = 0.0
    secondary_every: int = 0
    too_many_every: int = 0
    retry_after: float | None = None
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _count: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.error_ratio <= 1 and 0 <= self.drop_ratio <= 1):
            raise ValueError("ratios are between 0 and 1")
        self._rng = random.Random(self.seed)

    def draw(self) -> Fault | None:
        self._count += 1
        if self.secondary_every and self._count % self.secondary_every == 0:
            return Fault.SECONDARY_LIMIT
        if self.too_many_every and self._count % self.too_many_every == 0:
            return Fault.TOO_MANY
        roll = self._rng.random()
        if roll < self.error_ratio:
            return Fault.SERVER_ERROR
        if roll < self.error_ratio + self.drop_ratio:
            return Fault.DROP_BEFORE if self._rng.random() < 0.5 else Fault.DROP_AFTER
        return None

    def wait_told(self) -> float:
        """How long a refused caller is told to wait (what GitHub expects without a header)."""
        return self.retry_after if self.retry_after is not None else 60.0
