"""Webhook payloads: GitHub's real example payloads with the parts the world knows replaced.

Starting from a real payload keeps every field a bot might read present and realistically
typed, even the ones the world does not model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from bot.testing.render import APP_EVENTS, Json, Renderer, iso, node_id
from bot.testing.world import Comment, Installation, Issue, Label, Repo, User, now


@cache
def load_examples() -> Mapping[str, Json]:
    """`{"<event>.<action>" or "<event>": payload}` from `data/github/webhook-examples.json`."""
    path = files("bot.testing") / "data" / "github" / "webhook-examples.json"
    examples: dict[str, Json] = json.loads(path.read_text("utf-8"))
    return examples


class Payloads:
    def __init__(self, render: Renderer, examples: Mapping[str, Json]) -> None:
        self._render = render
        # Kept as JSON text: parsing a fresh copy is many times faster than deepcopy.
        self._examples = {key: json.dumps(example) for key, example in examples.items()}

    def issue_comment(
        self,
        action: Literal["created", "edited"],
        comment: Comment,
        sender: User,
        *,
        previous_body: str | None = None,
    ) -> Json:
        payload = self._example(f"issue_comment.{action}")
        payload["issue"] = {**payload["issue"], **self._render.issue(comment.issue)}
        payload["comment"] = {**payload["comment"], **self._render.comment(comment)}
        if action == "edited":
            payload["changes"] = {"body": {"from": previous_body}}
        return self._in_repo(payload, comment.issue.repo, sender)

    def issue_label(
        self, action: Literal["labeled", "unlabeled"], issue: Issue, label: Label, sender: User
    ) -> Json:
        payload = self._example(f"issues.{action}")
        payload["issue"] = {**payload["issue"], **self._render.issue(issue)}
        payload["label"] = self._render.label(issue.repo, label)
        return self._in_repo(payload, issue.repo, sender)

    def installation(
        self,
        action: Literal["created", "deleted"],
        installation: Installation,
        repos: list[Repo],
        sender: User,
    ) -> Json:
        payload = self._example(f"installation.{action}")
        payload["installation"] = {
            **payload["installation"],
            **self._render.installation(installation),
        }
        payload["repositories"] = [_brief(repo) for repo in repos]
        payload["sender"] = self._render.user(sender)
        return payload

    def installation_repositories(
        self,
        action: Literal["added", "removed"],
        installation: Installation,
        repos: list[Repo],
        sender: User,
    ) -> Json:
        payload = self._example(f"installation_repositories.{action}")
        payload["installation"] = {
            **payload["installation"],
            **self._render.installation(installation),
        }
        payload["repository_selection"] = "selected"
        payload["repositories_added"] = [_brief(r) for r in repos] if action == "added" else []
        payload["repositories_removed"] = [_brief(r) for r in repos] if action == "removed" else []
        payload["requester"] = None
        payload["sender"] = self._render.user(sender)
        return payload

    def ping(self, hook_id: int, webhook_url: str, sender: User) -> Json:
        """The ping an App's webhook receives when it is set up."""
        payload = self._example("ping")
        stamp = iso(now())
        payload["hook_id"] = hook_id
        payload["hook"] = {
            "type": "App",
            "id": hook_id,
            "name": "web",
            "active": True,
            "events": list(APP_EVENTS),
            "config": {"content_type": "json", "insecure_ssl": "0", "url": webhook_url},
            "updated_at": stamp,
            "created_at": stamp,
            "app_id": self._render.app_id,
            "deliveries_url": f"{self._render.api_url}/app/hook/deliveries",
        }
        payload["sender"] = self._render.user(sender)
        return payload

    def _example(self, key: str) -> Json:
        payload: Json = json.loads(self._examples[key])
        # The world has no organizations; an example's would contradict the repository owner.
        payload.pop("organization", None)
        return payload

    def _in_repo(self, payload: Json, repo: Repo, sender: User) -> Json:
        payload["repository"] = {**payload["repository"], **self._render.repository(repo)}
        payload["sender"] = self._render.user(sender)
        if repo.installation_id is not None:
            payload["installation"] = {
                "id": repo.installation_id,
                "node_id": node_id("IntegrationInstallation", repo.installation_id),
            }
        return payload


def _brief(repo: Repo) -> dict[str, Any]:
    """A repository as installation events list it."""
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
    }
