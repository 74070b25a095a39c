"""`/generate-report`: a report on the repository's issues, and what changed since the last.

The figures come from one paginated listing of every issue (`state=all`); the pure
functions below turn it into a summary, a snapshot to keep, and Markdown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.commands.catalogue import parse_since
from bot.commands.context import CommandContext, Outcome, PastRun
from bot.github import issues as gh_issues
from bot.markdown import count

OLDEST_SHOWN = 5
LABELS_SHOWN = 15


@dataclass(frozen=True, slots=True)
class IssueSummary:
    open: int
    closed: int
    opened_in_window: int
    closed_in_window: int
    # label -> (open, closed)
    by_label: dict[str, tuple[int, int]]
    # (number, title, created_at) of the oldest open issues, oldest first
    oldest_open: list[tuple[int, str, datetime]]


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def summarize(
    issues: Iterable[Mapping[str, Any]], start: datetime, ignored_labels: frozenset[str]
) -> IssueSummary:
    """The figures of the report; `ignored_labels` (the bot's own) are not counted."""
    open_count = closed_count = opened = closed_recently = 0
    by_label: Counter[tuple[str, str]] = Counter()
    open_issues: list[tuple[int, str, datetime]] = []
    for issue in issues:
        created = _when(issue["created_at"])
        closed_at = _when(issue.get("closed_at"))
        is_open = issue["state"] == "open"
        if is_open:
            open_count += 1
            if created is not None:
                open_issues.append((int(issue["number"]), str(issue["title"]), created))
        else:
            closed_count += 1
        if created is not None and created >= start:
            opened += 1
        if closed_at is not None and closed_at >= start and not is_open:
            closed_recently += 1
        for label in issue.get("labels", []):
            name = label["name"] if isinstance(label, Mapping) else str(label)
            if name in ignored_labels:
                continue
            by_label[(name, "open" if is_open else "closed")] += 1
    names = sorted({name for name, _ in by_label})
    return IssueSummary(
        open=open_count,
        closed=closed_count,
        opened_in_window=opened,
        closed_in_window=closed_recently,
        by_label={name: (by_label[(name, "open")], by_label[(name, "closed")]) for name in names},
        oldest_open=sorted(open_issues, key=lambda item: (item[2], item[0]))[:OLDEST_SHOWN],
    )


def snapshot(summary: IssueSummary, now: datetime) -> dict[str, Any]:
    return {"taken_at": now.isoformat(), "open": summary.open, "closed": summary.closed}


def _signed(delta: int) -> str:
    return f"+{delta}" if delta >= 0 else str(delta)


def changes_line(summary: IssueSummary, previous: Mapping[str, Any] | None) -> str:
    if not previous:
        return "This is the first report with these filters; the next one will show changes."
    since = str(previous["taken_at"])[:10]
    closed = summary.closed - int(previous["closed"])
    opened = (summary.open + summary.closed) - (int(previous["open"]) + int(previous["closed"]))
    return (
        f"Since the last report ({since}): {_signed(closed)} closed, "
        f"{_signed(opened)} opened, {_signed(summary.open - int(previous['open']))} open."
    )


def runs_line(past_runs: Iterable[PastRun]) -> str:
    counts = Counter(str(run.status) for run in past_runs)
    if not counts:
        return "No runs yet."
    return " · ".join(f"{status} {count}" for status, count in sorted(counts.items()))


def render(
    repo: str,
    window_text: str,
    start: datetime,
    label: str | None,
    summary: IssueSummary,
    previous: Mapping[str, Any] | None,
    past_runs: Iterable[PastRun],
    now: datetime,
) -> str:
    scope = f" labelled `{label}`" if label else ""
    lines = [
        f"**Issues{scope} in {repo}**, window `since={window_text}` (from {start:%Y-%m-%d}).",
        "",
        "| | issues |",
        "| --- | ---: |",
        f"| Open | {summary.open} |",
        f"| Closed | {summary.closed} |",
        f"| Opened in the window | {summary.opened_in_window} |",
        f"| Closed in the window | {summary.closed_in_window} |",
        "",
        changes_line(summary, previous),
    ]
    if summary.by_label:
        lines += ["", "| label | open | closed |", "| --- | ---: | ---: |"]
        ranked = sorted(summary.by_label.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        for name, (open_n, closed_n) in ranked[:LABELS_SHOWN]:
            lines.append(f"| `{name}` | {open_n} | {closed_n} |")
        if len(ranked) > LABELS_SHOWN:
            lines.append(f"| … {len(ranked) - LABELS_SHOWN} more | | |")
    if summary.oldest_open:
        lines += ["", "Oldest open issues:"]
        for number, title, created in summary.oldest_open:
            age = count((now - created).days, "day")
            lines.append(f"- #{number} {title} (opened {created:%Y-%m-%d}, {age} ago)")
    lines += ["", f"Bot runs on this repository: {runs_line(past_runs)}"]
    return "\n".join(lines)


async def handle(ctx: CommandContext) -> Outcome:
    window_text = str(ctx.params["since"])
    label = ctx.params.get("label")
    start = parse_since(window_text, ctx.now)
    repo = ctx.request.repo
    issues = await gh_issues.list_issues(ctx.github, repo, labels=label)
    summary = summarize(issues, start, ctx.status_labels)
    filter_key = f"label={label}" if label else "all"
    markdown = render(
        repo.full_name,
        window_text,
        start,
        label,
        summary,
        (ctx.saved or {}).get("snapshots", {}).get(filter_key),
        ctx.past_runs,
        ctx.now,
    )
    taken = snapshot(summary, ctx.now)

    def keep(kept: Mapping[str, Any] | None) -> dict[str, Any]:
        # Only this filter's snapshot: a concurrent report with another filter keeps its own.
        return {"snapshots": {**(kept or {}).get("snapshots", {}), filter_key: taken}}

    return Outcome(markdown=markdown, keep=keep)
