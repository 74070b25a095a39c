"""What the bot writes on an issue: the run marker, headlines, details and "did you mean"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import HookResult, RepoRef, Request, Run, RunStatus, Source, Verdict
from bot.report.render import (
    HEADLINES,
    MARKER_PREFIX,
    did_you_mean,
    marker,
    run_id_in,
    status_comment,
)
from tests.markdown_tables import rows_under

RECEIVED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
COMMAND_LINE = "/generate-report since=30d"
HOOK_HEADER = "| hook | verdict | time | reason |"
# A Markdown line ending (CommonMark): LF, CRLF, or a CR on its own.
MARKDOWN_LINES = re.compile(r"\r\n|\r|\n")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def make_run(
    status: RunStatus = RunStatus.QUEUED,
    *,
    run_id: str = "0123456789abcdef",
    actor: str = "octo-cat",
    source: Source = Source.COMMENT,
    hooks: list[HookResult] | None = None,
    summary: str = "",
    error: str = "",
    duration: timedelta | None = None,
) -> Run:
    request = Request(
        source=source,
        command="generate-report",
        args_text="since=30d",
        actor=actor,
        repo=RepoRef("octo-org", "widgets"),
        issue=7,
        installation_id=99,
        delivery_id="delivery-1",
        received_at=RECEIVED,
        command_line=COMMAND_LINE,
    )
    started = RECEIVED if duration is not None else None
    finished = RECEIVED + duration if duration is not None else None
    return Run(
        id=run_id,
        request=request,
        status=status,
        hooks=list(hooks or []),
        summary=summary,
        error=error,
        started_at=started,
        finished_at=finished,
    )


def markdown_lines(text: str) -> list[str]:
    return MARKDOWN_LINES.split(text)


def hook_rows(comment: str) -> list[str]:
    """The rows of the hook table, up to the first line that is not a table row."""
    return rows_under(markdown_lines(comment), HOOK_HEADER)


# --- The marker --------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(RunStatus))
def test_the_marker_round_trips_through_every_status_comment(status: RunStatus) -> None:
    run = make_run(status, run_id="f00dcafe12345678", summary="All done.", error="boom")
    comment = status_comment(run)
    assert comment.startswith(MARKER_PREFIX)
    assert run_id_in(comment) == run.id


@settings(max_examples=100, deadline=None)
@given(run_id=st.from_regex(r"[A-Za-z0-9_.-]{1,40}", fullmatch=True))
def test_any_valid_run_id_round_trips(run_id: str) -> None:
    assert run_id_in(status_comment(make_run(run_id=run_id))) == run_id
    assert run_id_in(f"quoted text\n\n{marker(run_id)}\nmore") == run_id


@pytest.mark.parametrize(
    "body",
    [
        "",
        "/generate-report since=30d",
        "Thanks! <!-- a note for maintainers -->",
        "<!-- issue-queue-bot:run: -->",
        "<!-- issue-queue-bot:run:abc",
        "issue-queue-bot:run:abc -->",
        "<!-- other-bot:run:abc -->",
    ],
)
def test_ordinary_text_has_no_run_id(body: str) -> None:
    assert run_id_in(body) is None


# --- Headlines ---------------------------------------------------------------------------

HEADLINE_WORDS = {
    RunStatus.QUEUED: "is queued",
    RunStatus.RUNNING: "is running",
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.BLOCKED: "was blocked",
    RunStatus.REFUSED: "was refused",
    RunStatus.CANCELLED: "was cancelled",
}


def test_every_status_has_its_own_headline() -> None:
    assert set(HEADLINES) == set(RunStatus)
    assert len(set(HEADLINES.values())) == len(RunStatus)


@pytest.mark.parametrize(("status", "words"), HEADLINE_WORDS.items())
def test_each_status_shows_its_headline_first(status: RunStatus, words: str) -> None:
    lines = status_comment(make_run(status)).splitlines()
    assert lines[0] == marker("0123456789abcdef")
    assert lines[1].startswith("### ")
    assert f"`{COMMAND_LINE}`" in lines[1]
    assert lines[1].endswith(words)


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING])
def test_an_unfinished_run_names_who_asked(status: RunStatus) -> None:
    comment = status_comment(make_run(status, actor="mona", summary="not shown yet"))
    assert "Requested by @mona." in comment
    assert "not shown yet" not in comment


@pytest.mark.parametrize("status", [s for s in RunStatus if s.is_final])
def test_a_finished_run_shows_its_summary_and_error(status: RunStatus) -> None:
    comment = status_comment(make_run(status, summary="**12** open issues", error="it broke"))
    assert "**12** open issues" in comment
    assert "**Error:** it broke" in comment
    assert "Requested by" not in comment


def test_no_error_line_without_an_error() -> None:
    assert "**Error:**" not in status_comment(make_run(RunStatus.SUCCEEDED, summary="ok"))


def test_the_comment_ends_with_one_newline() -> None:
    comment = status_comment(make_run(RunStatus.FAILED, error="x"))
    assert comment.endswith("</details>\n")
    assert not comment.endswith("\n\n")


# --- Details -----------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "words"), [(0, "0 hooks"), (1, "1 hook"), (3, "3 hooks")])
def test_details_show_the_hook_count_and_source(count: int, words: str) -> None:
    hooks = [HookResult(f"hook-{i}", Verdict.PASS, duration_ms=1.25) for i in range(count)]
    comment = status_comment(make_run(RunStatus.RUNNING, hooks=hooks, source=Source.LABEL))
    summary = next(line for line in comment.splitlines() if line.startswith("<details>"))
    assert f"Run <code>0123456789abcdef</code> · label · {words} (0 ms)</summary>" in summary
    if count:
        assert len(hook_rows(comment)) == count
        assert "No hooks have run yet." not in comment
    else:
        assert HOOK_HEADER not in comment
        assert "No hooks have run yet." in comment


@pytest.mark.parametrize(
    ("duration", "shown"),
    [
        (timedelta(seconds=1.5), " · 1500 ms"),
        (timedelta(milliseconds=42), " · 42 ms"),
        (timedelta(0), " · 0 ms"),
    ],
)
def test_details_show_the_duration_once_finished(duration: timedelta, shown: str) -> None:
    comment = status_comment(make_run(RunStatus.SUCCEEDED, duration=duration))
    summary = next(line for line in comment.splitlines() if line.startswith("<details>"))
    assert summary.endswith(f"hooks (0 ms){shown}</summary>")


def test_details_show_no_duration_before_the_run_ends() -> None:
    comment = status_comment(make_run(RunStatus.RUNNING))
    summary = next(line for line in comment.splitlines() if line.startswith("<details>"))
    assert summary.endswith("0 hooks (0 ms)</summary>")


def test_hook_rows_show_verdict_time_and_only_a_failing_reason() -> None:
    hooks = [
        HookResult("permission", Verdict.PASS, "fine, but not shown", 0.25),
        HookResult("arguments", Verdict.BLOCK, "since: expected a window", 3.14159),
    ]
    rows = hook_rows(status_comment(make_run(RunStatus.BLOCKED, hooks=hooks)))
    assert rows == [
        "| `permission` | pass | 0.2 ms |  |",
        "| `arguments` | block | 3.1 ms | since: expected a window |",
    ]


def test_a_reused_answer_shows_as_cached_and_the_summary_shows_the_hooks_time() -> None:
    hooks = [HookResult("check.sh", Verdict.PASS, "", 0.0, cached=True)]
    run = make_run(RunStatus.SUCCEEDED, hooks=hooks)
    run.hook_time_ms = 12.4
    comment = status_comment(run)
    assert hook_rows(comment) == ["| `check.sh` | pass | cached |  |"]
    assert "1 hook (12 ms)</summary>" in comment


REASONS = [
    pytest.param("a | b", id="pipe"),
    pytest.param("|leading and trailing|", id="edge-pipes"),
    pytest.param("line one\nline two", id="LF"),
    pytest.param("one\n\n| x | y |\n| --- | --- |", id="injected-table"),
    pytest.param(
        "line one\r\nline two",
        id="CRLF",
    ),
    pytest.param(
        "line one\rline two",
        id="CR",
    ),
]


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("verdict", [Verdict.BLOCK, Verdict.ERROR, Verdict.TIMEOUT])
def test_a_reason_cannot_break_the_hook_table(reason: str, verdict: Verdict) -> None:
    hooks = [
        HookResult("first", verdict, reason, 1.0),
        HookResult("second", Verdict.PASS, "", 2.0),
    ]
    comment = status_comment(make_run(RunStatus.BLOCKED, hooks=hooks))
    rows = hook_rows(comment)
    assert len(rows) == len(hooks)
    for row in rows:
        # Four cells: five unescaped pipes, on one line.
        assert len(UNESCAPED_PIPE.findall(row)) == 5, row
    assert rows[1].startswith("| `second` |")
    # The reason's words are still there.
    for word in re.findall(r"[a-z]+", reason):
        assert word in rows[0]


# --- Did you mean ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pairs",
    [
        [("generate-reprot", "generate-report")],
        [("hepl", "help"), ("Generate-Report", "generate-report"), ("lgmt", "lgtm")],
    ],
)
def test_did_you_mean_lists_each_pair_in_order(pairs: list[tuple[str, str]]) -> None:
    text = did_you_mean(pairs)
    lines = text.splitlines()
    assert lines[: len(pairs)] == [
        f"`/{typed}` is not a command here. Did you mean `/{suggestion}`?"
        for typed, suggestion in pairs
    ]
    assert "`/help`" in lines[-1]
    assert text.endswith("\n")


def test_did_you_mean_with_no_pairs_still_points_to_help() -> None:
    assert did_you_mean([]).strip() == "Comment `/help` to see the commands you can run."
