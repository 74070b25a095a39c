"""The embedded default store: one JSON file under DATA_DIR, written atomically.

A write goes to a temporary file in the same folder, is fsynced, then renamed over the
old file and the folder fsynced: a crash leaves either the old state or the new one.

Updates that arrive while a write is in flight are applied together in the next write
(group commit): one fsync for many runs, each caller answered when its own update is
durable. The parsed state is kept in memory and trusted while the file's size and
modification time are unchanged, so reads cost a `stat`, not a parse; while the store's
own write is replacing the file, reads get the state before it without a `stat`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.state.schema import (
    BotState,
    NewerSchema,
    describe,
    state_json,
    upgrade,
    working_copy,
)
from bot.state.store import StateError, StateUpdate, Written


@dataclass(slots=True)
class _Pending:
    fn: StateUpdate
    done: asyncio.Future[Written]


def _apply(
    state: BotState, batch: list[_Pending], *, check: bool = False
) -> tuple[BotState, list[_Pending]]:
    """`state` after each update of the batch in turn; an update that raises, returns no
    state, or (with `check`) leaves one that cannot be serialized fails its caller only."""
    applied = []
    for pending in batch:
        try:
            new_state = pending.fn(working_copy(state))
            if not isinstance(new_state, BotState):
                raise TypeError(f"a state update returned {type(new_state).__name__}")
            if check:
                state_json(new_state)
        except Exception as error:
            pending.done.set_exception(error)
            continue
        state = new_state
        applied.append(pending)
    return state, applied


class FileStore:
    def __init__(self, path: Path):
        self.path = path
        self._pending: list[_Pending] = []
        # The one writer: a task of its own, so that no caller's cancellation stops a write
        # that other callers wait on.
        self._writer: asyncio.Task[None] | None = None
        # The state as last read or written, and the file's (mtime_ns, size) then.
        self._cached: tuple[BotState, int, tuple[int, int]] | None = None
        # While the writer replaces the file, the file is ours and the cache is the state:
        # a read then must not take the half-finished write for someone else's edit.
        self._saving = False

    async def read(self) -> BotState:
        """The current state; shared with the store, so never change it in place."""
        state, _version = await self._current()
        return state

    async def problems(self) -> list[str]:
        return []  # an unreadable file is not worked around: read() raises StateError

    async def update(self, fn: StateUpdate) -> Written:
        mine = _Pending(fn, asyncio.get_running_loop().create_future())
        self._pending.append(mine)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        # Shielded: a cancelled caller stops waiting; its update is still written or failed.
        return await asyncio.shield(mine.done)

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write_batch(batch)
            except BaseException as error:
                # Nothing waits for ever: whatever broke the batch ends each caller's wait.
                failure = error if isinstance(error, Exception) else StateError("interrupted")
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(failure)
                if not isinstance(error, Exception):
                    raise

    async def _write_batch(self, batch: list[_Pending]) -> None:
        base, version = await self._current()
        state, applied = _apply(base, batch)
        if not applied:
            return
        try:
            stamp = await self._save_apart(state, version + 1)
        except StateError:
            raise
        except Exception:
            # An update left something that cannot be written: find it, write the others.
            state, applied = _apply(base, applied, check=True)
            if not applied:
                return
            stamp = await self._save_apart(state, version + 1)
        self._cached = (state, version + 1, stamp)
        for pending in applied:
            pending.done.set_result(Written(str(version + 1)))

    async def _save_apart(self, state: BotState, version: int) -> tuple[int, int]:
        """`_save` on a thread; the cache answers reads meanwhile."""
        self._saving = True
        try:
            return await asyncio.to_thread(self._save, state, version)
        finally:
            self._saving = False

    async def _current(self) -> tuple[BotState, int]:
        if self._cached is not None and self._saving:
            return self._cached[0], self._cached[1]
        stamp = self._stamp()
        if self._cached is not None and self._cached[2] == stamp:
            return self._cached[0], self._cached[1]
        state, version = await asyncio.to_thread(self._load)
        if stamp is not None:
            self._cached = (state, version, stamp)
        return state, version

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _load(self) -> tuple[BotState, int]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return BotState(), 0
        except OSError as error:
            raise StateError(f"cannot read state file {self.path}: {error.strerror}") from None
        try:
            document = json.loads(raw.decode("utf-8"))
            return upgrade(document["state"]), int(document["version"])
        except NewerSchema as error:
            raise StateError(f"state file {self.path}: {error}") from None
        except (ValueError, KeyError, TypeError) as error:
            # ValueError covers bad UTF-8, bad JSON and a schema mismatch (pydantic's error).
            raise StateError(
                f"state file {self.path} is not valid ({describe(error)}); "
                "restore it from a backup or move it aside to start fresh"
            ) from None

    def _save(self, state: BotState, version: int) -> tuple[int, int]:
        """Write and return the new file's (mtime_ns, size)."""
        try:
            self._write(state, version)
            info = self.path.stat()
        except OSError as error:
            raise StateError(
                f"cannot write state file {self.path}: {error.strerror or error}; "
                "check the disk and the permissions of DATA_DIR"
            ) from None
        return (info.st_mtime_ns, info.st_size)

    def _write(self, state: BotState, version: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = b'{"version":%d,"state":%s}' % (version, state_json(state))
        fd, temp_name = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(document)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
