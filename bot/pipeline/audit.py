"""Audit: do state and the issues tell the same story? (`bot state verify`)

Every run in state should have its status comment on its issue, carrying its marker, and
every status comment on those issues should name a run that state knows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.domain import RepoRef
from bot.github import GitHub
from bot.github import issues as gh_issues
from bot.report.render import run_id_in
from bot.state import RunRecord

IssueKey = tuple[str, int]  # (owner/repo, issue number)


def audit_problems(
    records: Sequence[RunRecord], comments: Mapping[IssueKey, list[dict[str, Any]]]
) -> list[str]:
    """Each disagreement between state and the issues' comments, in words."""
    bodies = {
        key: {int(c["id"]): str(c.get("body") or "") for c in listed}
        for key, listed in comments.items()
    }
    problems = []
    for record in records:
        where = f"{record.repo}#{record.issue}"
        body = bodies.get((record.repo, record.issue), {}).get(record.comment_id or -1)
        if record.comment_id is None:
            problems.append(f"run {record.run_id} on {where} has no status comment")
        elif body is None:
            problems.append(
                f"run {record.run_id}: its status comment {record.comment_id} on {where} is gone"
            )
        elif run_id_in(body) != record.run_id:
            problems.append(
                f"run {record.run_id}: comment {record.comment_id} on {where} names another run"
            )
    known = {record.run_id for record in records}
    for (repo, issue), by_id in sorted(bodies.items()):
        for comment_id, text in by_id.items():
            run_id = run_id_in(text)
            if run_id is not None and run_id not in known:
                problems.append(
                    f"comment {comment_id} on {repo}#{issue} names run {run_id}, "
                    "which state does not know"
                )
    return problems


async def issue_comments(
    github: GitHub, records: Iterable[RunRecord]
) -> dict[IssueKey, list[dict[str, Any]]]:
    """The comments of every issue that has runs in state, one listing per issue."""
    issues: dict[IssueKey, int] = {}
    for record in records:
        issues[(record.repo, record.issue)] = record.installation_id
    comments: dict[IssueKey, list[dict[str, Any]]] = defaultdict(list)
    for (repo, issue), installation_id in sorted(issues.items()):
        gh = github.installation(installation_id)
        comments[(repo, issue)] = await gh_issues.list_comments(gh, RepoRef.parse(repo), issue)
    return comments
