"""A command that breaks or hangs still ends visibly: comment, 😕, label, audit record."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.commands.context import CommandContext, Outcome
from bot.domain import RunStatus
from bot.sandbox import MAINTAINER, REPO
from bot.testing import KeyPair
from tests.conftest import running
from tests.e2e.test_commands import BOT, bot_comments, reactions_on


async def explode(ctx: CommandContext) -> Outcome:
    raise RuntimeError("the report service is down")


async def hang(ctx: CommandContext) -> Outcome:
    await asyncio.sleep(30)
    return Outcome(markdown="never")


def commands_dir(tmp_path: Path) -> Path:
    commands = tmp_path / "claude" / "commands"
    commands.mkdir(parents=True)
    (commands / "explode.md").write_text("---\nhandler: explode\npermission: read\n---\nBoom.\n")
    (commands / "hang.md").write_text(
        "---\nhandler: hang\npermission: read\ntimeout: 0.2\n---\nWait.\n"
    )
    return commands.parent


async def test_a_failing_handler_ends_as_failed(tmp_path: Path, app_keys: KeyPair) -> None:
    handlers = {"explode": explode, "hang": hang}
    async with running(
        tmp_path / "data", app_keys, claude_dir=commands_dir(tmp_path), handlers=handlers
    ) as harness:
        await harness.comment(MAINTAINER, "/explode")
        await harness.comment(MAINTAINER, "/hang", issue=2)

        (exploded,) = bot_comments(harness.emulator.issue_view(REPO, 1))
        assert "❌ `/explode` failed" in exploded
        assert "RuntimeError: the report service is down" in exploded
        assert reactions_on(harness.emulator.issue_view(REPO, 1), "/explode") == [
            ("eyes", BOT),
            ("confused", BOT),
        ]
        assert "bot:failed" in harness.emulator.issue_view(REPO, 1).labels

        (hung,) = bot_comments(harness.emulator.issue_view(REPO, 2))
        assert "❌ `/hang` failed" in hung
        assert "did not finish within 0.2 s" in hung

        runs = (await harness.state()).runs
        assert [(r.command, r.status) for r in runs] == [
            ("explode", RunStatus.FAILED),
            ("hang", RunStatus.FAILED),
        ]
        assert "RuntimeError" in runs[0].error


async def test_a_state_that_cannot_be_written_fails_the_run_visibly(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    data = tmp_path / "data"
    (data / "state.json").mkdir(parents=True)  # a real failure: the state path is a folder
    async with running(data, app_keys) as harness:
        await harness.comment(MAINTAINER, "/help")

        view = harness.emulator.issue_view(REPO, 1)
        (status,) = bot_comments(view)
        assert "❌ `/help` failed" in status
        assert "The bot could not save its state" in status
        assert str(data / "state.json") in status
        assert reactions_on(view, "/help") == [("eyes", BOT), ("confused", BOT)]
        assert "bot:failed" in view.labels


async def test_a_gist_edited_into_invalid_json_is_reported_in_the_run(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys, gist_state=True) as harness:
        await harness.comment(MAINTAINER, "/generate-report")
        (gist_id,) = harness.emulator.gists_of("state-owner")
        harness.emulator.foreign_write(gist_id, {"runs.json": "[{oops"})
        await harness.comment(MAINTAINER, "/generate-report")

        first, second = bot_comments(harness.emulator.issue_view(REPO, 1))
        assert "[!WARNING]" not in first
        assert "✅ `/generate-report` succeeded" in second
        assert "[!WARNING]" in second
        assert "carried on from revision" in second
        assert "Bot runs on this repository: succeeded 1" in second  # nothing was lost
        files = harness.emulator.gist_view(gist_id)
        assert [name for name in files if name.startswith("invalid-")] != []
        assert len((await harness.state()).runs) == 2
