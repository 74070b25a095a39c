"""Every GitHub call goes through here: retries, rate limits and pacing, per installation.

Through gidgethub 6's two hooks (`manage_rate_limit` before each attempt,
`handle_rate_limit_error` after a failed one) and its `_request`:

* 5xx answers, timeouts and dropped connections are retried with exponential backoff and
  full jitter, at most MAX_ATTEMPTS times, when repeating the request is harmless; and a
  run spends at most its `RetryBudget` on retries and waits, whatever its calls. A
  comment's creation is not: it fails with `AmbiguousWrite` and the caller checks the run's
  hidden marker before posting again (bot/github/issues.py).
* Primary limit: when `x-ratelimit-remaining` reaches 0, no request leaves before
  `x-ratelimit-reset`. Secondary limits (403 with that message, or any 429): wait
  `Retry-After` when given, else at least 60 s, doubling on each repeat; meanwhile no
  request goes to that installation at all (GitHub bans integrations that keep calling).
* At most `max_in_flight` requests at a time, and content-creating requests paced within
  `writes_per_minute` (GitHub's 80 a minute) by a token bucket.

The decisions (`limit_wait`, `backoff`, `is_idempotent`) are pure functions.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from gidgethub import GitHubException, HTTPException, RateLimitExceeded
from gidgethub.aiohttp import GitHubAPI

from bot.buckets import TokenBuckets
from bot.domain import RateLimit

MAX_ATTEMPTS = 5
BACKOFF_CAP_S = 30.0
# A wait longer than this fails the request at once (RateLimited) instead of holding a run:
# the installation stays closed until the wait ends, for every request.
MAX_WAIT_S = 120.0
SECONDARY_MIN_WAIT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
# POSTs GitHub applies once however often they come: a reaction (200 when it exists),
# labels (a set), an installation token.
_IDEMPOTENT_POST = re.compile(r"/(reactions|labels|access_tokens)$")


@dataclass(slots=True)
class RetryBudget:
    """How many more retries (and rate-limit waits) the current run may spend."""

    left: int

    def spend(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


# Set by the pipeline for each run; every call the run makes, in any task, sees it.
RUN_RETRY_BUDGET: ContextVar[RetryBudget | None] = ContextVar("run_retry_budget", default=None)


def may_retry() -> bool:
    budget = RUN_RETRY_BUDGET.get()
    return budget is None or budget.spend()


class AmbiguousWrite(GitHubException):
    """A write whose answer never came: it may have happened. Check before repeating it."""


class GitHubUnreachable(GitHubException):
    """GitHub did not answer after every retry; try again later."""


class RateLimited(GitHubException):
    """GitHub asked the bot to keep off this installation for `retry_after_s` more seconds;
    nothing is sent before then."""

    def __init__(self, retry_after_s: float):
        self.retry_after_s = retry_after_s
        super().__init__(f"GitHub's rate limit: try again in {retry_after_s:.0f} s")


def is_idempotent(method: str, url: str) -> bool:
    if method in _IDEMPOTENT_METHODS:
        return True
    return method == "POST" and _IDEMPOTENT_POST.search(url.partition("?")[0]) is not None


def backoff(attempt: int, base_s: float, rng: random.Random) -> float:
    """Full jitter: anywhere up to base * 2^(attempt-1), capped."""
    return rng.uniform(0, min(BACKOFF_CAP_S, base_s * 2 ** (attempt - 1)))


def limit_wait(exception: HTTPException, attempt: int, now: datetime) -> float | None:
    """Seconds to keep off the installation after a rate-limit answer; None if it is not one."""
    if isinstance(exception, RateLimitExceeded):
        reset: datetime = exception.rate_limit.reset_datetime
        return max((reset - now).total_seconds(), 0.0) + 1.0
    status = int(exception.status_code)
    headers = {k.lower(): v for k, v in exception.headers.items()}
    retry_after = headers.get("retry-after")
    secondary = "secondary rate limit" in str(exception).lower()
    if status == 429 or (status == 403 and (secondary or retry_after is not None)):
        first = _seconds(retry_after) if retry_after is not None else None
        if first is None:
            first = SECONDARY_MIN_WAIT_S
        return float(first * 2 ** (attempt - 1))
    return None


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class ResilientGitHubAPI(GitHubAPI):
    """A gidgethub client for one credential (one installation, or the App's JWT)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        requester: str,
        *,
        base_url: str,
        cache: Mapping[str, object] | None = None,
        max_in_flight: int = 10,
        writes_per_minute: int = 80,
        backoff_base_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(session, requester, cache=cache, base_url=base_url)
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff_base_s = backoff_base_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self._writes = TokenBuckets(clock)
        self._write_rate = RateLimit(writes_per_minute, 60.0)
        # No request before this moment (monotonic): a rate limit told us to keep off.
        self.blocked_until = 0.0

    @property
    def remaining(self) -> int | None:
        """Requests left in this credential's hourly budget, as GitHub last said."""
        return None if self.rate_limit is None else int(self.rate_limit.remaining)

    async def manage_rate_limit(self, *, method: str, url: str) -> None:
        limit = self.rate_limit
        if limit is not None and limit.remaining < 0 and limit.reset_datetime > _utc_now():
            # gidgethub counts this request already; the budget is spent until the reset.
            wait = (limit.reset_datetime - _utc_now()).total_seconds() + 1.0
            self.blocked_until = max(self.blocked_until, self._clock() + wait)
        await self._keep_off()

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        if attempt >= MAX_ATTEMPTS:
            return False
        wait = limit_wait(exception, attempt, _utc_now())
        retriable = wait is not None or int(exception.status_code) >= 500
        if retriable and not may_retry():
            return False
        if wait is not None:
            self.blocked_until = max(self.blocked_until, self._clock() + wait)
            # The next attempt waits in manage_rate_limit, or fails there when it is long.
            return True
        if int(exception.status_code) >= 500 and is_idempotent(method, url):
            await self.sleep(backoff(attempt, self._backoff_base_s, self._rng))
            return True
        return False

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        attempt = 0
        while True:
            attempt += 1
            if method not in _SAFE_METHODS:
                await self._pace_write()
            try:
                async with self._slots:
                    # Checked again with a slot in hand: a limit may have come meanwhile.
                    await self._keep_off()
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):  # no task of its own
                        return await super()._request(method, url, headers, body)
            except (aiohttp.ClientError, TimeoutError) as error:
                if not is_idempotent(method, url):
                    raise AmbiguousWrite(f"{method} {url}: no answer ({error!r})") from error
                if attempt >= MAX_ATTEMPTS or not may_retry():
                    raise GitHubUnreachable(f"{method} {url}: {error!r}") from error
            await self.sleep(backoff(attempt, self._backoff_base_s, self._rng))
            await self._keep_off()

    async def _keep_off(self) -> None:
        while (wait := self.blocked_until - self._clock()) > 0:
            if wait > MAX_WAIT_S:
                raise RateLimited(wait)
            await self.sleep(wait)

    async def _pace_write(self) -> None:
        while wait := self._writes.take("writes", self._write_rate):
            await self.sleep(wait)


def _utc_now() -> datetime:
    return datetime.now(UTC)
