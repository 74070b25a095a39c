"""The durable inbox end to end: redeliveries run once, runs on an issue keep their order,
and what a stopped bot had accepted is taken up by the next one on the same DATA_DIR."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.commands.context import CommandContext, Outcome
from bot.commands.handlers import HANDLERS
from bot.domain import Run, RunStatus
from bot.intake import intake as intake_module
from bot.intake.inbox import REQUEST_JSON, RUN_JSON, Inbox, InboxError
from bot.pipeline import run_id_for
from bot.sandbox import MAINTAINER, REPO
from bot.testing import Faults, KeyPair
from tests.conftest import Harness, running
from tests.e2e.projects import write_project
from tests.e2e.test_commands import bot_comments


def people_deliveries(harness: Harness) -> list[str]:
    """Ids of the deliveries people caused (not the bot's own events), first attempts."""
    return [
        d.id
        for d in harness.emulator.deliveries
        if not d.redelivery and d.payload.get("sender", {}).get("type") != "Bot"
    ]


async def test_redelivering_every_delivery_three_times_runs_each_once(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys) as h:
        for issue in (1, 2, 3):
            await h.emulator.comment(REPO, issue, MAINTAINER, "/generate-report since=7d")
        await h.emulator.comment(REPO, 4, MAINTAINER, "/help")
        await h.emulator.label_issue(REPO, 5, "report:requested", MAINTAINER)
        await h.settle()
        originals = people_deliveries(h)
        assert len(originals) == 5

        answers = []
        for round_ in range(3):
            if round_ == 2:  # the last round reaches a new process on the same DATA_DIR
                await h.stop_bot()
                await h.start_bot()
            for delivery_id in originals:
                answers.append(await h.emulator.redeliver(delivery_id))
            await h.settle()

        assert [d.status_code for d in answers] == [200] * 15
        assert len((await h.state()).runs) == 5
        for issue in (1, 2, 3, 4, 5):
            view = h.emulator.issue_view(REPO, issue)
            assert len(bot_comments(view)) == 1, issue
            assert "bot:succeeded" in view.labels


async def test_runs_on_one_issue_keep_their_order(tmp_path: Path, app_keys: KeyPair) -> None:
    started: list[str] = []
    release = asyncio.Event()

    async def echo(ctx: CommandContext) -> Outcome:
        text = ctx.params["text"]
        started.append(text)
        if text == "first":
            await release.wait()
        return Outcome(markdown=f"echo: {text}")

    claude = write_project(tmp_path, {}, {})
    handlers = {**HANDLERS, "echo": echo}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        await h.emulator.comment(REPO, 1, MAINTAINER, "/echo first")
        await h.emulator.comment(REPO, 1, MAINTAINER, "/echo second")
        await h.emulator.comment(REPO, 2, MAINTAINER, "/echo elsewhere")
        for _ in range(100):
            if "elsewhere" in started:
                break
            await asyncio.sleep(0.02)
        # Another issue's run went ahead; this issue's second run waits for its first.
        assert sorted(started) == ["elsewhere", "first"]
        release.set()
        await h.settle()
        assert started[2:] == ["second"]
        comments = bot_comments(h.emulator.issue_view(REPO, 1))
        assert ["echo: first" in comments[0], "echo: second" in comments[1]] == [True, True]


async def test_a_new_bot_takes_up_what_the_last_one_left(tmp_path: Path, app_keys: KeyPair) -> None:
    data = tmp_path / "data"
    async with running(data, app_keys) as h:
        for issue in (1, 2, 5):
            await h.comment(MAINTAINER, "/help", issue=issue)
        await h.stop_bot()
        runs = {r.issue: r for r in (await h.state()).runs}
        journal = sqlite3.connect(data / "inbox.sqlite3")
        template = REQUEST_JSON.validate_json(
            journal.execute(
                "SELECT request FROM jobs WHERE run_id = ?", (runs[1].run_id,)
            ).fetchone()[0]
        )
        # As a crash leaves them. Issue 1: cut short after its state record was written.
        journal.execute(
            "UPDATE jobs SET phase = 'running', attempts = 1 WHERE run_id = ?", (runs[1].run_id,)
        )
        # Issue 5: the same, but the count of its start never reached the disk.
        journal.execute(
            "UPDATE jobs SET phase = 'queued', attempts = 0 WHERE run_id = ?", (runs[5].run_id,)
        )
        # Issue 2: recorded, its report not (fully) written.
        run = Run(id=runs[2].run_id, request=replace(template, issue=2), summary="from the inbox")
        run.status = RunStatus.SUCCEEDED
        run.status_comment_id = runs[2].comment_id
        journal.execute(
            "UPDATE jobs SET phase = 'recorded', run = ? WHERE run_id = ?",
            (RUN_JSON.dump_json(run).decode(), run.id),
        )
        journal.commit()
        journal.close()
        # Issue 3: accepted, never started. Issue 4: broke the bot three times.
        inbox = Inbox(data / "inbox.sqlite3")
        await inbox.open()
        for issue in (3, 4):
            lost = replace(template, issue=issue, delivery_id=f"lost-{issue}", comment_id=None)
            assert await inbox.accept([lost.delivery_id], [(run_id_for(lost), lost)]) is None
        for _ in range(3):
            inbox.count_start(run_id_for(replace(template, issue=4, delivery_id="lost-4")))
        await inbox.close()

        await h.start_bot()
        await h.settle()

        comments = {n: bot_comments(h.emulator.issue_view(REPO, n)) for n in (1, 2, 3, 4, 5)}
        assert [len(c) for c in comments.values()] == [1, 1, 1, 1, 1]
        assert "✅" in comments[1][0]  # found by its marker and edited, not posted again
        assert "✅" in comments[5][0]
        assert "from the inbox" in comments[2][0]  # reported, not run again
        assert "✅" in comments[3][0]
        assert "❌" in comments[4][0]
        assert "the bot stopped 3 times while running this command" in comments[4][0]
        labels = {n: h.emulator.issue_view(REPO, n).labels for n in (1, 2, 3, 4)}
        assert [("bot:running" in names) for names in labels.values()] == [False] * 4
        assert "bot:failed" in labels[4]
        statuses = sorted((r.issue, r.status) for r in (await h.state()).runs)
        assert statuses == [
            (1, RunStatus.SUCCEEDED),
            (2, RunStatus.SUCCEEDED),
            (3, RunStatus.SUCCEEDED),
            (4, RunStatus.FAILED),
            (5, RunStatus.SUCCEEDED),
        ]
        assert await _unfinished(data) == []


async def _unfinished(data: Path) -> list[str]:
    inbox = Inbox(data / "inbox.sqlite3")
    await inbox.open()
    try:
        return [job.run_id for job in await inbox.unfinished()]
    finally:
        await inbox.close()


async def test_a_run_that_broke_on_github_is_taken_up_again(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys, github_retry_base_seconds=0.01) as h:
        h.emulator.inject_faults(Faults(error_ratio=1.0, seed=1))  # GitHub is down
        await h.emulator.comment(REPO, 1, MAINTAINER, "/help")
        await asyncio.sleep(0.5)  # long enough for every retry of the first attempt
        assert bot_comments(h.emulator.issue_view(REPO, 1)) == []
        h.emulator.inject_faults(None)  # back
        await h.settle()
        comments = bot_comments(h.emulator.issue_view(REPO, 1))
        (run,) = (await h.state()).runs

    assert len(comments) == 1
    assert "✅" in comments[0]
    assert run.status is RunStatus.SUCCEEDED


async def test_a_broken_run_a_reconciler_pass_took_up_meanwhile_runs_once(
    tmp_path: Path, app_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_module, "BROKEN_RETRY_S", 0.5)
    calls: list[str] = []

    async def echo(ctx: CommandContext) -> Outcome:
        calls.append(ctx.params["text"])
        return Outcome(markdown=f"echo: {ctx.params['text']}")

    claude = write_project(tmp_path, {}, {})
    handlers = {**HANDLERS, "echo": echo}
    async with running(
        tmp_path / "data",
        app_keys,
        claude_dir=claude,
        handlers=handlers,
        github_retry_base_seconds=0.01,
    ) as h:
        h.emulator.inject_faults(Faults(error_ratio=1.0, seed=1))  # GitHub is down
        await h.emulator.comment(REPO, 1, MAINTAINER, "/echo once")
        for _ in range(200):  # until the run has broken; it is taken up again in 0.5 s
            if h.bot.metrics.value("runs_total", status="broken"):
                break
            await asyncio.sleep(0.01)
        h.emulator.inject_faults(None)
        # Meanwhile a reconciler pass takes it up, and it ends; the retry finds it done.
        assert await h.bot.intake.resume() == 1
        await h.settle()
        comments = bot_comments(h.emulator.issue_view(REPO, 1))

    assert calls == ["once"]
    assert len(comments) == 1


async def test_a_start_not_counted_then_a_broken_run_still_posts_one_comment(
    tmp_path: Path, app_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk is full for a moment during the run's first attempt: the count of its start
    # and its `recorded` note fail, after it has posted its comment. Its retry must know
    # that it started, though the inbox does not, and find that comment.
    monkeypatch.setattr(intake_module, "BROKEN_RETRY_S", 0.05)
    failing = {"count_start", "recorded"}
    count_start, recorded = Inbox.count_start, Inbox.recorded

    def uncounted(self: Inbox, run_id: str) -> None:
        if "count_start" in failing:
            failing.discard("count_start")
            run_id = "no-such-run"  # a write that lands nowhere, as a failed one
        count_start(self, run_id)

    async def unrecorded(self: Inbox, run: Run) -> None:
        if "recorded" in failing:
            failing.discard("recorded")
            raise InboxError("the inbox could not be written: database or disk is full")
        await recorded(self, run)

    monkeypatch.setattr(Inbox, "count_start", uncounted)
    monkeypatch.setattr(Inbox, "recorded", unrecorded)
    async with running(tmp_path / "data", app_keys) as h:
        await h.emulator.comment(REPO, 1, MAINTAINER, "/help")
        await h.settle()
        await asyncio.sleep(0.3)  # the broken run is taken up again
        await h.settle()
        comments = bot_comments(h.emulator.issue_view(REPO, 1))
        (run,) = (await h.state()).runs

    assert not failing
    assert len(comments) == 1
    assert "✅" in comments[0]
    assert run.status is RunStatus.SUCCEEDED
