"""World objects in GitHub's REST shapes (the OpenAPI response schemas).

API URLs point at the emulator, so a bot that follows `comments_url` and the like stays
on it; web URLs (`html_url`) point at github.com, where people would open them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bot.testing.world import (
    DEFAULT_PERMISSIONS,
    REACTION_CONTENTS,
    ROLES,
    Comment,
    Installation,
    Issue,
    IssueEvent,
    Label,
    Reaction,
    Repo,
    Token,
    User,
)

HTML_URL = "https://github.com"
# The events the emulated App subscribes to (installation events come to every App unasked).
APP_EVENTS = ["issue_comment", "issues", "label"]
# Installations are given repositories one by one (`add_repo`), never "all".
REPOSITORY_SELECTION = "selected"

Json = dict[str, Any]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, object_id: int) -> str:
    """GitHub's legacy global node id: base64 of `<len(kind)>:<kind><id>`."""
    return base64.b64encode(f"{len(kind):02d}:{kind}{object_id}".encode()).decode("ascii")


class Renderer:
    """Renders world objects for one emulated App, with API URLs under `api_url`."""

    def __init__(
        self, *, api_url: str, app_id: int, app_slug: str, repository_template: Mapping[str, Any]
    ) -> None:
        self.api_url = api_url
        self.app_id = app_id
        self.app_slug = app_slug
        # A real repository payload: every field we do not model keeps a realistic value.
        self._repository_template = repository_template

    def repo_url(self, repo: Repo) -> str:
        return f"{self.api_url}/repos/{repo.full_name}"

    def issue_url(self, issue: Issue) -> str:
        return f"{self.repo_url(issue.repo)}/issues/{issue.number}"

    def comment_url(self, comment: Comment) -> str:
        return f"{self.repo_url(comment.issue.repo)}/issues/comments/{comment.id}"

    def user(self, user: User) -> Json:
        url = f"{self.api_url}/users/{quote(user.login)}"
        bot = user.type == "Bot"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id(user.type, user.id),
            "avatar_url": (
                f"https://avatars.githubusercontent.com/in/{self.app_id}?v=4"
                if bot
                else f"https://avatars.githubusercontent.com/u/{user.id}?v=4"
            ),
            "gravatar_id": "",
            "url": url,
            "html_url": f"{HTML_URL}/apps/{self.app_slug}" if bot else f"{HTML_URL}/{user.login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.type,
            "site_admin": False,
        }

    def collaborator(self, user: User, role: str | None) -> Json:
        """A user with their effective role on a repository (`None`: no access)."""
        rank = ROLES.index(role) if role else -1
        return {
            **self.user(user),
            "permissions": {
                "pull": rank >= 0,
                "triage": rank >= 1,
                "push": rank >= 2,
                "maintain": rank >= 3,
                "admin": rank >= 4,
            },
            "role_name": role or "none",
        }

    def label(self, repo: Repo, label: Label) -> Json:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.repo_url(repo)}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "default": False,
            "description": label.description,
        }

    def reactions(self, url: str, reactions: list[Reaction]) -> Json:
        counts = {content: 0 for content in REACTION_CONTENTS}
        for reaction in reactions:
            counts[reaction.content] += 1
        return {"url": url, "total_count": len(reactions), **counts}

    def reaction(self, reaction: Reaction) -> Json:
        return {
            "id": reaction.id,
            "node_id": node_id("Reaction", reaction.id),
            "user": self.user(reaction.user),
            "content": reaction.content,
            "created_at": iso(reaction.created_at),
        }

    def issue(self, issue: Issue) -> Json:
        url = self.issue_url(issue)
        kind = "pull" if issue.is_pull_request else "issues"
        html_url = f"{HTML_URL}/{issue.repo.full_name}/{kind}/{issue.number}"
        rendered: Json = {
            "url": url,
            "repository_url": self.repo_url(issue.repo),
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": html_url,
            "id": issue.id,
            "node_id": node_id("PullRequest" if issue.is_pull_request else "Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.user),
            "labels": [self.label(issue.repo, label) for label in issue.labels],
            "state": issue.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(issue.comments),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at) if issue.closed_at else None,
            "author_association": issue.association,
            "active_lock_reason": None,
            # GitHub answers null, not "", for an issue without a description.
            "body": issue.body or None,
            "reactions": self.reactions(f"{url}/reactions", issue.reactions),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": "completed" if issue.state == "closed" else None,
        }
        if issue.is_pull_request:
            rendered["draft"] = False
            rendered["pull_request"] = {
                "url": f"{self.repo_url(issue.repo)}/pulls/{issue.number}",
                "html_url": html_url,
                "diff_url": f"{html_url}.diff",
                "patch_url": f"{html_url}.patch",
                "merged_at": None,
            }
        return rendered

    def comment(self, comment: Comment) -> Json:
        url = self.comment_url(comment)
        issue = self.issue(comment.issue)
        return {
            "url": url,
            "html_url": f"{issue['html_url']}#issuecomment-{comment.id}",
            "issue_url": issue["url"],
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "user": self.user(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": comment.association,
            "body": comment.body,
            "reactions": self.reactions(f"{url}/reactions", comment.reactions),
            "performed_via_github_app": None,
        }

    def issue_event(self, event: IssueEvent, app_owner: User) -> Json:
        """An entry of an issue's events list; `performed_via_github_app` is the App when
        it acted through its installation token."""
        rendered: Json = {
            "id": event.id,
            "node_id": node_id(f"{event.event.capitalize()}Event", event.id),
            "url": f"{self.repo_url(event.issue.repo)}/issues/events/{event.id}",
            "actor": self.user(event.actor),
            "event": event.event,
            "commit_id": None,
            "commit_url": None,
            "created_at": iso(event.created_at),
        }
        if event.label is not None:
            rendered["label"] = {"name": event.label.name, "color": event.label.color}
        rendered["performed_via_github_app"] = (
            self.app(app_owner, None, DEFAULT_PERMISSIONS) if event.via_app else None
        )
        return rendered

    def repository(self, repo: Repo) -> Json:
        template = self._repository_template
        rendered: Json = _replace_in_strings(
            template,
            {
                "https://api.github.com": self.api_url,
                template["full_name"]: repo.full_name,
            },
        )
        open_issues = sum(1 for issue in repo.issues.values() if issue.state == "open")
        rendered.update(
            {
                "id": repo.id,
                "node_id": node_id("Repository", repo.id),
                "name": repo.name,
                "full_name": repo.full_name,
                "owner": self.user(repo.owner),
                "private": repo.private,
                "visibility": "private" if repo.private else "public",
                "description": None,
                "homepage": None,
                "created_at": iso(repo.created_at),
                "updated_at": iso(repo.created_at),
                "pushed_at": iso(repo.created_at),
                "open_issues": open_issues,
                "open_issues_count": open_issues,
            }
        )
        return rendered

    def installation(self, installation: Installation) -> Json:
        return {
            "id": installation.id,
            "account": self.user(installation.account),
            "repository_selection": REPOSITORY_SELECTION,
            "access_tokens_url": (
                f"{self.api_url}/app/installations/{installation.id}/access_tokens"
            ),
            "repositories_url": f"{self.api_url}/installation/repositories",
            "html_url": f"{HTML_URL}/settings/installations/{installation.id}",
            "app_id": self.app_id,
            "app_slug": self.app_slug,
            "target_id": installation.account.id,
            "target_type": "User",
            "permissions": dict(installation.permissions),
            "events": list(APP_EVENTS),
            "created_at": iso(installation.created_at),
            "updated_at": iso(installation.created_at),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }

    def app(self, owner: User, installations: int | None, permissions: Mapping[str, str]) -> Json:
        """The App; `installations` is None where GitHub leaves `installations_count` out
        (everywhere but the App asking about itself)."""
        html_url = f"{HTML_URL}/apps/{self.app_slug}"
        rendered: Json = {
            "id": self.app_id,
            "slug": self.app_slug,
            "node_id": node_id("App", self.app_id),
            "client_id": f"Iv1.{self.app_id:016x}",
            "owner": self.user(owner),
            "name": self.app_slug,
            "description": "",
            "external_url": html_url,
            "html_url": html_url,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": dict(permissions),
            "events": list(APP_EVENTS),
        }
        if installations is not None:
            rendered["installations_count"] = installations
        return rendered

    def token(self, token: Token, repos: list[Repo]) -> Json:
        rendered: Json = {
            "token": token.value,
            "expires_at": iso(token.expires_at),
            "permissions": dict(token.permissions),
            "repository_selection": "all" if token.repository_ids is None else "selected",
        }
        if token.repository_ids is not None:
            rendered["repositories"] = [self.repository(repo) for repo in repos]
        return rendered


def _replace_in_strings(node: Any, replacements: Mapping[str, str]) -> Any:
    """Every string in `node` with the replacements applied (URLs that name the template)."""
    if isinstance(node, str):
        for old, new in replacements.items():
            node = node.replace(old, new)
        return node
    if isinstance(node, list):
        return [_replace_in_strings(item, replacements) for item in node]
    if isinstance(node, dict):
        return {key: _replace_in_strings(value, replacements) for key, value in node.items()}
    return node
