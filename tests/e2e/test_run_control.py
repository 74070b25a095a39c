"""`/retry`, `/cancel` and `/status` on runs in progress, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.commands.context import CommandContext, Outcome
from bot.commands.handlers import HANDLERS
from bot.domain import RunStatus, Source
from bot.sandbox import INSTALLATION_ID, MAINTAINER, REPO
from bot.testing import KeyPair
from tests.conftest import Harness, running
from tests.e2e.test_commands import bot_comments


def project(tmp_path: Path) -> Path:
    claude = tmp_path / "project" / ".claude"
    commands = claude / "commands"
    commands.mkdir(parents=True)
    for name in ("retry", "cancel", "status"):
        source = Path(__file__).resolve().parents[2] / ".claude" / "commands" / f"{name}.md"
        (commands / f"{name}.md").write_text(source.read_text())
    (commands / "flaky.md").write_text(
        "---\nhandler: flaky\npermission: read\nparameters:\n  text: string\n---\nFlaky.\n"
    )
    (commands / "slow.md").write_text(
        "---\nhandler: slow\npermission: read\ntrigger-labels: [slow:requested]\n---\nSlow.\n"
    )
    return claude


@contextlib.asynccontextmanager
async def running_slow(tmp_path: Path, keys: KeyPair, issue: int) -> AsyncIterator[Harness]:
    """The bot, with `/slow` (which never ends by itself) commented on `issue` and running."""
    started = asyncio.Event()

    async def slow(ctx: CommandContext) -> Outcome:
        started.set()
        await asyncio.Event().wait()
        return Outcome(markdown="slow done")

    handlers = {**HANDLERS, "slow": slow}
    async with running(
        tmp_path / "data", keys, claude_dir=project(tmp_path), handlers=handlers
    ) as h:
        await h.emulator.comment(REPO, issue, MAINTAINER, "/slow")
        await asyncio.wait_for(started.wait(), 10)
        yield h


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def test_retry_runs_the_latest_failed_run_again(tmp_path: Path, app_keys: KeyPair) -> None:
    attempts: list[str] = []

    async def flaky(ctx: CommandContext) -> Outcome:
        attempts.append(ctx.params["text"])
        if len(attempts) == 1:
            raise RuntimeError("first time unlucky")
        return Outcome(markdown=f"flaky: {ctx.params['text']}")

    handlers = {**HANDLERS, "flaky": flaky}
    async with running(
        tmp_path / "data", app_keys, claude_dir=project(tmp_path), handlers=handlers
    ) as h:
        await h.comment(MAINTAINER, "/flaky text=again", issue=2)
        await h.comment(MAINTAINER, "/retry", issue=2)
        runs = (await h.state()).runs
        # Redelivering the /retry comment does not retry twice.
        retry_comment = h.emulator.deliveries[-1]
        await h.emulator.redeliver(retry_comment.id)
        await h.settle()
        assert len((await h.state()).runs) == len(runs)

    failed, asked, again = runs
    assert (failed.status, asked.command, asked.status) == (
        RunStatus.FAILED,
        "retry",
        RunStatus.SUCCEEDED,
    )
    assert (again.source, again.command, again.args_text, again.actor, again.status) == (
        Source.RETRY,
        "flaky",
        "text=again",
        MAINTAINER,
        RunStatus.SUCCEEDED,
    )
    assert attempts == ["again", "again"]
    comments = bot_comments(h.emulator.issue_view(REPO, 2))
    assert f"again as run `{again.run_id}`" in comments[1]
    assert "flaky: again" in comments[2]


async def test_retry_says_when_there_is_nothing_to_retry(tmp_path: Path, app_keys: KeyPair) -> None:
    async with running(tmp_path / "data", app_keys, claude_dir=project(tmp_path)) as h:
        await h.comment(MAINTAINER, "/retry", issue=3)
        await h.comment(MAINTAINER, "/retry 0123456789abcdef", issue=3)
        first, second = bot_comments(h.emulator.issue_view(REPO, 3))
    assert "no failed run on this issue to retry" in first
    assert "no run `0123456789abcdef` on this repository" in second


async def test_cancel_stops_the_running_run_and_drops_the_queued_one(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running_slow(tmp_path, app_keys, issue=1) as h:
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")  # waits for the first
        await h.emulator.comment(REPO, 1, MAINTAINER, "/status")
        await until(lambda: len(bot_comments(h.emulator.issue_view(REPO, 1))) == 2)
        status = bot_comments(h.emulator.issue_view(REPO, 1))[-1]
        await h.comment("triager", "/cancel", issue=1)
        runs = {r.run_id: r for r in (await h.state()).runs}
        view = h.emulator.issue_view(REPO, 1)

    assert "In progress:" in status
    assert ": running" in status
    assert ": queued" in status
    slow_runs = [r for r in runs.values() if r.command == "slow"]
    assert [r.status for r in slow_runs] == [RunStatus.CANCELLED, RunStatus.CANCELLED]
    comments = bot_comments(view)
    assert sum("Cancelled by @triager while it ran." in c for c in comments) == 1
    assert sum("Cancelled by @triager before it started." in c for c in comments) == 1
    (summary,) = [c for c in comments if "`/cancel`" in c.splitlines()[1]]
    assert "cancelled while it ran" in summary
    assert "dropped before it started" in summary
    assert "bot:running" not in view.labels


@pytest.mark.parametrize("on_cancel", ["returns", "raises"])
async def test_cancel_stops_a_handler_that_catches_it(
    tmp_path: Path, app_keys: KeyPair, on_cancel: str
) -> None:
    # A handler may tidy up when cancelled: say how far it got, or fail on its way out.
    # The run ends cancelled all the same.
    started = asyncio.Event()

    async def slow(ctx: CommandContext) -> Outcome:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if on_cancel == "raises":
                raise RuntimeError("interrupted while writing") from None
            return Outcome(markdown="stopped part way")
        return Outcome(markdown="slow done")

    handlers = {**HANDLERS, "slow": slow}
    async with running(
        tmp_path / "data", app_keys, claude_dir=project(tmp_path), handlers=handlers
    ) as h:
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")
        await asyncio.wait_for(started.wait(), 10)
        await h.comment("triager", "/cancel", issue=1)
        runs = [r for r in (await h.state()).runs if r.command == "slow"]
        comments = bot_comments(h.emulator.issue_view(REPO, 1))

    assert [r.status for r in runs] == [RunStatus.CANCELLED]
    assert sum("Cancelled by @triager while it ran." in c for c in comments) == 1


async def test_removing_a_repository_stops_its_runs_and_keeps_the_audit(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    started = asyncio.Event()
    never = asyncio.Event()
    finished: list[str] = []

    async def slow(ctx: CommandContext) -> Outcome:
        started.set()
        await never.wait()
        finished.append(ctx.run_id)
        return Outcome(markdown="slow done")

    handlers = {**HANDLERS, "slow": slow}
    async with running(
        tmp_path / "data", app_keys, claude_dir=project(tmp_path), handlers=handlers
    ) as h:
        await h.comment(MAINTAINER, "/status", issue=2)  # an earlier run, recorded
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")
        await asyncio.wait_for(started.wait(), 10)
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")  # queued behind it
        await h.emulator.remove_repositories(INSTALLATION_ID, [REPO])
        await h.settle()
        assert h.bot.intake.in_flight == 0
        runs = (await h.state()).runs
        with contextlib.closing(sqlite3.connect(tmp_path / "data" / "inbox.sqlite3")) as journal:
            outcomes = sorted(row[0] for row in journal.execute("SELECT outcome FROM jobs"))

    assert finished == []
    assert [r.command for r in runs] == ["status"]  # the audit stays
    assert outcomes == ["succeeded", "uninstalled", "uninstalled"]  # nothing left unfinished


async def test_a_cancelled_label_run_leaves_no_queue_label_behind(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running_slow(tmp_path, app_keys, issue=3) as h:
        await h.emulator.label_issue(REPO, 3, "slow:requested", MAINTAINER)  # waits its turn
        await h.comment("triager", "/cancel", issue=3)
        labels = h.emulator.issue_view(REPO, 3).labels
        report = await h.bot.reconciler.run_once()
        await h.settle()

    assert [name for name in labels if name.startswith(("bot:", "slow:"))] == ["bot:succeeded"]
    assert (report.enqueued, report.stale) == (0, 0)
