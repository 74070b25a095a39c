"""The durable inbox: every accepted request is on disk before the bot answers (invariant 3).

SQLite in WAL mode, one file under DATA_DIR. Writes queued during one turn of the event
loop are committed together at the end of it, in one transaction (group commit), and each
caller is answered once its write is on disk: the WAL file is fsynced after the commit.
Writes queued while an fsync is under way wait for it, and go together in the next
commit. The deliveries of a commit are written in a few statements for them all
(acceptance is what GitHub waits for); every other write runs in a savepoint, so one
failing write fails its caller only.

Why this split: SQLite's own `synchronous=FULL` fsyncs inside COMMIT, which would stall the
event loop for the fsync; a writer thread running the whole transaction would wait for the
GIL behind the busy loop at every statement (measured: 3x the latency). So the statements
run on the loop (microseconds each, `synchronous=NORMAL`: no fsync in COMMIT), and only the
fsync of the WAL file runs on a thread, where it holds no GIL. A process killed after the
commit loses nothing either way (the OS has the pages); the fsync is for power loss.

A job is one request to run, keyed by its run id, and moves through phases:

    queued -> running -> recorded -> done

`running` counts attempts (a crash during a run shows as a second attempt; the count is
not waited for, see `count_start`); `recorded`
keeps the run as it was recorded in state, so that after a crash only its report is
written again, never its handler run or its state update. Delivery ids are kept for
GitHub's redelivery window, so a redelivery after a restart is still a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from bot.domain import Request, Run

log = logging.getLogger(__name__)

# GitHub lets an App redeliver for 3 days; remember delivery ids at least that long.
DEDUPE_SECONDS = 3 * 24 * 3600

# How requests and recorded runs are kept in the file (pydantic reads the dataclasses).
REQUEST_JSON = TypeAdapter(Request)
RUN_JSON = TypeAdapter(Run)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    run_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    delivery_id TEXT NOT NULL,
    repo TEXT NOT NULL,
    issue INTEGER NOT NULL,
    request TEXT NOT NULL,
    phase TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run TEXT,
    outcome TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_phase ON jobs (phase);
CREATE INDEX IF NOT EXISTS jobs_by_issue ON jobs (repo, issue);
CREATE TABLE IF NOT EXISTS redeliveries (
    guid TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    asked_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Phase(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RECORDED = "recorded"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Job:
    """A request in the inbox, and how far its run got."""

    seq: int
    run_id: str
    request: Request
    phase: Phase
    attempts: int
    # The run as recorded in state (phase `recorded`): only its report is left to write.
    recorded: Run | None
    outcome: str = ""


class InboxError(RuntimeError):
    """The inbox could not be written: check that DATA_DIR is writable and has space."""


@dataclass(slots=True)
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Accept:
    """A delivery to persist. Acceptance is the hot path (the bot answers GitHub after it),
    so the deliveries of one turn are written together, in a few statements for them all."""

    keys: tuple[str, ...]
    received_at: float
    first_run: str
    jobs: list[tuple[Any, ...]]  # rows of the jobs table
    future: asyncio.Future[str | None]


class Inbox:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self._conn: sqlite3.Connection | None = None
        self._wal: int | None = None  # the WAL file, to fsync
        # Writes waiting for the end of this turn of the event loop.
        self._accepts: list[_Accept] = []
        self._pending: list[_Op] = []
        # Committed, waiting for the next fsync of the WAL; the task doing fsyncs, if any.
        self._unsynced: list[_Result] = []
        self._syncer: asyncio.Task[None] | None = None
        # Transactions committed: with concurrent writers, fewer than writes (group commit).
        self.commits = 0

    async def open(self) -> None:
        """Create the file and its tables if needed."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path)
            # The schema script wrote to the WAL, so the file exists; it lives as long as
            # a connection is open (checkpoints rewind it, they do not replace it).
            self._wal = os.open(f"{self.path}-wal", os.O_RDONLY)
        except (OSError, sqlite3.Error) as error:
            raise InboxError(f"cannot open the inbox {self.path}: {error}") from None

    async def close(self) -> None:
        if self._conn is None:
            return
        while self._accepts or self._pending or self._syncer is not None:
            self._flush()
            if self._syncer is not None:
                await self._syncer
        self._conn.close()
        self._conn = None
        if self._wal is not None:
            os.close(self._wal)
            self._wal = None

    # -- writes ----------------------------------------------------------------------------

    async def accept(self, keys: Sequence[str], jobs: Sequence[tuple[str, Request]]) -> str | None:
        """Persist a delivery, known by `keys` (its delivery id, and any other identity it
        has), with its (run id, request) jobs. None when it is new; when any key was
        accepted before, nothing is written and the answer is the run id first accepted
        under that key ("" if that delivery ran nothing)."""
        now = self._clock()
        rows = [
            (
                run_id,
                keys[0],
                request.repo.full_name,
                request.issue,
                REQUEST_JSON.dump_json(request).decode(),
                Phase.QUEUED,
                now,
            )
            for run_id, request in jobs
        ]
        first_run = jobs[0][0] if jobs else ""
        future: asyncio.Future[str | None] = self._enqueue()
        self._accepts.append(_Accept(tuple(dict.fromkeys(keys)), now, first_run, rows, future))
        return await future

    async def hold(self, key: str, run_id: str) -> bool:
        """Claim `key` for `run_id`: True when this run holds it (now, or from an earlier
        attempt), False when another run took it first. Durable, for 3 days."""

        def write(conn: sqlite3.Connection) -> bool:
            conn.execute(
                "INSERT OR IGNORE INTO deliveries (id, received_at, run_id) VALUES (?, ?, ?)",
                (key, self._clock(), run_id),
            )
            row = conn.execute("SELECT run_id FROM deliveries WHERE id = ?", (key,)).fetchone()
            return bool(row[0] == run_id)

        held: bool = await self._submit(write)
        return held

    def count_start(self, run_id: str) -> None:
        """Count an attempt at a job and mark it running, without waiting for the disk.

        The write goes in the next commit, ahead of any later write of the run. Nobody
        waits for it: Intake counts attempts from the job it holds, and takes a job found
        unfinished at start as started, whatever this write got to before a crash."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE jobs SET attempts = attempts + 1, updated_at = ?,"
                " phase = CASE phase WHEN ? THEN ? ELSE phase END"
                " WHERE run_id = ? AND phase != ?",
                (self._clock(), Phase.QUEUED, Phase.RUNNING, run_id, Phase.DONE),
            )

        future = self._enqueue()
        future.add_done_callback(_log_uncounted)
        self._pending.append(_Op(write, future))

    async def recorded(self, run: Run) -> None:
        """The run's record is in state: from now on only its report is left."""
        body = RUN_JSON.dump_json(run).decode()
        await self._submit(
            lambda conn: conn.execute(
                "UPDATE jobs SET phase = ?, run = ?, updated_at = ? WHERE run_id = ?",
                (Phase.RECORDED, body, self._clock(), run.id),
            )
        )

    async def finished(self, run_id: str, outcome: str) -> None:
        await self._submit(
            lambda conn: conn.execute(
                "UPDATE jobs SET phase = ?, outcome = ?, run = NULL, updated_at = ?"
                " WHERE run_id = ?",
                (Phase.DONE, outcome, self._clock(), run_id),
            )
        )

    async def set_cursor(self, name: str, value: str) -> None:
        await self._submit(
            lambda conn: conn.execute(
                "INSERT INTO cursors (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
        )

    async def redelivered(self, guid: str) -> int:
        """Count one more redelivery asked for `guid`; how many have been asked now."""

        def write(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO redeliveries (guid, count, asked_at) VALUES (?, 1, ?)"
                " ON CONFLICT (guid) DO UPDATE SET count = count + 1, asked_at = excluded.asked_at",
                (guid, self._clock()),
            )
            row = conn.execute("SELECT count FROM redeliveries WHERE guid = ?", (guid,)).fetchone()
            return int(row[0])

        count: int = await self._submit(write)
        return count

    async def redeliveries(self, guid: str) -> int:
        row = await self._submit(
            lambda conn: conn.execute(
                "SELECT count FROM redeliveries WHERE guid = ?", (guid,)
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    async def busy(self, repo: str, issue: int, since: float) -> bool:
        """Whether the issue has a run that is not done, or one that moved after `since`."""
        row = await self._submit(
            lambda conn: conn.execute(
                "SELECT 1 FROM jobs WHERE repo = ? AND issue = ?"
                " AND (phase != ? OR updated_at >= ?) LIMIT 1",
                (repo, issue, Phase.DONE, since),
            ).fetchone()
        )
        return row is not None

    async def prune(self) -> int:
        """Forget deliveries and finished jobs older than the redelivery window."""
        horizon = self._clock() - DEDUPE_SECONDS

        def write(conn: sqlite3.Connection) -> int:
            removed = conn.execute(
                "DELETE FROM deliveries WHERE received_at < ?", (horizon,)
            ).rowcount
            conn.execute(
                "DELETE FROM jobs WHERE phase = ? AND updated_at < ?", (Phase.DONE, horizon)
            )
            conn.execute("DELETE FROM redeliveries WHERE asked_at < ?", (horizon,))
            return int(removed)

        removed: int = await self._submit(write)
        return removed

    # -- reads -----------------------------------------------------------------------------

    async def unfinished(self) -> list[Job]:
        """Jobs not done, oldest first."""
        rows = await self._submit(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE phase != ? ORDER BY seq", (Phase.DONE,)
            ).fetchall()
        )
        return [_job(row) for row in rows]

    async def job(self, run_id: str) -> Job | None:
        row = await self._submit(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE run_id = ?", (run_id,)
            ).fetchone()
        )
        return None if row is None else _job(row)

    async def cursor(self, name: str) -> str | None:
        row = await self._submit(
            lambda conn: conn.execute(
                "SELECT value FROM cursors WHERE name = ?", (name,)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    # -- group commit ----------------------------------------------------------------------

    def _enqueue(self) -> asyncio.Future[Any]:
        """A future for a write about to be queued; the flush is due at the end of the turn."""
        if self._conn is None:
            raise InboxError("the inbox is not open")
        loop = asyncio.get_running_loop()
        if not self._pending and not self._accepts:
            loop.call_soon(self._flush)
        return loop.create_future()

    async def _submit(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        future = self._enqueue()
        self._pending.append(_Op(fn, future))
        return await future

    def _flush(self) -> None:
        """Commit the writes pending, and have them made durable; while an fsync is under
        way, they wait for it and go in the next commit (bigger batches under load)."""
        if self._syncer is None and self._commit_pending():
            self._syncer = asyncio.ensure_future(self._sync())

    def _commit_pending(self) -> bool:
        """Commit the writes pending; whether there were any to commit."""
        accepts, self._accepts = self._accepts, []
        ops, self._pending = self._pending, []
        if self._conn is None:
            closed = InboxError("the inbox is closed")
            for future in [a.future for a in accepts] + [op.future for op in ops]:
                if not future.done():
                    future.set_exception(closed)
            return False
        if not accepts and not ops:
            return False
        self._unsynced.extend(_commit(self._conn, accepts, ops))
        self.commits += 1
        return True

    async def _sync(self) -> None:
        """fsync the WAL until every commit is on disk; answer each commit's callers."""
        loop = asyncio.get_running_loop()
        synced: list[_Result] = []
        failure: InboxError | None = None
        try:
            while self._unsynced:
                synced, self._unsynced = self._unsynced, []
                failure = None
                try:
                    assert self._wal is not None
                    await loop.run_in_executor(None, os.fsync, self._wal)
                except OSError as error:
                    log.error("inbox: fsync failed: %s", error)
                    failure = InboxError(f"the inbox could not be made durable: {error}")
                _answer(synced, failure)
                synced = []
                self._commit_pending()
        finally:
            # Cancelled while waiting for the disk: nobody is left without an answer.
            if synced or self._unsynced:
                stopped = InboxError("the inbox stopped before the write was on disk")
                _answer(synced + self._unsynced, stopped)
                self._unsynced = []
            self._syncer = None
            if self._accepts or self._pending:
                loop.call_soon(self._flush)


_COLUMNS = "seq, run_id, request, phase, attempts, run, outcome"


def _log_uncounted(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("inbox: an attempt at a job could not be counted: %s", error)


def _job(row: tuple[Any, ...]) -> Job:
    seq, run_id, request, phase, attempts, run, outcome = row
    return Job(
        seq=int(seq),
        run_id=str(run_id),
        request=REQUEST_JSON.validate_json(request),
        phase=Phase(phase),
        attempts=int(attempts),
        recorded=None if run is None else RUN_JSON.validate_json(run),
        outcome=str(outcome),
    )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    # No fsync inside COMMIT: Inbox._sync fsyncs the WAL before any caller is answered.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(_SCHEMA)
    return conn


_Result = tuple[asyncio.Future[Any], Any, BaseException | None]


def _answer(results: list[_Result], failure: InboxError | None) -> None:
    for future, value, problem in results:
        if future.done():  # its caller stopped waiting; the write stands
            continue
        problem = problem or failure
        if problem is not None:
            future.set_exception(problem)
        else:
            future.set_result(value)


def _commit(conn: sqlite3.Connection, accepts: list[_Accept], ops: list[_Op]) -> list[_Result]:
    """Write `accepts` and run `ops` in one transaction; what each caller is to be told.
    The accepted deliveries go first: no op of this turn can refer to their jobs, which
    are scheduled only once their callers are answered."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        results = _write_accepts(conn, accepts)
        for op in ops:
            conn.execute("SAVEPOINT op")
            try:
                value = op.fn(conn)
            except Exception as error:
                conn.execute("ROLLBACK TO op")
                results.append((op.future, None, error))
            else:
                results.append((op.future, value, None))
            conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except sqlite3.Error as error:
        log.error("inbox: a write failed: %s", error)
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        failure = InboxError(f"the inbox could not be written: {error}")
        return [(a.future, None, failure) for a in accepts] + [
            (op.future, None, failure) for op in ops
        ]
    return results


def _write_accepts(conn: sqlite3.Connection, accepts: list[_Accept]) -> list[_Result]:
    """Each delivery is new unless one of its keys is known, from the file or from an
    earlier delivery of the same turn; only new ones are written."""
    if not accepts:
        return []
    known = _known_deliveries(conn, {key for accept in accepts for key in accept.keys})
    deliveries: list[tuple[str, float, str]] = []
    jobs: list[tuple[Any, ...]] = []
    results: list[_Result] = []
    for accept in accepts:
        earlier = next((known[key] for key in accept.keys if key in known), None)
        if earlier is None:
            for key in accept.keys:
                known[key] = accept.first_run
                deliveries.append((key, accept.received_at, accept.first_run))
            jobs.extend(accept.jobs)
        results.append((accept.future, earlier, None))
    conn.executemany(
        "INSERT INTO deliveries (id, received_at, run_id) VALUES (?, ?, ?)", deliveries
    )
    conn.executemany(
        "INSERT OR IGNORE INTO jobs"
        " (run_id, delivery_id, repo, issue, request, phase, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        jobs,
    )
    return results


# SQLite allows at least 999 parameters in a statement (more since 3.32).
_KEYS_PER_QUERY = 500


def _known_deliveries(conn: sqlite3.Connection, keys: set[str]) -> dict[str, str]:
    """The run id first accepted under each of `keys` that the inbox knows."""
    known: dict[str, str] = {}
    listed = list(keys)
    for start in range(0, len(listed), _KEYS_PER_QUERY):
        chunk = listed[start : start + _KEYS_PER_QUERY]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT id, run_id FROM deliveries WHERE id IN ({marks})"
        known.update((str(key), str(run_id)) for key, run_id in conn.execute(query, chunk))
    return known
