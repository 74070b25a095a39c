"""The durable inbox: what is accepted is on disk, found again after a restart, once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain import HookResult, RepoRef, Request, Run, RunStatus, Source, Verdict
from bot.intake.inbox import DEDUPE_SECONDS, Inbox, InboxError, Phase


def request(delivery: str, index: int = 0) -> Request:
    return Request(
        source=Source.COMMENT,
        command="echo",
        args_text="hi",
        actor="alice",
        repo=RepoRef("octo", "app"),
        issue=3,
        installation_id=7,
        delivery_id=delivery,
        received_at=datetime(2026, 11, 24, tzinfo=UTC),
        command_line="/echo hi",
        comment_id=99,
        index=index,
        issue_labels=frozenset({"bug"}),
    )


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[Inbox]:
    opened = Inbox(tmp_path / "inbox.sqlite3")
    await opened.open()
    yield opened
    await opened.close()


async def reopen(inbox: Inbox) -> Inbox:
    await inbox.close()
    again = Inbox(inbox.path)
    await again.open()
    return again


async def test_an_accepted_delivery_and_its_jobs_survive_a_restart(inbox: Inbox) -> None:
    jobs = [("run-a", request("d-1")), ("run-b", request("d-1", 1))]
    assert await inbox.accept(["d-1"], jobs) is None
    inbox = await reopen(inbox)
    try:
        found = await inbox.unfinished()
        assert [(j.run_id, j.request, j.phase, j.attempts) for j in found] == [
            ("run-a", jobs[0][1], Phase.QUEUED, 0),
            ("run-b", jobs[1][1], Phase.QUEUED, 0),
        ]
        # A redelivery after the restart is still a duplicate, naming the first run.
        assert await inbox.accept(["d-1"], jobs) == "run-a"
    finally:
        await inbox.close()


async def test_any_known_identity_makes_a_duplicate(inbox: Inbox) -> None:
    assert await inbox.accept(["d-1", "signed:abc"], [("run-a", request("d-1"))]) is None
    assert await inbox.accept(["d-2", "signed:abc"], [("run-b", request("d-2"))]) == "run-a"
    assert [job.run_id for job in await inbox.unfinished()] == ["run-a"]
    # A delivery that ran nothing is still remembered.
    assert await inbox.accept(["d-3"], []) is None
    assert await inbox.accept(["d-3"], []) == ""


async def test_a_job_moves_through_its_phases(inbox: Inbox) -> None:
    req = request("d-1")
    await inbox.accept(["d-1"], [("run-a", req)])
    inbox.count_start("run-a")
    inbox.count_start("run-a")  # started again after a crash
    run = Run(id="run-a", request=req, status=RunStatus.SUCCEEDED, summary="done")
    run.hooks.append(HookResult("permission", Verdict.PASS, duration_ms=0.5))
    run.status_comment_id = 42
    await inbox.recorded(run)
    (job,) = await inbox.unfinished()
    assert (job.phase, job.attempts, job.recorded) == (Phase.RECORDED, 2, run)
    await inbox.finished("run-a", "succeeded")
    assert await inbox.unfinished() == []
    done = await inbox.job("run-a")
    assert done is not None
    assert (done.phase, done.outcome, done.recorded) == (Phase.DONE, "succeeded", None)
    inbox.count_start("run-a")
    again = await inbox.job("run-a")
    assert again is not None
    assert (again.phase, again.attempts) == (Phase.DONE, 2)  # a finished job is not started again


async def test_concurrent_writes_share_commits(inbox: Inbox) -> None:
    before = inbox.commits
    answers = await asyncio.gather(
        *(inbox.accept([f"d-{n}"], [(f"run-{n}", request(f"d-{n}"))]) for n in range(200))
    )
    assert answers == [None] * 200
    assert len(await inbox.unfinished()) == 200
    assert inbox.commits - before < 100  # group commit: far fewer fsyncs than deliveries


async def test_a_delivery_repeated_within_one_commit_is_a_duplicate(inbox: Inbox) -> None:
    await inbox.accept(["d-0"], [])
    # All in one turn of the loop, so in one transaction: the second d-1 and the second
    # identity of d-3 meet their first within the batch, d-0 meets it in the file.
    answers = await asyncio.gather(
        inbox.accept(["d-1"], [("run-1", request("d-1"))]),
        inbox.accept(["d-1"], [("run-1b", request("d-1"))]),
        inbox.accept(["d-0"], [("run-0", request("d-0"))]),
        inbox.accept(["d-3", "signed:x"], [("run-3", request("d-3"))]),
        inbox.accept(["d-4", "signed:x"], [("run-4", request("d-4"))]),
        inbox.accept(["d-5", "d-5"], [("run-5", request("d-5"))]),
    )
    assert answers == [None, "run-1", "", None, "run-3", None]
    assert [job.run_id for job in await inbox.unfinished()] == ["run-1", "run-3", "run-5"]


async def test_a_failing_write_fails_its_caller_only(inbox: Inbox) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO nowhere VALUES (1)")

    results = await asyncio.gather(
        inbox._submit(broken),
        inbox.accept(["d-1"], [("run-a", request("d-1"))]),
        return_exceptions=True,
    )
    assert isinstance(results[0], sqlite3.OperationalError)
    assert results[1] is None
    assert [job.run_id for job in await inbox.unfinished()] == ["run-a"]


async def test_the_cursor_is_durable(inbox: Inbox) -> None:
    assert await inbox.cursor("deliveries") is None
    await inbox.set_cursor("deliveries", "100")
    await inbox.set_cursor("deliveries", "123")
    inbox = await reopen(inbox)
    try:
        assert await inbox.cursor("deliveries") == "123"
    finally:
        await inbox.close()


async def test_old_deliveries_and_finished_jobs_are_forgotten(tmp_path: Path) -> None:
    now = [1_000_000.0]
    inbox = Inbox(tmp_path / "inbox.sqlite3", clock=lambda: now[0])
    await inbox.open()
    try:
        await inbox.accept(["old"], [("run-old", request("old"))])
        await inbox.accept(["pending"], [("run-pending", request("pending"))])
        await inbox.finished("run-old", "succeeded")
        now[0] += DEDUPE_SECONDS + 1
        assert await inbox.prune() == 2
        assert await inbox.job("run-old") is None
        # An unfinished job is kept whatever its age; its delivery id is not needed.
        assert [job.run_id for job in await inbox.unfinished()] == ["run-pending"]
        assert await inbox.accept(["old"], []) is None
    finally:
        await inbox.close()


async def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises((InboxError, OSError)):
        await Inbox(blocker / "inbox.sqlite3").open()
    closed = Inbox(tmp_path / "never-opened.sqlite3")
    with pytest.raises(InboxError, match="not open"):
        await closed.accept(["d"], [])


async def test_a_start_count_that_fails_is_logged(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    other = sqlite3.connect(inbox.path)
    other.execute("DROP TABLE jobs")  # every write to a job now fails
    other.commit()
    other.close()

    inbox.count_start("run-a")  # nobody waits for it
    await inbox.cursor("sweeper")  # answered after the write before it

    assert "an attempt at a job could not be counted" in caplog.text
