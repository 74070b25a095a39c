"""The per-installation client (bot/github/client.py) and the issue calls
(bot/github/issues.py), over real HTTP against the GitHub emulator on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from gidgethub import BadRequest

from bot.domain import Permission, RepoRef
from bot.github import issues
from bot.github.auth import AppAuth
from bot.github.client import GitHub
from bot.github.resilience import RateLimited
from bot.testing import GitHubEmulator, KeyPair, RecordedRequest

APP_ID = 5150
ALPHA, BETA = 101, 202
ALPHA_REPO = RepoRef("alpha", "app")
BETA_REPO = RepoRef("beta", "app")
ISSUE_URL = "/repos/{owner}/{repo}/issues/{issue_number}"
LIST_URL = "/repos/{owner}/{repo}/issues{?state,labels,per_page}"


@dataclass
class Sent:
    """One request as it left the client (aiohttp tracing), before any server saw it."""

    method: str
    path: str
    if_none_match: str | None


@dataclass
class Env:
    emulator: GitHubEmulator
    github: GitHub
    sent: list[Sent] = field(default_factory=list)

    def answered(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.emulator.requests if r.method == method and r.path == path]

    def sent_to(self, path: str) -> list[Sent]:
        return [s for s in self.sent if s.path == path]


def tracing(sent: list[Sent]) -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()

    async def on_start(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        sent.append(Sent(params.method, params.url.path, params.headers.get("If-None-Match")))

    config.on_request_start.append(on_start)
    return config


@pytest.fixture
async def env(app_keys: KeyPair) -> AsyncIterator[Env]:
    emulator = GitHubEmulator(
        app_id=APP_ID,
        app_slug="queue-bot",
        public_key_pem=app_keys.public_pem,
        webhook_secret="unused",
        deliver_own_events=False,
    )
    emulator.add_installation(ALPHA, ALPHA_REPO.owner)
    emulator.add_repo(ALPHA, ALPHA_REPO.full_name)
    emulator.add_installation(BETA, BETA_REPO.owner)
    emulator.add_repo(BETA, BETA_REPO.full_name)
    emulator.add_issue(ALPHA_REPO.full_name, "alpha's first issue")
    emulator.add_issue(BETA_REPO.full_name, "beta's first issue")
    url = await emulator.start("127.0.0.1", 0)
    sent: list[Sent] = []
    try:
        async with aiohttp.ClientSession(trace_configs=[tracing(sent)]) as session:
            github = GitHub(session, AppAuth(APP_ID, app_keys.private_pem), base_url=url)
            yield Env(emulator, github, sent)
    finally:
        await emulator.stop()


def issue_vars(repo: RepoRef, number: int) -> dict[str, str | int]:
    return {"owner": repo.owner, "repo": repo.name, "issue_number": number}


def issue_path(repo: RepoRef, number: int) -> str:
    return f"/repos/{repo.full_name}/issues/{number}"


# -- GitHub.installation and the ETag caches ----------------------------------------------


def test_installation_returns_one_client_per_installation(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    assert env.github.installation(ALPHA) is alpha
    beta = env.github.installation(BETA)
    assert beta is not alpha
    assert (alpha.installation_id, beta.installation_id) == (ALPHA, BETA)


async def test_a_repeated_get_is_revalidated_with_304(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    path = issue_path(ALPHA_REPO, 1)

    first = await alpha.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))
    again = await alpha.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))

    assert again == first
    assert first["title"] == "alpha's first issue"
    assert [r.status for r in env.answered("GET", path)] == [200, 304]
    sent = env.sent_to(path)
    assert sent[0].if_none_match is None
    assert sent[1].if_none_match is not None
    assert env.emulator.violations == []


async def test_a_changed_resource_is_fetched_again_not_served_from_cache(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    await alpha.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))
    env.emulator.world.require_issue(ALPHA_REPO.full_name, 1).title = "renamed"

    fresh = await alpha.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))

    assert fresh["title"] == "renamed"
    assert [r.status for r in env.answered("GET", issue_path(ALPHA_REPO, 1))] == [200, 200]


async def test_one_installations_cache_is_never_used_for_another(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    beta = env.github.installation(BETA)
    path = issue_path(ALPHA_REPO, 1)

    # alpha reads its issue twice: the entry is cached and proven live (304).
    await alpha.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))
    await alpha.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))
    # beta asks for the very same URL: GitHub says 404, and beta must hear exactly that.
    with pytest.raises(BadRequest) as raised:
        await beta.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))

    assert raised.value.status_code == 404
    statuses = [(r.installation_id, r.status) for r in env.answered("GET", path)]
    assert statuses == [(ALPHA, 200), (ALPHA, 304), (BETA, 404)]
    # beta's request carried no validator taken from alpha's cache.
    assert env.sent_to(path)[-1].if_none_match is None
    assert env.emulator.violations == []


async def test_a_url_both_installations_can_read_gives_each_its_own_answer(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    beta = env.github.installation(BETA)
    # Spend some of alpha's budget so the two answers differ.
    for _ in range(3):
        await alpha.get(ISSUE_URL, issue_vars(ALPHA_REPO, 1))

    alpha_limits = await alpha.get("/rate_limit")
    beta_limits = await beta.get("/rate_limit")

    assert alpha_limits["resources"]["core"]["used"] > 0
    assert beta_limits["resources"]["core"]["used"] == 0
    rate_limit_sent = env.sent_to("/rate_limit")
    assert [s.if_none_match for s in rate_limit_sent] == [None, None]
    assert env.emulator.violations == []


# -- bot/github/issues.py -----------------------------------------------------------------


async def test_remove_label_removes_it_and_an_absent_label_is_not_an_error(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    await issues.add_labels(alpha, ALPHA_REPO, 1, ["bot:running", "keep"])
    assert env.emulator.issue_view(ALPHA_REPO.full_name, 1).labels == ["bot:running", "keep"]

    await issues.remove_label(alpha, ALPHA_REPO, 1, "bot:running")
    await issues.remove_label(alpha, ALPHA_REPO, 1, "bot:running")  # already gone
    await issues.remove_label(alpha, ALPHA_REPO, 1, "never-there")

    assert env.emulator.issue_view(ALPHA_REPO.full_name, 1).labels == ["keep"]
    deletes = [r.status for r in env.emulator.requests if r.method == "DELETE"]
    assert deletes == [200, 404, 404]
    assert env.emulator.violations == []


async def test_remove_label_still_raises_errors_other_than_404(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    await issues.add_labels(alpha, ALPHA_REPO, 1, ["bot:running"])
    env.emulator.set_rate_limit_remaining(ALPHA, 0)

    asked = len(env.emulator.requests)
    with pytest.raises(RateLimited) as raised:
        await issues.remove_label(alpha, ALPHA_REPO, 1, "bot:running")
    # Told to wait for the reset (an hour away): it stops at once, and asks nothing more.
    assert raised.value.retry_after_s > 3000
    with pytest.raises(RateLimited):
        await issues.remove_label(alpha, ALPHA_REPO, 1, "bot:running")
    assert len(env.emulator.requests) == asked + 1
    assert env.emulator.issue_view(ALPHA_REPO.full_name, 1).labels == ["bot:running"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", Permission.ADMIN),
        ("maintain", Permission.MAINTAIN),
        ("write", Permission.WRITE),
        ("triage", Permission.TRIAGE),
        ("read", Permission.READ),
    ],
)
async def test_collaborator_permission_keeps_the_fine_grained_role(
    env: Env, role: str, expected: Permission
) -> None:
    env.emulator.set_role(ALPHA_REPO.full_name, "mia", role)
    alpha = env.github.installation(ALPHA)

    assert await issues.collaborator_permission(alpha, ALPHA_REPO, "mia") is expected
    assert env.emulator.violations == []


async def test_collaborator_permission_without_a_role(env: Env) -> None:
    env.emulator.add_repo(ALPHA, "alpha/private", private=True)
    alpha = env.github.installation(ALPHA)

    # Anyone may read a public repository; a private one gives a stranger nothing.
    public = await issues.collaborator_permission(alpha, ALPHA_REPO, "stranger")
    private = await issues.collaborator_permission(alpha, RepoRef("alpha", "private"), "stranger")
    owner = await issues.collaborator_permission(alpha, ALPHA_REPO, ALPHA_REPO.owner)

    assert public is Permission.READ
    assert private is Permission.NONE
    assert owner is Permission.ADMIN
    assert env.emulator.violations == []


async def test_list_issues_follows_every_page_and_leaves_out_pull_requests(env: Env) -> None:
    repo = RepoRef("alpha", "big")
    env.emulator.add_repo(ALPHA, repo.full_name)
    expected: set[int] = set()
    for i in range(250):
        is_pull = i % 10 == 0
        number = env.emulator.add_issue(
            repo.full_name,
            f"item {i}",
            pull_request=is_pull,
            state="closed" if i % 7 == 0 else "open",
        )
        if not is_pull:
            expected.add(number)
    alpha = env.github.installation(ALPHA)

    listed = await issues.list_issues(alpha, repo)

    numbers = [item["number"] for item in listed]
    assert len(numbers) == len(set(numbers))
    assert set(numbers) == expected
    assert all("pull_request" not in item for item in listed)
    pages = env.answered("GET", f"/repos/{repo.full_name}/issues")
    assert [r.status for r in pages] == [200, 200, 200]
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3"]
    assert env.emulator.violations == []


async def test_list_issues_filters_by_label(env: Env) -> None:
    repo = RepoRef("alpha", "labelled")
    env.emulator.add_repo(ALPHA, repo.full_name)
    bugs: set[int] = set()
    for i in range(40):
        labels = ["bug"] if i % 3 == 0 else ["feature"]
        number = env.emulator.add_issue(
            repo.full_name, f"item {i}", labels=labels, pull_request=i % 9 == 0
        )
        if i % 3 == 0 and i % 9 != 0:
            bugs.add(number)
    alpha = env.github.installation(ALPHA)

    listed = await issues.list_issues(alpha, repo, labels="bug")

    assert {item["number"] for item in listed} == bugs
    assert all("bug" in [label["name"] for label in item["labels"]] for item in listed)
    (request,) = env.answered("GET", f"/repos/{repo.full_name}/issues")
    assert request.query["labels"] == "bug"
    assert env.emulator.violations == []


async def test_calls_are_counted_by_method_and_url_template(env: Env) -> None:
    alpha = env.github.installation(ALPHA)
    beta = env.github.installation(BETA)

    comment_id = await issues.create_comment(alpha, ALPHA_REPO, 1, "working on it")
    await issues.edit_comment(alpha, ALPHA_REPO, comment_id, "done")
    await issues.react_to_comment(alpha, ALPHA_REPO, comment_id, "rocket")
    await issues.react_to_issue(alpha, ALPHA_REPO, 1, "eyes")
    await issues.add_labels(alpha, ALPHA_REPO, 1, ["bot:running"])
    await issues.remove_label(alpha, ALPHA_REPO, 1, "bot:running")
    await issues.remove_label(alpha, ALPHA_REPO, 1, "bot:running")
    await issues.collaborator_permission(alpha, ALPHA_REPO, "mia")
    await issues.list_issues(alpha, ALPHA_REPO)
    await issues.list_issues(alpha, ALPHA_REPO, labels="bug")
    await issues.create_comment(beta, BETA_REPO, 1, "hello")

    assert alpha.calls == Counter(
        {
            f"POST {ISSUE_URL}/comments": 1,
            "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}": 1,
            "POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions": 1,
            f"POST {ISSUE_URL}/reactions": 1,
            f"POST {ISSUE_URL}/labels": 1,
            f"DELETE {ISSUE_URL}/labels/{{name}}": 2,
            "GET /repos/{owner}/{repo}/collaborators/{username}/permission": 1,
            # One per listing, whatever the number of pages.
            f"GET {LIST_URL}": 2,
        }
    )
    # Each installation counts only its own calls.
    assert beta.calls == Counter({f"POST {ISSUE_URL}/comments": 1})
    # What GitHub saw agrees, once the token requests are left out.
    api_requests = [r for r in env.emulator.requests if r.auth == "installation"]
    assert len(api_requests) == sum(alpha.calls.values()) + sum(beta.calls.values())
    assert env.emulator.violations == []
