"""What the bot last heard about each issue (bot/intake/issue_views.py), from GitHub's real
example deliveries."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.domain import RepoRef
from bot.intake.issue_views import FRESH_SECONDS, IssueView, IssueViews, view_of
from bot.testing.payloads import load_examples

REPO = RepoRef("Codertocat", "Hello-World")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def example(name: str, *, labels: list[str], updated_at: str) -> dict[str, Any]:
    payload = copy.deepcopy(load_examples()[name])
    payload["installation"] = {"id": 7}
    payload["issue"]["labels"] = [{"name": label, "color": "ededed"} for label in labels]
    payload["issue"]["updated_at"] = updated_at
    return payload


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def views(clock: Clock) -> IssueViews:
    return IssueViews(timer=clock)


def test_a_comment_delivery_shows_its_issue(views: IssueViews) -> None:
    payload = example("issue_comment.created", labels=["bug", "bot:queued"], updated_at="T1")
    number = payload["issue"]["number"]

    views.heard("issue_comment", payload)

    assert views.get(REPO, number) == IssueView(7, frozenset({"bug", "bot:queued"}), "T1")
    assert views.get(RepoRef("codertocat", "hello-world"), number) is not None  # names ignore case
    assert views.get(REPO, number + 1) is None


def test_an_older_delivery_does_not_replace_a_newer_view(views: IssueViews) -> None:
    newer = example("issues.labeled", labels=["bug", "frozen"], updated_at="2026-01-01T10:00:05Z")
    older = example("issue_comment.created", labels=["bug"], updated_at="2026-01-01T10:00:01Z")
    number = newer["issue"]["number"]

    views.heard("issues", newer)
    views.heard("issue_comment", older)

    view = views.get(REPO, number)
    assert view is not None
    assert view.labels == {"bug", "frozen"}


def test_a_deleted_or_transferred_issue_is_forgotten(views: IssueViews) -> None:
    for action in ("deleted", "transferred"):
        shown = example("issues.labeled", labels=["bug"], updated_at="T1")
        views.heard("issues", shown)
        gone = {**shown, "action": action}

        views.heard("issues", gone)

        assert views.get(REPO, shown["issue"]["number"]) is None


def test_a_view_lasts_its_fresh_time(views: IssueViews, clock: Clock) -> None:
    payload = example("issue_comment.created", labels=[], updated_at="T1")
    views.heard("issue_comment", payload)
    number = payload["issue"]["number"]

    clock.now = FRESH_SECONDS - 1
    assert views.get(REPO, number) is not None
    clock.now = FRESH_SECONDS + 1
    assert views.get(REPO, number) is None


def test_losing_an_installation_forgets_its_views(views: IssueViews) -> None:
    payload = example("issue_comment.created", labels=[], updated_at="T1")
    views.heard("issue_comment", payload)
    views.saw(RepoRef("other", "repo"), 1, IssueView(8, frozenset(), "T1"))

    views.forget_installation(7)

    assert views.get(REPO, payload["issue"]["number"]) is None
    assert views.get(RepoRef("other", "repo"), 1) is not None


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.pop("issue"),
        lambda p: p.pop("installation"),
        lambda p: p["issue"].__setitem__("number", "1"),
        lambda p: p["issue"].__setitem__("labels", "bug"),
        lambda p: p["issue"].__setitem__("labels", [{"name": 3}]),
        lambda p: p["issue"].__setitem__("labels", ["bug"]),
        lambda p: p["issue"].pop("updated_at"),
        lambda p: p["repository"].__setitem__("full_name", None),
    ],
)
def test_a_delivery_without_what_a_view_needs_changes_nothing(
    views: IssueViews, damage: Any
) -> None:
    payload = example("issue_comment.created", labels=["bug"], updated_at="T1")
    number = payload["issue"]["number"]
    damage(payload)

    views.heard("issue_comment", payload)

    assert views.get(REPO, number) is None


def test_view_of_reads_an_issue_as_the_rest_api_gives_it() -> None:
    issue = load_examples()["issues.labeled"]["issue"]

    view = view_of(issue, 3)

    assert view is not None
    assert view.labels == {label["name"] for label in issue["labels"]}
    assert (view.installation_id, view.updated_at) == (3, issue["updated_at"])
