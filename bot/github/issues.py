"""The issue-side calls the bot makes: comments, reactions, labels, permissions, listings.

Thin functions over `InstallationClient`, one per GitHub endpoint, that return plain data
and turn GitHub's quirks into plain answers (a label that is already gone is not an error).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from gidgethub import BadRequest, GitHubBroken

from bot.domain import Permission, RepoRef
from bot.github.client import InstallationClient
from bot.github.resilience import AmbiguousWrite

ISSUE = "/repos/{owner}/{repo}/issues/{issue_number}"
COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id}"


def _repo_vars(repo: RepoRef, **extra: str | int) -> dict[str, str | int]:
    return {"owner": repo.owner, "repo": repo.name, **extra}


class Gone(LookupError):
    """What a call acts on no longer exists (GitHub's 404 or 410): deleted meanwhile."""


@contextlib.contextmanager
def _gone_as(what: str) -> Iterator[None]:
    """GitHub's 404 or 410 for `what` becomes Gone."""
    try:
        yield
    except BadRequest as error:
        if error.status_code in (404, 410):
            raise Gone(what) from None
        raise


# Posting a comment is not idempotent: when its answer is lost, look before posting again.
COMMENT_ATTEMPTS = 6


async def create_comment(
    gh: InstallationClient, repo: RepoRef, issue: int, body: str, *, marker: str | None = None
) -> int:
    """Post a comment; its id. With a `marker` (a hidden string only this comment carries),
    a post whose answer was lost is looked for before it is posted again, so it never
    appears twice; without one, a lost answer is an error."""
    for attempt in range(1, COMMENT_ATTEMPTS + 1):
        try:
            data = await gh.post(
                ISSUE + "/comments", _repo_vars(repo, issue_number=issue), data={"body": body}
            )
            return int(data["id"])
        except (AmbiguousWrite, GitHubBroken):
            if marker is None or attempt == COMMENT_ATTEMPTS:
                raise
            await asyncio.sleep(0.2 * attempt)
            found = await comment_with(gh, repo, issue, marker)
            if found is not None:
                return found
    raise AssertionError("unreachable: the last attempt returns or raises")


async def comment_with(
    gh: InstallationClient, repo: RepoRef, issue: int, marker: str
) -> int | None:
    """The id of the issue's comment whose body holds `marker`, if there is one."""
    for comment in await list_comments(gh, repo, issue):
        if marker in str(comment.get("body") or ""):
            return int(comment["id"])
    return None


async def list_comments(gh: InstallationClient, repo: RepoRef, issue: int) -> list[dict[str, Any]]:
    return await gh.get_all(
        ISSUE + "/comments{?per_page}", _repo_vars(repo, issue_number=issue, per_page=100)
    )


async def edit_comment(gh: InstallationClient, repo: RepoRef, comment_id: int, body: str) -> None:
    """Edit a comment; raises Gone when it was deleted."""
    with _gone_as(f"comment {comment_id} on {repo}"):
        await gh.patch(COMMENT, _repo_vars(repo, comment_id=comment_id), data={"body": body})


async def react_to_comment(
    gh: InstallationClient, repo: RepoRef, comment_id: int, content: str
) -> None:
    """React on a comment; raises Gone when it was deleted. GitHub answers 200 for a
    reaction that already exists: reacting twice is harmless."""
    with _gone_as(f"comment {comment_id} on {repo}"):
        await gh.post(
            COMMENT + "/reactions",
            _repo_vars(repo, comment_id=comment_id),
            data={"content": content},
        )


async def react_to_issue(gh: InstallationClient, repo: RepoRef, issue: int, content: str) -> None:
    await gh.post(
        ISSUE + "/reactions", _repo_vars(repo, issue_number=issue), data={"content": content}
    )


async def add_labels(gh: InstallationClient, repo: RepoRef, issue: int, labels: list[str]) -> None:
    # Adding a label the issue already has is a no-op 200 on GitHub.
    await gh.post(ISSUE + "/labels", _repo_vars(repo, issue_number=issue), data={"labels": labels})


async def remove_label(gh: InstallationClient, repo: RepoRef, issue: int, label: str) -> None:
    """Remove a label; one that is already gone (GitHub's 404) is not an error."""
    try:
        await gh.delete(ISSUE + "/labels/{name}", _repo_vars(repo, issue_number=issue, name=label))
    except BadRequest as error:
        if error.status_code != 404:
            raise


async def get_issue(gh: InstallationClient, repo: RepoRef, issue: int) -> dict[str, Any] | None:
    """The issue, or None when it does not exist (GitHub's 404, and 410 when deleted)."""
    try:
        data: dict[str, Any] = await gh.get(ISSUE, _repo_vars(repo, issue_number=issue))
    except BadRequest as error:
        if error.status_code in (404, 410):
            return None
        raise
    return data


async def collaborator_permission(gh: InstallationClient, repo: RepoRef, user: str) -> Permission:
    data = await gh.get(
        "/repos/{owner}/{repo}/collaborators/{username}/permission",
        _repo_vars(repo, username=user),
    )
    # `permission` folds maintain into write and triage into read; `role_name` keeps the role.
    role = str(data.get("role_name") or data.get("permission") or "none")
    try:
        return Permission.parse(role)
    except ValueError:
        # Custom organisation roles carry their own names; fall back to the base permission.
        return Permission.parse(str(data.get("permission") or "none"))


async def list_issues(
    gh: InstallationClient, repo: RepoRef, *, state: str = "all", labels: str | None = None
) -> list[dict[str, Any]]:
    """Every issue (not pull request) of the repository, all pages."""
    url_vars = _repo_vars(repo, state=state, per_page=100)
    if labels:
        url_vars["labels"] = labels
    items = await gh.get_all("/repos/{owner}/{repo}/issues{?state,labels,per_page}", url_vars)
    return [item for item in items if "pull_request" not in item]


async def label_history(gh: InstallationClient, repo: RepoRef, issue: int) -> list[dict[str, Any]]:
    """The issue's `labeled` and `unlabeled` events, oldest first (each with `id`,
    `event`, `actor`, `label` and `performed_via_github_app`)."""
    events = await gh.get_all(
        ISSUE + "/events{?per_page}", _repo_vars(repo, issue_number=issue, per_page=100)
    )
    return [event for event in events if event.get("event") in ("labeled", "unlabeled")]


async def create_label(
    gh: InstallationClient, repo: RepoRef, name: str, color: str, description: str
) -> bool:
    """Create a repository label; False when it exists already (GitHub's 422), which is
    fine: people may have recoloured it, and the bot leaves it as it is."""
    try:
        await gh.post(
            "/repos/{owner}/{repo}/labels",
            _repo_vars(repo),
            data={"name": name, "color": color, "description": description},
        )
    except BadRequest as error:
        if error.status_code == 422:
            return False
        raise
    return True


async def repo_label_names(gh: InstallationClient, repo: RepoRef) -> list[str]:
    labels = await gh.get_all(
        "/repos/{owner}/{repo}/labels{?per_page}", _repo_vars(repo, per_page=100)
    )
    return [str(label["name"]) for label in labels]
