"""`/status`: the runs on this issue, latest first, and the paused commands."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.commands.context import PastRun
from bot.commands.handlers.status import SHOWN_RUNS, render
from bot.domain import RunStatus
from tests.markdown_tables import rows_under

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def past(n: int, issue: int = 7, status: RunStatus = RunStatus.SUCCEEDED) -> PastRun:
    return PastRun(f"run{n:012d}", "generate-report", status, issue, AT)


def test_no_run_yet() -> None:
    text = render([], {}, 7)
    assert text == "No run of the bot is recorded on #7 yet.\n\nNo command is paused."


def test_runs_are_listed_latest_first_and_capped() -> None:
    runs = [past(n) for n in range(SHOWN_RUNS + 5)]
    text = render(runs, {}, 7)
    assert f"Runs on #7, latest first ({SHOWN_RUNS} of {SHOWN_RUNS + 5}):" in text
    rows = rows_under(text.splitlines(), "| run | command | status | finished |")
    assert len(rows) == SHOWN_RUNS
    assert rows[0] == (
        f"| `run{SHOWN_RUNS + 4:012d}` | `/generate-report` | succeeded | 2026-11-24 09:30 UTC |"
    )


def test_paused_commands_say_when_they_are_tried_again() -> None:
    text = render([past(1, status=RunStatus.FAILED)], {"flaky": (5, 42.3)}, 7)
    assert "- `/flaky`: failed 5 times in a row; tried again in 43 s" in text
