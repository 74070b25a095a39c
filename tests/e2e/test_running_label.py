"""`running` shows on an issue only once a run has lasted RUNNING_LABEL_DELAY_SECONDS: a quick
run goes straight to its final label (decision 0015)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.commands.context import CommandContext, Handler, Outcome
from bot.commands.handlers import HANDLERS
from bot.domain import RepoRef
from bot.github import InstallationClient
from bot.github import issues as gh_issues
from bot.sandbox import MAINTAINER, REPO
from bot.testing import KeyPair
from tests.conftest import Harness, running
from tests.e2e.test_run_control import project, until

STATUS_LABELS = {f"bot:{s}" for s in ("queued", "running", "succeeded", "cancelled", "failed")}


def status_label_events(h: Harness, issue: int = 1) -> list[tuple[str, str | None]]:
    return [
        (e.event, e.label) for e in h.emulator.issue_events(REPO, issue) if e.label in STATUS_LABELS
    ]


def held_handlers(release: asyncio.Event) -> dict[str, Handler]:
    """The bot's handlers and `/slow`, which ends once `release` is set."""

    async def slow(ctx: CommandContext) -> Outcome:
        await release.wait()
        return Outcome(markdown="slow done")

    return {**HANDLERS, "slow": slow}


async def test_a_quick_run_goes_straight_to_its_final_label(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys) as h:
        await h.comment(MAINTAINER, "/help")
        events = status_label_events(h)

    assert events == [("labeled", "bot:succeeded")]


async def test_a_run_that_lasts_shows_running_then_its_final_label(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    release = asyncio.Event()
    async with running(
        tmp_path / "data",
        app_keys,
        claude_dir=project(tmp_path),
        handlers=held_handlers(release),
        running_label_delay_seconds=0.05,
    ) as h:
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")
        await until(lambda: "bot:running" in h.emulator.issue_view(REPO, 1).labels)
        release.set()
        await h.settle()
        events = status_label_events(h)
        labels = h.emulator.issue_view(REPO, 1).labels

    assert events == [
        ("labeled", "bot:running"),
        ("labeled", "bot:succeeded"),
        ("unlabeled", "bot:running"),
    ]
    assert "bot:succeeded" in labels
    assert "bot:running" not in labels


async def test_a_run_cancelled_before_the_delay_never_shows_running(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    release = asyncio.Event()  # never set: the run waits until it is cancelled
    async with running(
        tmp_path / "data", app_keys, claude_dir=project(tmp_path), handlers=held_handlers(release)
    ) as h:
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")
        await until(lambda: bool(h.bot.intake.in_flight))
        await asyncio.sleep(0.1)  # the run is in its handler, well inside the 2 s delay
        await h.comment(MAINTAINER, "/cancel", issue=1)
        await asyncio.sleep(0.1)
        await h.settle()
        events = status_label_events(h)
        labels = h.emulator.issue_view(REPO, 1).labels

    assert ("labeled", "bot:running") not in events, events
    # `/cancel` itself succeeds; the run it stopped ends last, as cancelled.
    assert "bot:cancelled" in labels
    assert not {"bot:running", "bot:succeeded"} & set(labels)


async def test_a_run_shown_late_replaces_the_label_a_quicker_run_left(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    release = asyncio.Event()

    async def slow(ctx: CommandContext) -> Outcome:
        await release.wait()
        raise RuntimeError("slow failed")

    async with running(
        tmp_path / "data",
        app_keys,
        claude_dir=project(tmp_path),
        handlers={**HANDLERS, "slow": slow},
        running_label_delay_seconds=0.5,
    ) as h:

        def labels() -> set[str]:
            return set(h.emulator.issue_view(REPO, 1).labels) & STATUS_LABELS

        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")
        await until(lambda: bool(h.bot.intake.in_flight))
        # /status does not wait for /slow, and ends first.
        await h.emulator.comment(REPO, 1, MAINTAINER, "/status")
        await until(lambda: labels() == {"bot:succeeded"})
        await until(lambda: labels() == {"bot:running"})  # in place of /status's
        release.set()
        await h.settle()

        assert labels() == {"bot:failed"}


async def test_a_failed_move_to_running_leaves_no_queued_label(
    tmp_path: Path, app_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_labels = gh_issues.add_labels

    async def add_labels_but_running(
        gh: InstallationClient, repo: RepoRef, issue: int, labels: list[str]
    ) -> None:
        if labels == ["bot:running"]:
            raise ConnectionError("GitHub dropped the connection")
        await add_labels(gh, repo, issue, labels)

    monkeypatch.setattr(gh_issues, "add_labels", add_labels_but_running)

    async def slow(ctx: CommandContext) -> Outcome:
        await asyncio.sleep(0.3)
        return Outcome(markdown="slow done")

    async with running(
        tmp_path / "data",
        app_keys,
        claude_dir=project(tmp_path),
        handlers={**HANDLERS, "slow": slow},
        running_label_delay_seconds=0.05,
    ) as h:
        await h.emulator.label_issue(REPO, 3, "slow:requested", MAINTAINER)
        await h.settle()
        labels = set(h.emulator.issue_view(REPO, 3).labels)

    assert labels & STATUS_LABELS == {"bot:succeeded"}
