"""Token buckets and the concurrency guard: plain arithmetic on an injected clock."""

from __future__ import annotations

import pytest

from bot.buckets import TokenBuckets
from bot.domain import RateLimit
from bot.pipeline.limits import Breakers, ConcurrencyGuard


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


TWO_PER_MINUTE = RateLimit.parse("2/minute")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def buckets(clock: FakeClock) -> TokenBuckets:
    return TokenBuckets(clock=clock)


# --- TokenBuckets ------------------------------------------------------------------------


def test_fresh_bucket_allows_a_burst_of_count_then_refuses_with_the_wait(
    buckets: TokenBuckets,
) -> None:
    assert buckets.take("alice", TWO_PER_MINUTE) == 0.0
    assert buckets.take("alice", TWO_PER_MINUTE) == 0.0
    # Empty: one token comes back every 60 / 2 = 30 s.
    assert buckets.take("alice", TWO_PER_MINUTE) == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("text", "burst", "wait_s"),
    [
        ("1/hour", 1, 3600.0),
        ("5/minute", 5, 12.0),
        ("10/second", 10, 0.1),
        ("100/day", 100, 864.0),
    ],
)
def test_burst_size_and_wait_follow_the_limit(
    buckets: TokenBuckets, text: str, burst: int, wait_s: float
) -> None:
    limit = RateLimit.parse(text)
    assert [buckets.take("k", limit) for _ in range(burst)] == [0.0] * burst
    assert buckets.take("k", limit) == pytest.approx(wait_s)


def test_tokens_refill_evenly_as_time_passes(buckets: TokenBuckets, clock: FakeClock) -> None:
    buckets.take("alice", TWO_PER_MINUTE)
    buckets.take("alice", TWO_PER_MINUTE)
    clock.advance(15.0)  # half a token back
    assert buckets.take("alice", TWO_PER_MINUTE) == pytest.approx(15.0)
    clock.advance(15.0)  # a whole token
    assert buckets.take("alice", TWO_PER_MINUTE) == 0.0
    assert buckets.take("alice", TWO_PER_MINUTE) == pytest.approx(30.0)


def test_refill_is_capped_at_count(buckets: TokenBuckets, clock: FakeClock) -> None:
    buckets.take("alice", TWO_PER_MINUTE)
    clock.advance(3600.0)  # an hour idle refills 2 tokens, not 120
    assert buckets.take("alice", TWO_PER_MINUTE) == 0.0
    assert buckets.take("alice", TWO_PER_MINUTE) == 0.0
    assert buckets.take("alice", TWO_PER_MINUTE) == pytest.approx(30.0)


def test_a_refused_take_consumes_nothing(buckets: TokenBuckets, clock: FakeClock) -> None:
    buckets.take("alice", TWO_PER_MINUTE)
    buckets.take("alice", TWO_PER_MINUTE)
    # Asking again and again does not push the next token further away.
    assert [buckets.take("alice", TWO_PER_MINUTE) for _ in range(5)] == [pytest.approx(30.0)] * 5
    clock.advance(10.0)
    assert buckets.take("alice", TWO_PER_MINUTE) == pytest.approx(20.0)
    clock.advance(20.0)
    assert buckets.take("alice", TWO_PER_MINUTE) == 0.0


def test_waiting_the_returned_time_is_enough(buckets: TokenBuckets, clock: FakeClock) -> None:
    buckets.take("alice", TWO_PER_MINUTE)
    buckets.take("alice", TWO_PER_MINUTE)
    wait_s = buckets.take("alice", TWO_PER_MINUTE)
    clock.advance(wait_s)
    assert buckets.take("alice", TWO_PER_MINUTE) == 0.0


@pytest.mark.parametrize("text", ["none", "off", "unlimited"])
def test_unlimited_always_allows(buckets: TokenBuckets, clock: FakeClock, text: str) -> None:
    limit = RateLimit.parse(text)
    assert limit.unlimited
    assert [buckets.take("alice", limit) for _ in range(1000)] == [0.0] * 1000
    clock.advance(-500.0)  # not even a clock going backwards matters
    assert buckets.take("alice", limit) == 0.0


def test_keys_are_independent(buckets: TokenBuckets) -> None:
    buckets.take(("report", "alice"), TWO_PER_MINUTE)
    buckets.take(("report", "alice"), TWO_PER_MINUTE)
    assert buckets.take(("report", "alice"), TWO_PER_MINUTE) > 0
    # Another user, and the same user on another command, still have full buckets.
    assert buckets.take(("report", "bob"), TWO_PER_MINUTE) == 0.0
    assert buckets.take(("deploy", "alice"), TWO_PER_MINUTE) == 0.0
    assert buckets.take(("deploy", "alice"), TWO_PER_MINUTE) == 0.0
    assert buckets.take(("deploy", "alice"), TWO_PER_MINUTE) > 0
    # Draining the others did not refill or drain alice's report bucket.
    assert buckets.take(("report", "alice"), TWO_PER_MINUTE) == pytest.approx(30.0)


