"""What the bot missed while it could not listen is made good: the sweeper has GitHub
redeliver failed deliveries, the reconciler runs trigger labels and ends stale running
labels, and installations get the bot's labels."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.domain import RunStatus, Source
from bot.sandbox import INSTALLATION_ID, MAINTAINER, REPO
from bot.testing import KeyPair
from tests.conftest import Harness, running
from tests.e2e.test_commands import bot_comments

TRIGGER = "report:requested"


async def while_down(h: Harness) -> None:
    await h.stop_bot()


async def test_a_comment_missed_while_down_is_redelivered_by_the_sweeper(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys, reconcile=True) as h:
        await h.settle()  # the pass at start
        await h.stop_bot()
        missed = await h.emulator.comment(REPO, 2, MAINTAINER, "/help")
        assert missed.status_code is None  # nobody listened
        await h.start_bot()
        await h.settle()

        redeliveries = [d for d in h.emulator.deliveries if d.id == missed.id and d.redelivery]
        assert [d.status_code for d in redeliveries] == [202]
        (run,) = (await h.state()).runs
        assert (run.delivery_id, run.status) == (missed.id, RunStatus.SUCCEEDED)
        # The cursor is durable: the next pass asks for nothing again.
        assert (await h.bot.reconciler.run_once()).redelivered == 0
        await h.settle()
        assert len(bot_comments(h.emulator.issue_view(REPO, 2))) == 1


async def test_a_trigger_label_applied_while_down_runs_once(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys, reconcile=True) as h:
        await h.settle()
        await h.stop_bot()
        await h.emulator.label_issue(REPO, 3, TRIGGER, MAINTAINER)
        await h.start_bot()  # both the sweeper and the label scan find it
        await h.settle()

        (run,) = (await h.state()).runs
        assert (run.issue, run.actor, run.status) == (3, MAINTAINER, RunStatus.SUCCEEDED)
        view = h.emulator.issue_view(REPO, 3)
        assert len(bot_comments(view)) == 1
        assert TRIGGER not in view.labels
        assert "bot:succeeded" in view.labels


async def test_the_reconciler_runs_a_label_whose_delivery_is_gone(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys) as h:
        await h.stop_bot()
        await h.emulator.label_issue(REPO, 6, TRIGGER, MAINTAINER)
        # Older than GitHub's 3 days: it cannot be redelivered; only the label is left.
        h.emulator.backdate_deliveries(timedelta(days=4))
        await h.start_bot()
        report = await h.bot.reconciler.run_once()
        await h.settle()

        assert (report.redelivered, report.enqueued) == (0, 1)
        (run,) = (await h.state()).runs
        assert (run.source, run.actor, run.status) == (
            Source.RECONCILE,
            MAINTAINER,
            RunStatus.SUCCEEDED,
        )
        assert TRIGGER not in h.emulator.issue_view(REPO, 6).labels
        # Level-triggered: the next pass finds nothing left to do.
        assert (await h.bot.reconciler.run_once()).enqueued == 0


async def test_a_stale_running_label_is_ended_visibly(tmp_path: Path, app_keys: KeyPair) -> None:
    async with running(tmp_path / "data", app_keys) as h:
        issue = h.emulator.world.require_issue(REPO, 4)  # closed: a run may end there too
        h.emulator.world.add_labels(issue, ["bot:running"], h.emulator.world.user(MAINTAINER))
        report = await h.bot.reconciler.run_once()
        await h.settle()

        assert report.stale == 1
        view = h.emulator.issue_view(REPO, 4)
        assert "bot:running" not in view.labels
        assert "bot:failed" in view.labels
        assert "was interrupted" in bot_comments(view)[-1]
        # A running label that a run accounts for is left alone.
        await h.comment(MAINTAINER, "/help", issue=8)
        assert (await h.bot.reconciler.run_once()).stale == 0


async def test_the_reconciler_leaves_an_installation_low_on_budget_alone(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys) as h:
        await h.comment(MAINTAINER, "/help", issue=1)  # the client learns the budget
        h.emulator.set_rate_limit_remaining(INSTALLATION_ID, 100)
        await h.comment(MAINTAINER, "/help", issue=1)
        issue = h.emulator.world.require_issue(REPO, 8)
        h.emulator.world.add_labels(issue, ["bot:running"], h.emulator.world.user(MAINTAINER))
        report = await h.bot.reconciler.run_once()
        assert (report.skipped_installations, report.stale) == (1, 0)


async def test_installing_creates_the_bots_labels_once(tmp_path: Path, app_keys: KeyPair) -> None:
    async with running(tmp_path / "data", app_keys) as h:
        await h.emulator.add_repositories(INSTALLATION_ID, ["demo/fresh"])
        await h.settle()
        names = {
            label.name for label in h.emulator.world.require_repo("demo/fresh").labels.values()
        }
        expected = {f"bot:{s}" for s in RunStatus} | {TRIGGER}
        assert expected <= names
        # Again (a redelivery, or the reconciler): nothing is created twice.
        await h.bot.reconciler.run_once()
        again = [
            label.name for label in h.emulator.world.require_repo("demo/fresh").labels.values()
        ]
        assert len(again) == len(set(again))
