"""`bot state verify`: state and the issues' status comments tell the same story."""

from __future__ import annotations

from bot.pipeline.audit import audit_problems, issue_comments
from bot.report.render import marker
from bot.sandbox import MAINTAINER, REPO
from tests.conftest import Harness


async def problems(harness: Harness) -> list[str]:
    runs = (await harness.state()).runs
    return audit_problems(runs, await issue_comments(harness.bot.github, runs))


async def test_runs_and_status_comments_agree(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/help")
    await harness.comment("visitor", "/generate-report", issue=2)  # refused: recorded too

    assert await problems(harness) == []


async def test_a_deleted_status_comment_and_an_unknown_run_are_reported(
    harness: Harness,
) -> None:
    await harness.comment(MAINTAINER, "/help")
    (run,) = (await harness.state()).runs
    issue = harness.emulator.world.require_issue(REPO, 1)
    issue.comments = [c for c in issue.comments if c.id != run.comment_id]  # someone deletes it
    await harness.emulator.comment(REPO, 1, MAINTAINER, f"{marker('0000feedbeef0000')} copied")
    await harness.settle()

    found = await problems(harness)
    assert f"run {run.run_id}: its status comment {run.comment_id} on {REPO}#1 is gone" in found
    assert any("names run 0000feedbeef0000, which state does not know" in p for p in found)
    assert len(found) == 2
