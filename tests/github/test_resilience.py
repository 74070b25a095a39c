"""Retries, rate limits and pacing (bot/github/resilience.py): the pure decisions, then the
client against the emulator's injected faults."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import aiohttp
import pytest
from gidgethub import BadRequest, GitHubBroken, RateLimitExceeded
from gidgethub.sansio import RateLimit as GitHubRateLimit

from bot.domain import RepoRef
from bot.github import issues
from bot.github.auth import AppAuth
from bot.github.client import ClientLimits, GitHub
from bot.github.resilience import (
    RUN_RETRY_BUDGET,
    ResilientGitHubAPI,
    RetryBudget,
    backoff,
    is_idempotent,
    limit_wait,
)
from bot.testing import Faults, GitHubEmulator, KeyPair

APP_ID = 77
INSTALLATION = 7
REPO = RepoRef("octo", "app")
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "/repos/o/r/issues", True),
        ("PATCH", "/repos/o/r/issues/comments/1", True),
        ("DELETE", "/repos/o/r/issues/1/labels/x", True),
        ("POST", "/repos/o/r/issues/1/labels", True),
        ("POST", "/repos/o/r/issues/comments/1/reactions", True),
        ("POST", "/app/installations/1/access_tokens", True),
        ("POST", "/repos/o/r/issues/1/comments", False),
        ("POST", "/gists", False),
    ],
)
def test_only_harmless_requests_are_repeated(method: str, url: str, expected: bool) -> None:
    assert is_idempotent(method, url) is expected


def test_backoff_is_full_jitter_under_a_doubling_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 8):
        waits = [backoff(attempt, 0.5, rng) for _ in range(200)]
        assert all(0 <= w <= min(30.0, 0.5 * 2 ** (attempt - 1)) for w in waits)
        assert max(waits) > 0.5 * min(30.0, 0.5 * 2 ** (attempt - 1))  # spread, not fixed


def broken(status: int, message: str, headers: dict[str, str] | None = None) -> BadRequest:
    return BadRequest(HTTPStatus(status), message, headers=headers)


def test_a_secondary_limit_waits_retry_after_or_60_s_then_doubles() -> None:
    told = broken(403, "You have exceeded a secondary rate limit", {"Retry-After": "3"})
    assert limit_wait(told, 1, NOW) == 3
    assert limit_wait(told, 2, NOW) == 6
    untold = broken(403, "You have exceeded a secondary rate limit")
    assert limit_wait(untold, 1, NOW) == 60
    assert limit_wait(untold, 3, NOW) == 240
    assert limit_wait(broken(429, "Too Many Requests"), 1, NOW) == 60


def test_a_primary_limit_waits_for_the_reset() -> None:
    reset = NOW + timedelta(minutes=10)
    limit = GitHubRateLimit(limit=5000, remaining=0, reset_epoch=reset.timestamp())
    exceeded = RateLimitExceeded(limit)
    assert limit_wait(exceeded, 1, NOW) == pytest.approx(601)


def test_other_errors_are_not_rate_limits() -> None:
    assert limit_wait(broken(403, "Resource not accessible by integration"), 1, NOW) is None
    assert limit_wait(broken(404, "Not Found"), 1, NOW) is None
    assert limit_wait(GitHubBroken(HTTPStatus(502)), 1, NOW) is None


# -- against the emulator -------------------------------------------------------------------


@pytest.fixture
async def world(app_keys: KeyPair) -> AsyncIterator[tuple[GitHubEmulator, GitHub]]:
    emulator = GitHubEmulator(
        app_id=APP_ID,
        app_slug="queue-bot",
        public_key_pem=app_keys.public_pem,
        webhook_secret="unused",
        deliver_own_events=False,
    )
    emulator.add_installation(INSTALLATION, REPO.owner)
    emulator.add_repo(INSTALLATION, REPO.full_name)
    emulator.add_issue(REPO.full_name, "an issue")
    url = await emulator.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            limits = ClientLimits(backoff_base_s=0.01)
            github = GitHub(
                session, AppAuth(APP_ID, app_keys.private_pem), base_url=url, limits=limits
            )
            yield emulator, github
    finally:
        await emulator.stop()
    assert emulator.violations == []  # never called during a wait it was told


async def test_reads_get_through_server_errors_and_dropped_connections(
    world: tuple[GitHubEmulator, GitHub],
) -> None:
    emulator, github = world
    gh = github.installation(INSTALLATION)
    await issues.get_issue(gh, REPO, 1)  # the token first
    emulator.inject_faults(Faults(error_ratio=0.3, drop_ratio=0.2, seed=5))
    for _ in range(20):
        assert (await issues.get_issue(gh, REPO, 1)) is not None
    failed = [r for r in emulator.requests if r.status in (0, 502)]
    assert failed  # faults happened, and were retried


async def test_a_secondary_limit_is_waited_out_by_every_request(
    world: tuple[GitHubEmulator, GitHub],
) -> None:
    emulator, github = world
    gh = github.installation(INSTALLATION)
    await issues.get_issue(gh, REPO, 1)
    emulator.inject_faults(Faults(secondary_every=3, too_many_every=5, retry_after=0.2, seed=1))
    for _ in range(12):
        assert (await issues.get_issue(gh, REPO, 1)) is not None
    refused = [r for r in emulator.requests if r.status in (403, 429)]
    assert len(refused) >= 3
    # The emulator records a violation for any request inside a wait it told (checked at
    # teardown); here, also the gap after each refusal.
    for refusal in refused:
        following = [r for r in emulator.requests if r.arrived_at > refusal.arrived_at]
        assert following[0].arrived_at - refusal.arrived_at >= 0.2


async def test_a_comment_whose_answer_is_lost_is_posted_once(
    world: tuple[GitHubEmulator, GitHub],
) -> None:
    emulator, github = world
    gh = github.installation(INSTALLATION)
    await issues.get_issue(gh, REPO, 1)
    emulator.inject_faults(Faults(error_ratio=0.2, drop_ratio=0.3, seed=11))
    markers = [f"<!-- mark {n} -->" for n in range(15)]
    for marker in markers:
        await issues.create_comment(gh, REPO, 1, f"hello {marker}", marker=marker)
    emulator.inject_faults(None)
    bodies = [c.body for c in emulator.issue_view(REPO.full_name, 1).comments]
    assert [sum(marker in body for body in bodies) for marker in markers] == [1] * 15
    assert [r for r in emulator.requests if r.status == 0 and r.method == "POST"]


class PacedAPI(ResilientGitHubAPI):
    """Sleeps on a fake clock, to see the pacing without waiting for it."""

    def __init__(self, session: aiohttp.ClientSession, clock: list[float]) -> None:
        super().__init__(
            session, "test", base_url="http://127.0.0.1:9", writes_per_minute=2,
            clock=lambda: clock[0],
        )  # fmt: skip
        self._now = clock
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now[0] += seconds


async def test_writes_are_paced_within_the_limit() -> None:
    clock = [1000.0]
    async with aiohttp.ClientSession() as session:
        api = PacedAPI(session, clock)
        for _ in range(3):
            await api._pace_write()
    assert api.slept == [pytest.approx(30.0)]  # 2 a minute: the third waits half a minute


async def test_the_remaining_budget_is_tracked_per_installation(
    world: tuple[GitHubEmulator, GitHub],
) -> None:
    emulator, github = world
    gh = github.installation(INSTALLATION)
    api = gh._api
    assert isinstance(api, ResilientGitHubAPI)
    assert api.remaining is None  # nothing asked yet
    await issues.get_issue(gh, REPO, 1)
    emulator.set_rate_limit_remaining(INSTALLATION, 42)
    await issues.collaborator_permission(gh, REPO, "octocat")  # a fresh answer, not a 304
    assert api.remaining == 41  # what GitHub said, this request spent


async def test_a_run_spends_at_most_its_retry_budget(
    world: tuple[GitHubEmulator, GitHub],
) -> None:
    emulator, github = world
    gh = github.installation(INSTALLATION)
    await issues.get_issue(gh, REPO, 1)
    emulator.inject_faults(Faults(error_ratio=1.0))
    before = len(emulator.requests)
    budget = RetryBudget(2)
    token = RUN_RETRY_BUDGET.set(budget)
    try:
        with pytest.raises(GitHubBroken):
            await issues.list_issues(gh, REPO)
    finally:
        RUN_RETRY_BUDGET.reset(token)
    assert len(emulator.requests) - before == 3  # the first try and two retries
    assert budget.left == 0
    emulator.inject_faults(None)
