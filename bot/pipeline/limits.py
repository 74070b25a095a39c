"""The state behind the built-in hooks besides the rate limit's buckets (bot/buckets.py): the
slots of the concurrency guard, and circuit breakers. Plain data and arithmetic, no I/O;
the clock is given.

They live in this process's memory. With several replicas, each keeps its own: a user gets
up to N times the rate, and one run per scope per replica (docs/decisions/0009).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


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

    def paused(self) -> dict[Hashable, tuple[int, float]]:
        """The open circuits: key -> (failures in a row, seconds until a probe may go)."""
        now = self._clock()
        return {
            key: (circuit.failures, max(circuit.open_until - now, 0.0))
            for key, circuit in self._circuits.items()
            if circuit.open_until is not None
        }

    def end_probe(self, key: Hashable) -> None:
        """A probe that ended without a verdict (blocked before its handler) frees the slot."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing = False
