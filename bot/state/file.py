"""The embedded default store: one JSON file under DATA_DIR, written atomically.

A write goes to a temporary file in the same folder, is fsynced, then renamed over the
old file and the folder fsynced: a crash leaves either the old state or the new one.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

from bot.state.schema import BotState, NewerSchema, describe, upgrade
from bot.state.store import StateError, StateUpdate, Written


class FileStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = asyncio.Lock()

    async def read(self) -> BotState:
        state, _version = await asyncio.to_thread(self._load)
        return state

    async def problems(self) -> list[str]:
        return []  # an unreadable file is not worked around: read() raises StateError

    async def update(self, fn: StateUpdate) -> Written:
        # One writer at a time: each update sees the result of the one before.
        async with self._lock:
            state, version = await asyncio.to_thread(self._load)
            new_state = fn(state.model_copy(deep=True))
            await asyncio.to_thread(self._save, new_state, version + 1)
            return Written(str(version + 1))

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

    def _save(self, state: BotState, version: int) -> None:
        try:
            self._write(state, version)
        except OSError as error:
            raise StateError(
                f"cannot write state file {self.path}: {error.strerror or error}; "
                "check the disk and the permissions of DATA_DIR"
            ) from None

    def _write(self, state: BotState, version: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"version": version, "state": state.model_dump(mode="json")}
        fd, temp_name = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as temp:
                json.dump(document, temp, separators=(",", ":"))
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
