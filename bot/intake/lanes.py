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


@dataclass(slots=True)
class _Entry(Generic[_J]):
    key: str
    job: _J
    task: asyncio.Task[None] | None = None


class Lanes(Generic[_J]):
    """`turn`, when given, is awaited before each job starts: a way to let more urgent
    work (answering GitHub) go first."""

    def __init__(
        self,
        limit: int,
        work: Callable[[_J], Awaitable[None]],
        turn: Callable[[], Awaitable[None]] | None = None,
    ):
        self._slots = asyncio.Semaphore(limit)
        self._work = work
        self._turn = turn
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
        entry = _Entry(key, job)
        self._entries[key] = entry
        if lane is None:
            self._spawn(self._alone(entry))
            return True
        waiting = self._lanes.get(lane)
        if waiting is None:
            self._lanes[lane] = deque([entry])
            self._spawn(self._drive(lane))
        else:
            waiting.append(entry)
        return True

    def entries(self) -> list[tuple[str, _J, bool]]:
        """Every job here: its key, the job, and whether it has started."""
        return [(key, entry.job, entry.task is not None) for key, entry in self._entries.items()]

    def drop(self, key: str) -> _J | None:
        """Take a job that has not started out of its lane; its job, or None."""
        entry = self._entries.get(key)
        if entry is None or entry.task is not None:
            return None
        for waiting in self._lanes.values():
            if entry in waiting:
                waiting.remove(entry)
        del self._entries[key]
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

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _alone(self, entry: _Entry[_J]) -> None:
        async with self._slots:
            await self._run(entry)

    async def _drive(self, lane: Hashable) -> None:
        waiting = self._lanes[lane]
        try:
            while waiting:
                entry = waiting[0]
                async with self._slots:
                    if waiting and waiting[0] is entry:  # not dropped while waiting
                        await self._run(entry)
                if waiting and waiting[0] is entry:
                    waiting.popleft()
        finally:
            del self._lanes[lane]

    async def _run(self, entry: _Entry[_J]) -> None:
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
            self._entries.pop(entry.key, None)
