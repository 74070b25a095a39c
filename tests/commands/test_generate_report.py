"""`/generate-report`'s pure parts: the summary, the change and runs lines, and the Markdown."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.catalogue import parse_since
from bot.commands.context import PastRun
from bot.commands.handlers.generate_report import (
    LABELS_SHOWN,
    OLDEST_SHOWN,
    IssueSummary,
    changes_line,
    render,
    runs_line,
    snapshot,
    summarize,
)
from bot.config import StatusLabels
from bot.domain import RunStatus

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
START = parse_since("30d", NOW)
BOT_LABELS = StatusLabels().all()


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(
    number: int,
    state: str,
    created: datetime,
    closed: datetime | None = None,
    labels: list[Any] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """An issue as GitHub's REST listing returns it (only the fields the report reads)."""
    return {
        "number": number,
        "title": title or f"Issue {number}",
        "state": state,
        "created_at": iso(created),
        "closed_at": iso(closed) if closed else None,
        "labels": [{"id": 1000 + i, "name": name} for i, name in enumerate(labels or [])],
    }


INSIDE = START + timedelta(days=10)
OUTSIDE = START - timedelta(days=10)

ISSUES = [
    issue(1, "open", OUTSIDE - timedelta(days=300), labels=["bug", "bot:succeeded"]),
    issue(2, "open", INSIDE, labels=["bug"]),
    issue(3, "closed", OUTSIDE, closed=INSIDE, labels=["enhancement"]),
    issue(4, "closed", INSIDE, closed=INSIDE + timedelta(hours=1)),
    issue(5, "closed", OUTSIDE, closed=OUTSIDE, labels=["bug", "bot:failed"]),
    issue(6, "open", START, labels=["bot:running"]),  # on the window's first second
    # Reopened: GitHub may keep an old closed_at; an open issue was not closed in the window.
    issue(7, "open", OUTSIDE, closed=INSIDE, labels=["help wanted"]),
]


def test_summary_counts_states_and_the_window() -> None:
    summary = summarize(ISSUES, START, BOT_LABELS)
    assert (summary.open, summary.closed) == (4, 3)
    assert summary.opened_in_window == 3  # 2, 4 and 6
    assert summary.closed_in_window == 2  # 3 and 4


def test_summary_counts_labels_by_state_and_ignores_the_bots_own() -> None:
    summary = summarize(ISSUES, START, BOT_LABELS)
    assert summary.by_label == {
        "bug": (2, 1),
        "enhancement": (0, 1),
        "help wanted": (1, 0),
    }
    assert list(summary.by_label) == sorted(summary.by_label)


def test_ignored_labels_are_exactly_those_given() -> None:
    summary = summarize(ISSUES, START, frozenset({"bug"}))
    assert "bug" not in summary.by_label
    assert summary.by_label["bot:succeeded"] == (1, 0)
    assert summary.by_label["bot:failed"] == (0, 1)


def test_labels_may_be_plain_names() -> None:
    issues = [{**ISSUES[0], "labels": ["bug", "bot:queued"]}, {**ISSUES[2], "labels": ["bug"]}]
    assert summarize(issues, START, BOT_LABELS).by_label == {"bug": (1, 1)}


def test_an_empty_listing_is_all_zeros() -> None:
    assert summarize([], START, BOT_LABELS) == IssueSummary(0, 0, 0, 0, {}, [])


def test_oldest_open_sorted_by_age_then_number_and_capped() -> None:
    tie = OUTSIDE - timedelta(days=50)
    issues = [
        issue(10, "open", OUTSIDE),
        issue(11, "open", tie),
        issue(12, "closed", OUTSIDE - timedelta(days=999), closed=OUTSIDE),  # closed: not shown
        issue(13, "open", tie - timedelta(days=1)),
        issue(14, "open", INSIDE),
        issue(15, "open", OUTSIDE - timedelta(days=80)),
        issue(16, "open", START),
        issue(17, "open", OUTSIDE - timedelta(days=5)),
    ]
    issues.append(issue(9, "open", tie))  # same age as #11, lower number: listed first
    random.Random(7).shuffle(issues)
    oldest = summarize(issues, START, BOT_LABELS).oldest_open
    assert len(oldest) == OLDEST_SHOWN
    assert [number for number, _, _ in oldest] == [15, 13, 9, 11, 17]
    assert oldest[0] == (15, "Issue 15", OUTSIDE - timedelta(days=80))


# Any listing: the figures agree with a plain count over the same issues.

moments = st.integers(min_value=-400, max_value=0).map(lambda days: NOW + timedelta(days=days))


@st.composite
def listings(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=0, max_value=12))
    result = []
    for number in range(1, count + 1):
        state = draw(st.sampled_from(["open", "closed"]))
        created = draw(moments)
        closed = draw(moments) if state == "closed" else None
        labels = draw(st.lists(st.sampled_from(["bug", "docs", "bot:queued"]), unique=True))
        result.append(issue(number, state, created, closed, labels))
    return result


@settings(max_examples=60, deadline=None)
@given(issues=listings())
def test_summary_agrees_with_a_plain_count(issues: list[dict[str, Any]]) -> None:
    summary = summarize(issues, START, BOT_LABELS)
    opened = [i for i in issues if i["state"] == "open"]
    assert summary.open + summary.closed == len(issues)
    assert summary.open == len(opened)
    assert summary.opened_in_window == sum(i["created_at"] >= iso(START) for i in issues)
    expected_oldest = sorted(opened, key=lambda i: (i["created_at"], i["number"]))
    assert [n for n, _, _ in summary.oldest_open] == [
        i["number"] for i in expected_oldest[:OLDEST_SHOWN]
    ]
    for name, (open_n, closed_n) in summary.by_label.items():
        having = [i for i in issues if name in {label["name"] for label in i["labels"]}]
        assert open_n == sum(i["state"] == "open" for i in having)
        assert closed_n == sum(i["state"] == "closed" for i in having)
    assert "bot:queued" not in summary.by_label


