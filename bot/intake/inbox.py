"""The durable inbox: every accepted request is on disk before the bot answers (invariant 3).

SQLite in WAL mode with `synchronous=FULL`, one file under DATA_DIR. One thread owns the
connection and commits whatever has arrived meanwhile in one transaction (group commit):
concurrent deliveries share one fsync, and each caller is answered when its own write is
durable. Each write runs in a savepoint, so one failing write fails its caller only.

A job is one request to run, keyed by its run id, and moves through phases:

    queued -> running -> recorded -> done

`running` counts attempts (a crash during a run shows as a second attempt); `recorded`
keeps the run as it was recorded in state, so that after a crash only its report is
written again, never its handler run or its state update. Delivery ids are kept for
GitHub's redelivery window, so a redelivery after a restart is still a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
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
    request TEXT NOT NULL,
    phase TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run TEXT,
    outcome TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_phase ON jobs (phase);
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


_STOP = object()


class Inbox:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self._ops: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Transactions committed: with concurrent writers, fewer than writes (group commit).
        self.commits = 0

    async def open(self) -> None:
        """Create the file and its tables if needed, and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="inbox-writer", daemon=True
        )
        self._thread.start()
        await ready

    async def close(self) -> None:
        if self._thread is None:
            return
        self._ops.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    # -- writes ----------------------------------------------------------------------------

    async def accept(self, keys: Sequence[str], jobs: Sequence[tuple[str, Request]]) -> str | None:
        """Persist a delivery, known by `keys` (its delivery id, and any other identity it
        has), with its (run id, request) jobs. None when it is new; when any key was
        accepted before, nothing is written and the answer is the run id first accepted
        under that key ("" if that delivery ran nothing)."""
        now = self._clock()
        first_run = jobs[0][0] if jobs else ""
        rows = [
            (run_id, keys[0], REQUEST_JSON.dump_json(request).decode(), Phase.QUEUED, now)
            for run_id, request in jobs
        ]

        def write(conn: sqlite3.Connection) -> str | None:
            for key in keys:
                row = conn.execute("SELECT run_id FROM deliveries WHERE id = ?", (key,)).fetchone()
                if row is not None:
                    return str(row[0])
            conn.executemany(
                "INSERT INTO deliveries (id, received_at, run_id) VALUES (?, ?, ?)",
                [(key, now, first_run) for key in dict.fromkeys(keys)],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO jobs (run_id, delivery_id, request, phase, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            return None

        earlier: str | None = await self._submit(write)
        return earlier

    async def started(self, run_id: str) -> int:
        """Mark a job running; how many times it has been started, this time included."""

        def write(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE jobs SET attempts = attempts + 1, updated_at = ?,"
                " phase = CASE phase WHEN ? THEN ? ELSE phase END"
                " WHERE run_id = ? AND phase != ?",
                (self._clock(), Phase.QUEUED, Phase.RUNNING, run_id, Phase.DONE),
            )
            row = conn.execute("SELECT attempts FROM jobs WHERE run_id = ?", (run_id,)).fetchone()
            return int(row[0]) if row else 0

        attempts: int = await self._submit(write)
        return attempts

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

    # -- the writer thread -----------------------------------------------------------------

    async def _submit(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self._thread is None or self._loop is None:
            raise InboxError("the inbox is not open")
        future = self._loop.create_future()
        self._ops.put(_Op(fn, future))
        # Shielded: a caller that stops waiting does not undo a write already queued.
        return await asyncio.shield(future)

    def _serve(self, ready: asyncio.Future[None]) -> None:
        assert self._loop is not None
        try:
            conn = _connect(self.path)
        except Exception as error:  # reported to open()'s caller, once
            failure = InboxError(f"cannot open the inbox {self.path}: {error}")
            self._loop.call_soon_threadsafe(ready.set_exception, failure)
            return
        self._loop.call_soon_threadsafe(ready.set_result, None)
        with contextlib.closing(conn):
            while True:
                batch = [self._ops.get()]
                with contextlib.suppress(queue.Empty):
                    while True:
                        batch.append(self._ops.get_nowait())
                ops = [op for op in batch if isinstance(op, _Op)]
                results = _commit(conn, ops)
                self.commits += bool(ops)
                self._loop.call_soon_threadsafe(_settle, results)
                if len(ops) < len(batch):
                    return


_COLUMNS = "seq, run_id, request, phase, attempts, run, outcome"


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
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a commit is on disk (the WAL fsynced) before the caller is answered.
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(_SCHEMA)
    return conn


_Result = tuple[asyncio.Future[Any], Any, BaseException | None]


def _commit(conn: sqlite3.Connection, ops: list[_Op]) -> list[_Result]:
    """Run `ops` in one transaction; what each caller is to be told."""
    results: list[_Result] = []
    if not ops:
        return results
    try:
        conn.execute("BEGIN IMMEDIATE")
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
        return [(op.future, None, failure) for op in ops]
    return results


def _settle(results: list[_Result]) -> None:
    for future, value, error in results:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
