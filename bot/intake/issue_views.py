"""What the bot last heard about each issue: its labels, from GitHub's deliveries and lookups.

The REST and external entries need an issue's labels, and to know that it exists, before
they accept a call. Every delivery about an issue carries the issue as it is after the
change (a comment, a label, an edit; the bot's own included, since GitHub sends those
back too), so a lookup can reuse what a delivery said a moment ago instead of asking GitHub
again (decision 0017). A comment's command is decided on the labels its delivery carries;
this gives calls from outside GitHub the same view, no staler.

A view lasts FRESH_SECONDS. An older view (by the issue's `updated_at`) never replaces a
newer one, and two different views of the same second cancel out (the next lookup asks
GitHub). A deleted or transferred issue, and the issues of a lost installation, are
forgotten, and stay so for FRESH_SECONDS whatever arrives late.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from bot.domain import RepoRef

# Long enough for the calls of a busy moment to share one lookup, short enough that a
# delivery GitHub failed to send leaves the view wrong briefly.
FRESH_SECONDS = 30.0
MAX_ISSUES = 10_000
_GONE = ("deleted", "transferred")


@dataclass(frozen=True, slots=True)
class IssueView:
    installation_id: int
    labels: frozenset[str]
    # GitHub's ISO 8601 timestamp (`…Z`, one format): compares as text.
    updated_at: str


def view_of(issue: Mapping[str, Any], installation_id: int) -> IssueView | None:
    """The view of an issue object, as GitHub's REST API and deliveries give it; None when
    it lacks what a view needs."""
    labels = issue.get("labels")
    updated_at = issue.get("updated_at")
    if not isinstance(labels, list) or not isinstance(updated_at, str):
        return None
    names = [label.get("name") if isinstance(label, Mapping) else None for label in labels]
    if not all(isinstance(name, str) for name in names):
        return None
    return IssueView(installation_id, frozenset(map(str, names)), updated_at)


class IssueViews:
    def __init__(self, *, timer: Callable[[], float] = time.monotonic):
        # Keyed by the repository's name casefolded: GitHub's names ignore case, and a
        # view kept under another spelling would miss the deliveries that refresh it.
        self._views: TTLCache[tuple[str, int], IssueView] = TTLCache(
            maxsize=MAX_ISSUES, ttl=FRESH_SECONDS, timer=timer
        )
        # Issues deleted or transferred, and installations lost, lately: a delivery sent
        # before that, or a lookup under way then, must not bring a view back.
        self._gone: TTLCache[tuple[str, int], bool] = TTLCache(
            maxsize=MAX_ISSUES, ttl=FRESH_SECONDS, timer=timer
        )
        self._lost: TTLCache[int, bool] = TTLCache(maxsize=1_000, ttl=FRESH_SECONDS, timer=timer)

    def get(self, repo: RepoRef, issue: int) -> IssueView | None:
        return self._views.get(_key(repo.full_name, issue))

    def saw(self, repo: RepoRef, issue: int, view: IssueView) -> None:
        self._keep(_key(repo.full_name, issue), view)

    def forget_installation(self, installation_id: int) -> None:
        """The App lost (some of) this installation's repositories: its views may lie."""
        self._lost[installation_id] = True
        for key, view in list(self._views.items()):
            if view.installation_id == installation_id:
                self._views.pop(key, None)  # it may have expired meanwhile

    def heard(self, event: str, payload: Mapping[str, Any]) -> None:
        """Take in what a (verified) delivery says about its issue, if it is about one."""
        issue, repo, installation = (
            payload.get("issue"),
            payload.get("repository"),
            payload.get("installation"),
        )
        if not (isinstance(issue, Mapping) and isinstance(repo, Mapping)):
            return
        number, full_name = issue.get("number"), repo.get("full_name")
        if not isinstance(number, int) or not isinstance(full_name, str):
            return
        key = _key(full_name, number)
        if event == "issues" and payload.get("action") in _GONE:
            self._gone[key] = True
            self._views.pop(key, None)
            return
        installation_id = installation.get("id") if isinstance(installation, Mapping) else None
        if not isinstance(installation_id, int):
            return
        view = view_of(issue, installation_id)
        if view is not None:
            self._keep(key, view)

    def _keep(self, key: tuple[str, int], view: IssueView) -> None:
        if key in self._gone or view.installation_id in self._lost:
            return
        known = self._views.get(key)
        if known is None or view.updated_at > known.updated_at:
            self._views[key] = view
        elif view.updated_at == known.updated_at and view.labels != known.labels:
            # Two changes within one second (GitHub's timestamps stop at seconds), perhaps
            # arrived out of order: which is the later cannot be told, so ask GitHub.
            self._views.pop(key, None)


def _key(full_name: str, issue: int) -> tuple[str, int]:
    return (full_name.casefold(), issue)
