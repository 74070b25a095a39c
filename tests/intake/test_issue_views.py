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
T1 = "2026-11-25T10:00:01Z"
T2 = "2026-11-25T10:00:02Z"


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
    payload = example("issue_comment.created", labels=["bug", "bot:queued"], updated_at=T1)
    number = payload["issue"]["number"]

    views.heard("issue_comment", payload)

    assert views.get(REPO, number) == IssueView(7, frozenset({"bug", "bot:queued"}), T1)
    assert views.get(RepoRef("codertocat", "hello-world"), number) is not None  # names ignore case
    assert views.get(REPO, number + 1) is None


def test_an_older_delivery_does_not_replace_a_newer_view(views: IssueViews) -> None:
    newer = example("issues.labeled", labels=["bug", "frozen"], updated_at=T2)
    older = example("issue_comment.created", labels=["bug"], updated_at=T1)
    number = newer["issue"]["number"]

    views.heard("issues", newer)
    views.heard("issue_comment", older)

    view = views.get(REPO, number)
    assert view is not None
    assert view.labels == {"bug", "frozen"}


def test_two_different_views_of_one_second_cancel_out(views: IssueViews) -> None:
    # GitHub's timestamps stop at seconds: which of the two came later cannot be told.
    first = example("issues.labeled", labels=["bug", "bot:queued"], updated_at=T1)
    second = example("issues.unlabeled", labels=["bug"], updated_at=T1)
    number = first["issue"]["number"]

    views.heard("issues", first)
    views.heard(
        "issue_comment",
        example("issue_comment.created", labels=["bug", "bot:queued"], updated_at=T1),
    )
    assert views.get(REPO, number) is not None  # the same view again changes nothing
    views.heard("issues", second)

    assert views.get(REPO, number) is None


def test_a_deleted_or_transferred_issue_stays_forgotten(views: IssueViews, clock: Clock) -> None:
    for action in ("deleted", "transferred"):
        shown = example("issues.labeled", labels=["bug"], updated_at=T1)
        number = shown["issue"]["number"]
        views.heard("issues", shown)

        views.heard("issues", {**shown, "action": action})
        assert views.get(REPO, number) is None
        # A delivery sent before, arriving late, and a lookup under way, change nothing.
        views.heard("issues", example("issues.labeled", labels=["bug"], updated_at=T2))
        views.saw(REPO, number, IssueView(7, frozenset(), T2))
        assert views.get(REPO, number) is None

        clock.now += FRESH_SECONDS + 1
        views.saw(REPO, number, IssueView(7, frozenset(), T2))
        assert views.get(REPO, number) is not None


def test_a_view_lasts_its_fresh_time(views: IssueViews, clock: Clock) -> None:
    payload = example("issue_comment.created", labels=[], updated_at=T1)
    views.heard("issue_comment", payload)
    number = payload["issue"]["number"]

    clock.now = FRESH_SECONDS - 1
    assert views.get(REPO, number) is not None
    clock.now = FRESH_SECONDS + 1
    assert views.get(REPO, number) is None


def test_losing_an_installation_forgets_its_views(views: IssueViews) -> None:
    payload = example("issue_comment.created", labels=[], updated_at=T1)
    views.heard("issue_comment", payload)
    views.saw(RepoRef("other", "repo"), 1, IssueView(8, frozenset(), T1))

    views.forget_installation(7)

    assert views.get(REPO, payload["issue"]["number"]) is None
    assert views.get(RepoRef("other", "repo"), 1) is not None
    # A lookup that was under way does not bring the installation's view back.
    views.saw(REPO, 5, IssueView(7, frozenset(), T2))
    assert views.get(REPO, 5) is None


def test_forgetting_an_installation_while_views_expire() -> None:
    ticks = iter(range(0, 10_000, 7))  # the clock moves at every look
    views = IssueViews(timer=lambda: float(next(ticks)))
    for number in range(1, 8):
        views.saw(REPO, number, IssueView(7, frozenset(), T1))

    views.forget_installation(7)

    assert all(views.get(REPO, number) is None for number in range(1, 8))


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
    payload = example("issue_comment.created", labels=["bug"], updated_at=T1)
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
