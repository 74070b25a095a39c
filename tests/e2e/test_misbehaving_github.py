"""Commands against a GitHub that misbehaves: 10 % server errors, a secondary rate limit every
100 requests and 1 % dropped connections (half of them after the write landed). Every
command must end, each with exactly one status comment and one status label, and no request
may arrive during a wait the bot was told (the emulator records any; checked at teardown).
CI runs 200 commands; `scripts/test -m slow` runs 1,000."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from bot.commands.context import CommandContext, Outcome
from bot.domain import RunStatus
from bot.sandbox import MAINTAINER, REPO
from bot.testing import Faults, KeyPair
from tests.conftest import running
from tests.e2e.projects import write_project

ISSUES = 10
_MARKER = re.compile(r"<!-- issue-queue-bot:run:([a-f0-9]+) -->")


async def echo(ctx: CommandContext) -> Outcome:
    return Outcome(markdown=f"echo: {ctx.params['text']}")


@pytest.mark.parametrize("commands", [200, pytest.param(1000, marks=pytest.mark.slow)])
async def test_commands_get_through_a_misbehaving_github(
    tmp_path: Path, app_keys: KeyPair, commands: int
) -> None:
    claude = write_project(tmp_path, {}, {})
    faults = Faults(error_ratio=0.10, drop_ratio=0.01, secondary_every=100, retry_after=1.0, seed=7)
    async with running(
        tmp_path / "data",
        app_keys,
        claude_dir=claude,
        handlers={"echo": echo},
        rate_limit="none",
        github_writes_per_minute=1_000_000,  # the emulator takes more than GitHub's 80
        github_retry_base_seconds=0.02,
        github_rate_limit=15_000,
    ) as harness:
        harness.emulator.inject_faults(faults)
        for n in range(commands):
            await harness.emulator.comment(REPO, 1 + n % ISSUES, MAINTAINER, f"/echo n{n}")
        await harness.settle()
        harness.emulator.inject_faults(None)
        runs = (await harness.state()).runs
        views = [harness.emulator.issue_view(REPO, number) for number in range(1, ISSUES + 1)]
        requests = len(harness.emulator.requests)
        faulty = Counter(r.status for r in harness.emulator.requests if r.status in (0, 403, 502))

    # The faults were there: 10 % of the requests (5 to 7 a command) failed, at random.
    assert faulty[502] > requests * 0.07
    assert faulty[0] > 0
    assert faulty[403] > 0
    succeeded = sum(run.status is RunStatus.SUCCEEDED for run in runs)
    assert succeeded >= 0.999 * commands
    assert len(runs) == commands
    markers = Counter(m for view in views for c in view.comments for m in _MARKER.findall(c.body))
    assert set(markers.values()) == {1}  # no status comment twice
    assert set(markers) == {run.run_id for run in runs}  # and one for every run
    for view in views:
        assert len([label for label in view.labels if label.startswith("bot:")]) == 1
