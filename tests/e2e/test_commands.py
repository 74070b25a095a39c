"""End to end over real HTTP: a person comments, the bot runs, the issue shows it.

The bot and the GitHub emulator each listen on a loopback port; nothing is mocked.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.domain import RunStatus, Source
from bot.report.render import run_id_in
from bot.sandbox import MAINTAINER, REPO
from bot.testing import IssueView
from tests.conftest import Harness

BOT = "issue-queue-bot[bot]"


def bot_comments(view: IssueView) -> list[str]:
    return [c.body for c in view.comments if c.user == BOT]


def reactions_on(view: IssueView, body: str) -> list[tuple[str, str]]:
    (comment,) = [c for c in view.comments if c.body == body]
    return [(r.content, r.user) for r in comment.reactions]


async def test_generate_report_end_to_end(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/generate-report")

    view = harness.emulator.issue_view(REPO, 1)
    (status,) = bot_comments(view)  # one status comment per run, edited into the report
    assert "✅ `/generate-report` succeeded" in status
    assert "| Open | 6 |" in status
    assert "| Closed | 4 |" in status
    assert "| Opened in the window | 4 |" in status
    assert "| Closed in the window | 3 |" in status
    assert "| `bug` | 2 | 2 |" in status
    assert "bot:running" not in status  # the bot's own labels are not counted
    assert "- #1 Try the bot here" in status  # the oldest open issue comes first
    assert reactions_on(view, "/generate-report") == [("eyes", BOT), ("rocket", BOT)]
    assert "bot:succeeded" in view.labels
    assert "bot:running" not in view.labels
    assert "documentation" in view.labels  # the project's own labels are left alone

    state = await harness.state()
    (run,) = state.runs
    assert run.status is RunStatus.SUCCEEDED
    assert run.source is Source.COMMENT
    assert [(h.name, str(h.verdict)) for h in run.hooks] == [
        ("permission", "pass"),
        ("rate-limit", "pass"),
        ("breaker", "pass"),
        ("arguments", "pass"),
        ("concurrency", "pass"),
    ]
    assert run_id_in(status) == run.run_id
    assert run.comment_id is not None
    snapshot = state.command_data[f"generate-report@{REPO}"]["snapshots"]["all"]
    assert (snapshot["open"], snapshot["closed"]) == (6, 4)
    assert harness.emulator.violations == []


async def test_calls_on_the_critical_path(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/generate-report")

    writes = [(r.method, r.path) for r in harness.emulator.writes()]
    comment_writes = [w for w in writes if w[1].endswith("/comments")]
    assert len(comment_writes) == 1  # exactly one comment posted for the run
    reactions = [r.body for r in harness.emulator.writes() if r.path.endswith("/reactions")]
    assert reactions == [{"content": "eyes"}, {"content": "rocket"}]
    first_issue_write = next(w for w in writes if "/repos/" in w[1])
    assert first_issue_write[1].endswith("/reactions")  # 👀 before anything else
    reads = [r.path for r in harness.emulator.requests if r.method == "GET"]
    assert reads.count(f"/repos/{REPO}/issues") == 1  # 10 issues: one page
    # The result is on the issue after 3 writes: 👀, the comment, the edit. A quick run
    # never shows `running`: one label write, the final one, after the result.
    issue_writes = [w for w in writes if "/repos/" in w[1]]
    result_edit = next(i for i, w in enumerate(issue_writes) if w[0] == "PATCH")
    assert result_edit + 1 == 3
    label_writes = [w for w in issue_writes if "/labels" in w[1]]
    assert label_writes == [("POST", f"/repos/{REPO}/issues/1/labels")]


async def test_second_report_shows_changes_since_the_first(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/generate-report")
    for number in (2, 3, 6):  # a person closes three issues
        issue = harness.emulator.world.require_issue(REPO, number)
        issue.state = "closed"
        issue.closed_at = issue.updated_at = datetime.now(UTC)
    await harness.comment(MAINTAINER, "/generate-report")

    first, second = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "first report with these filters" in first
    today = datetime.now(UTC).date().isoformat()
    assert f"Since the last report ({today}): +3 closed, +0 opened, -3 open." in second
    assert "Bot runs on this repository: succeeded 1" in second
    assert len((await harness.state()).runs) == 2


async def test_report_window_and_label_filter(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/generate-report since=30d label=bug")

    (status,) = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "**Issues labelled `bug` in demo/sandbox**, window `since=30d`" in status
    assert "| Open | 2 |" in status
    assert "| Closed | 2 |" in status
    listing = [r for r in harness.emulator.requests if r.path == f"/repos/{REPO}/issues"]
    assert listing[0].query["labels"] == "bug"
    data = (await harness.state()).command_data[f"generate-report@{REPO}"]
    assert set(data["snapshots"]) == {"label=bug"}


async def test_commands_in_one_comment_run_in_order(harness: Harness) -> None:
    body = "Two things:\n/help\n/generate-report since=2w"
    await harness.comment(MAINTAINER, body)

    first, second = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "`/help` succeeded" in first
    assert "`/generate-report since=2w` succeeded" in second
    assert [r.command for r in (await harness.state()).runs] == ["help", "generate-report"]


async def test_help_lists_only_what_the_commenter_may_run(harness: Harness) -> None:
    await harness.comment("visitor", "/help")
    await harness.comment(MAINTAINER, "/help")
    await harness.comment("visitor", "/help generate-report")

    visitor, maintainer, details = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "`/help [command]`" in visitor
    assert "/generate-report" not in visitor
    assert "`/generate-report [since=7d|30d|2026-11-01] [label=NAME]`" in maintainer
    assert "| `since` | since | `7d` |" in details
    assert "You have `read`, so you cannot run it here." in details


async def test_trigger_label_runs_the_command(harness: Harness) -> None:
    await harness.emulator.label_issue(REPO, 2, "report:requested", MAINTAINER)
    await harness.settle()

    view = harness.emulator.issue_view(REPO, 2)
    (status,) = bot_comments(view)
    assert "`/generate-report` succeeded" in status
    assert [(r.content, r.user) for r in view.reactions] == [("eyes", BOT), ("rocket", BOT)]
    (run,) = (await harness.state()).runs
    assert run.source is Source.LABEL
    assert run.actor == MAINTAINER


async def test_the_bot_ignores_its_own_comments(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/help")

    own = [
        d
        for d in harness.emulator.deliveries
        if d.event == "issue_comment" and d.payload["sender"]["login"] == BOT
    ]
    assert own
    assert all(d.ok for d in own)
    assert len((await harness.state()).runs) == 1  # ...and the bot does not act on them
    assert harness.bot.metrics.value("deliveries_total", outcome="ignored") >= len(own)


async def test_concurrent_reports_with_different_filters_keep_both(harness: Harness) -> None:
    # Both runs read what the command keeps before either writes; neither may erase the other.
    await asyncio.gather(
        harness.emulator.comment(REPO, 1, MAINTAINER, "/generate-report"),
        harness.emulator.comment(REPO, 2, MAINTAINER, "/generate-report label=bug"),
    )
    await harness.settle()

    kept = (await harness.state()).command_data[f"generate-report@{REPO}"]["snapshots"]
    assert set(kept) == {"all", "label=bug"}