# --- What changed since the last report --------------------------------------------------


def summary_of(open_n: int, closed_n: int) -> IssueSummary:
    return IssueSummary(open_n, closed_n, 0, 0, {}, [])


@pytest.mark.parametrize("previous", [None, {}])
def test_the_first_report_says_so(previous: dict[str, Any] | None) -> None:
    assert changes_line(summary_of(4, 5), previous).startswith("This is the first report")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ((5, 2), (4, 5), "+3 closed, +2 opened, -1 open"),
        ((4, 5), (4, 5), "+0 closed, +0 opened, +0 open"),
        ((10, 8), (12, 8), "+0 closed, +2 opened, +2 open"),
        # Fewer issues than before (deleted, or moved out of the label filter).
        ((6, 9), (3, 7), "-2 closed, -5 opened, -3 open"),
    ],
)
def test_changes_against_the_previous_snapshot(
    before: tuple[int, int], after: tuple[int, int], expected: str
) -> None:
    taken = NOW - timedelta(days=14, hours=3)
    previous = snapshot(summary_of(*before), taken)
    line = changes_line(summary_of(*after), previous)
    assert line == f"Since the last report ({taken:%Y-%m-%d}): {expected}."


def test_a_snapshot_keeps_the_time_and_counts() -> None:
    assert snapshot(summary_of(3, 8), NOW) == {
        "taken_at": NOW.isoformat(),
        "open": 3,
        "closed": 8,
    }


# --- Bot runs ----------------------------------------------------------------------------


def past(*statuses: RunStatus) -> list[PastRun]:
    return [
        PastRun(f"run-{i}", "generate-report", status, issue=1, finished_at=NOW)
        for i, status in enumerate(statuses)
    ]


def test_no_runs_yet() -> None:
    assert runs_line([]) == "No runs yet."


@pytest.mark.parametrize(
    "statuses",
    [
        [RunStatus.SUCCEEDED],
        [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED, RunStatus.REFUSED],
        [RunStatus.RUNNING, RunStatus.BLOCKED, RunStatus.BLOCKED, RunStatus.CANCELLED],
    ],
)
def test_runs_are_counted_by_status(statuses: list[RunStatus]) -> None:
    line = runs_line(past(*statuses))
    parts = line.split(" · ")
    counts = Counter(statuses)
    assert sorted(parts) == parts
    assert parts == sorted(f"{status} {count}" for status, count in counts.items())


# --- The Markdown ------------------------------------------------------------------------


def render_report(label: str | None, previous: dict[str, Any] | None = None) -> str:
    summary = summarize(ISSUES, START, BOT_LABELS)
    return render(
        "octo-org/widgets",
        "30d",
        START,
        label,
        summary,
        previous,
        past(RunStatus.SUCCEEDED, RunStatus.FAILED),
        NOW,
    )


@pytest.mark.parametrize("label", [None, "good first issue"])
def test_render_names_the_scope_and_the_window_start(label: str | None) -> None:
    first = render_report(label).splitlines()[0]
    assert "octo-org/widgets" in first
    assert "`since=30d`" in first
    assert f"(from {START:%Y-%m-%d})" in first
    assert (f"labelled `{label}`" in first) is (label is not None)
    assert ("labelled" in first) is (label is not None)


def test_render_shows_the_figures_changes_labels_oldest_and_runs() -> None:
    summary = summarize(ISSUES, START, BOT_LABELS)
    previous = snapshot(summary_of(summary.open - 1, summary.closed), NOW - timedelta(days=7))
    text = render_report("bug", previous)
    lines = text.splitlines()
    assert f"| Open | {summary.open} |" in lines
    assert f"| Closed | {summary.closed} |" in lines
    assert f"| Opened in the window | {summary.opened_in_window} |" in lines
    assert f"| Closed in the window | {summary.closed_in_window} |" in lines
    assert changes_line(summary, previous) in lines
    # Labels ranked by total, then name.
    label_rows = [line for line in lines if line.startswith("| `")]
    assert label_rows == [
        "| `bug` | 2 | 1 |",
        "| `enhancement` | 0 | 1 |",
        "| `help wanted` | 1 | 0 |",
    ]
    for number, title, created in summary.oldest_open:
        age = (NOW - created).days
        assert f"- #{number} {title} (opened {created:%Y-%m-%d}, {age} days ago)" in lines
    assert (
        lines[-1]
        == f"Bot runs on this repository: {runs_line(past(RunStatus.SUCCEEDED, RunStatus.FAILED))}"
    )
    assert "bot:" not in text


def test_render_caps_the_label_table() -> None:
    extra = 4
    names = [f"label-{i:02d}" for i in range(LABELS_SHOWN + extra)]
    issues = [issue(n, "open", INSIDE, labels=names[: n + 1]) for n in range(len(names))]
    summary = summarize(issues, START, BOT_LABELS)
    text = render("o/r", "7d", START, None, summary, None, [], NOW)
    rows = [line for line in text.splitlines() if line.startswith("| `label-")]
    assert len(rows) == LABELS_SHOWN
    # label-00 is on every issue, so it ranks first.
    assert rows[0] == f"| `label-00` | {len(names)} | 0 |"
    assert f"| … {extra} more | | |" in text
    assert text.splitlines()[-1] == "Bot runs on this repository: No runs yet."


def test_render_without_labels_or_open_issues_leaves_those_sections_out() -> None:
    text = render("o/r", "7d", START, None, summary_of(0, 2), None, [], NOW)
    assert "| label | open | closed |" not in text
    assert "Oldest open issues:" not in text
