"""Faults the emulator can inject into its answers: for now, latency."""

from __future__ import annotations

import random


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