def test_least_recently_used_bucket_is_forgotten_full(clock: FakeClock) -> None:
    buckets = TokenBuckets(clock=clock, max_keys=2)
    one = RateLimit.parse("1/hour")
    assert buckets.take("a", one) == 0.0
    assert buckets.take("b", one) == 0.0
    assert buckets.take("a", one) > 0  # touches a: b is now the least recently used
    assert buckets.take("c", one) == 0.0  # evicts b
    assert buckets.take("a", one) > 0  # a is still remembered, and still empty
    assert buckets.take("b", one) == 0.0  # b was forgotten: a fresh, full bucket


# --- ConcurrencyGuard --------------------------------------------------------------------


def test_second_acquirer_is_told_the_holder() -> None:
    guard = ConcurrencyGuard()
    assert guard.acquire(("report", "o/r", "7"), "run-1") is None
    assert guard.acquire(("report", "o/r", "7"), "run-2") == "run-1"
    assert guard.acquire(("report", "o/r", "7"), "run-3") == "run-1"


def test_holder_acquiring_again_gets_none() -> None:
    guard = ConcurrencyGuard()
    assert guard.acquire("scope", "run-1") is None
    assert guard.acquire("scope", "run-1") is None
    assert guard.acquire("scope", "run-2") == "run-1"


def test_release_by_a_non_holder_does_nothing() -> None:
    guard = ConcurrencyGuard()
    guard.acquire("scope", "run-1")
    guard.release("scope", "run-2")
    assert guard.acquire("scope", "run-2") == "run-1"
    guard.release("other-scope", "run-1")  # never held: no error
    assert guard.acquire("scope", "run-3") == "run-1"


def test_release_then_acquire_by_another_run() -> None:
    guard = ConcurrencyGuard()
    guard.acquire("scope", "run-1")
    guard.release("scope", "run-1")
    assert guard.acquire("scope", "run-2") is None
    assert guard.acquire("scope", "run-1") == "run-2"
    guard.release("scope", "run-1")  # run-1 no longer holds it: nothing happens
    assert guard.acquire("scope", "run-3") == "run-2"


def test_scopes_are_independent() -> None:
    guard = ConcurrencyGuard()
    assert guard.acquire(("report", "o/r", "7"), "run-1") is None
    assert guard.acquire(("report", "o/r", "8"), "run-2") is None
    assert guard.acquire(("report",), "run-3") is None
    guard.release(("report", "o/r", "7"), "run-1")
    assert guard.acquire(("report", "o/r", "8"), "run-4") == "run-2"


# --- circuit breakers ----------------------------------------------------------------------


def test_a_breaker_opens_after_the_threshold_and_lets_one_probe_through() -> None:
    clock = FakeClock()
    breakers = Breakers(clock=clock)
    for _ in range(2):
        assert breakers.admit("cmd") == (0.0, False)
        breakers.record("cmd", failed=True, threshold=3, cooldown_s=60)
    breakers.record("cmd", failed=True, threshold=3, cooldown_s=60)
    assert breakers.admit("cmd") == (60.0, False)  # open
    clock.advance(60)
    assert breakers.admit("cmd") == (0.0, True)  # half-open: this run is the probe
    wait, probe = breakers.admit("cmd")
    assert (wait > 0, probe) == (True, False)  # only one probe at a time
    breakers.record("cmd", failed=False, threshold=3, cooldown_s=60)
    assert breakers.admit("cmd") == (0.0, False)  # closed again


def test_a_failed_probe_opens_the_breaker_again() -> None:
    clock = FakeClock()
    breakers = Breakers(clock=clock)
    breakers.record("cmd", failed=True, threshold=1, cooldown_s=10)
    clock.advance(10)
    assert breakers.admit("cmd") == (0.0, True)
    breakers.record("cmd", failed=True, threshold=1, cooldown_s=10)
    assert breakers.admit("cmd") == (10.0, False)


def test_a_success_resets_the_count_and_a_probe_without_verdict_frees_the_slot() -> None:
    clock = FakeClock()
    breakers = Breakers(clock=clock)
    breakers.record("cmd", failed=True, threshold=2, cooldown_s=5)
    breakers.record("cmd", failed=False, threshold=2, cooldown_s=5)
    breakers.record("cmd", failed=True, threshold=2, cooldown_s=5)
    assert breakers.admit("cmd") == (0.0, False)  # one failure in a row, not two
    breakers.record("cmd", failed=True, threshold=2, cooldown_s=5)
    clock.advance(5)
    assert breakers.admit("cmd") == (0.0, True)
    breakers.end_probe("cmd")  # the probe was blocked before its handler
    assert breakers.admit("cmd") == (0.0, True)
    assert breakers.admit("other") == (0.0, False)
