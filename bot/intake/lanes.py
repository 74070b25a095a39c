"""Workers: at most N runs at once, and the runs of one issue one after another.

Each issue is a lane: its jobs run in the order they were added (the order their
deliveries were accepted), one at a time, each taking one of the global slots. A job
added without a lane (a command that only reads, such as `/status`) takes a slot and runs
at once, beside whatever its issue is doing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

_J = TypeVar("_J")


# Compared by identity: `drop` looks for this very entry, and jobs can be large.
@dataclass(slots=True, eq=False)
class _Entry(Generic[_J]):
    key: str
    job: _J
    lane: Hashable | None
    # Set once the job has its slot and its turn: it runs.
    task: asyncio.Task[None] | None = None


class Lanes(Generic[_J]):
    """`turn`, when given, is awaited before each job starts: a way to let more urgent
    work (answering GitHub) go first.

    Only jobs holding a slot have a task: a burst of thousands of deliveries queues
    thousands of entries, not thousands of tasks waiting on a semaphore (decision 0016).
    """

    def __init__(
        self,
        limit: int,
        work: Callable[[_J], Awaitable[None]],
        turn: Callable[[], Awaitable[None]] | None = None,
    ):
        self._limit = limit
        self._work = work
        self._turn = turn
        self._taken = 0  # slots held, by jobs running or waiting for their turn
        # Jobs free to start as soon as a slot is, in the order they became free: jobs
        # without a lane, and the first job of each lane.
        self._ready: deque[_Entry[_J]] = deque()
        # Each lane's jobs not yet finished, its first one ready, started or running.
        self._lanes: dict[Hashable, deque[_Entry[_J]]] = {}
        self._entries: dict[str, _Entry[_J]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Jobs added and not yet finished."""
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def add(self, key: str, job: _J, lane: Hashable | None) -> bool:
        """Schedule `job` under `key` (its run id); False if that key is already here."""
        if key in self._entries:
            return False
        entry = _Entry(key, job, lane)
        self._entries[key] = entry
        if lane is None:
            self._ready.append(entry)
        elif lane in self._lanes:
            self._lanes[lane].append(entry)
        else:
            self._lanes[lane] = deque([entry])
            self._ready.append(entry)
        self._start_ready()
        return True

    def entries(self) -> list[tuple[str, _J, bool]]:
        """Every job here: its key, the job, and whether it has started."""
        return [(key, entry.job, entry.task is not None) for key, entry in self._entries.items()]

    def drop(self, key: str) -> _J | None:
        """Take a job that has not started out of its lane; its job, or None."""
        entry = self._entries.get(key)
        if entry is None or entry.task is not None:
            return None
        del self._entries[key]
        if entry in self._ready:
            # Not holding a slot yet: out of the queue, and its lane moves on without it.
            self._ready.remove(entry)
            self._next_in_lane(entry)
        elif entry.lane is not None and self._lanes[entry.lane][0] is not entry:
            self._lanes[entry.lane].remove(entry)
        # Else it holds a slot and waits for its turn: _run sees it gone and moves on.
        return entry.job

    def cancel(self, key: str) -> bool:
        """Cancel a job that is running (its work sees CancelledError); False if it is not."""
        entry = self._entries.get(key)
        if entry is None or entry.task is None or entry.task.done():
            return False
        entry.task.cancel()
        return True

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _start_ready(self) -> None:
        while self._ready and self._taken < self._limit:
            self._taken += 1
            task = asyncio.ensure_future(self._run(self._ready.popleft()))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next_in_lane(self, entry: _Entry[_J]) -> None:
        """`entry`, first of its lane, is done with: the lane's next job is ready."""
        if entry.lane is None:
            return
        waiting = self._lanes[entry.lane]
        waiting.popleft()
        if waiting:
            self._ready.append(waiting[0])
        else:
            del self._lanes[entry.lane]

    async def _run(self, entry: _Entry[_J]) -> None:
        try:
            if self._turn is not None:
                await self._turn()
            if self._entries.get(entry.key) is not entry:
                return  # dropped while it waited for its turn
            entry.task = asyncio.ensure_future(self._work(entry.job))
            try:
                await asyncio.shield(entry.task)
            except asyncio.CancelledError:
                if not entry.task.cancelled():
                    raise  # the lane itself is being cancelled (shutdown)
            except Exception:
                log.exception("job %s broke", entry.key)
        finally:
            if self._entries.get(entry.key) is entry:
                del self._entries[entry.key]
            self._taken -= 1
            self._next_in_lane(entry)
            this = asyncio.current_task()
            if this is None or not this.cancelling():  # no new work while workers are stopped
                self._start_ready()
