"""The persisted state: a versioned pydantic schema, validated on every read."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import datetime
from operator import attrgetter, indexOf
from typing import Any, Literal

from cachetools import LRUCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain import Run, RunStatus, Source, Verdict

SCHEMA_VERSION = 1
# Run history is an audit trail, not an archive: keep the newest records.
MAX_RUN_RECORDS = 2_000


class HookRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    verdict: Verdict
    reason: str = ""
    duration_ms: float = 0.0
    # The answer was reused from an earlier run (a deterministic hook).
    cached: bool = False


class RunRecord(BaseModel):
    """The audit record of one run: what was asked, by whom, and how it ended."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    command: str
    # The arguments as given (for /retry); "" in records older than this field.
    args_text: str = ""
    status: RunStatus
    source: Source
    repo: str
    issue: int
    # Which installation can read the issue (0 in records older than this field).
    installation_id: int = 0
    actor: str
    delivery_id: str
    received_at: datetime
    finished_at: datetime | None = None
    hooks: tuple[HookRecord, ...] = ()
    # Wall time of the hook stages before this record was written (they run concurrently).
    hook_time_ms: float = 0.0
    error: str = ""
    comment_id: int | None = None

    @classmethod
    def of(cls, run: Run, status: RunStatus) -> RunRecord:
        """The record of `run` as it ends in `status`."""
        request = run.request
        return cls(
            run_id=run.id,
            command=request.command,
            args_text=request.args_text,
            status=status,
            source=request.source,
            repo=request.repo.full_name,
            issue=request.issue,
            installation_id=request.installation_id,
            actor=request.actor,
            delivery_id=request.delivery_id,
            received_at=request.received_at,
            finished_at=run.finished_at,
            hooks=tuple(
                HookRecord(
                    name=h.name,
                    verdict=h.verdict,
                    reason=h.reason,
                    duration_ms=h.duration_ms,
                    cached=h.cached,
                )
                for h in run.hooks
            ),
            hook_time_ms=round(run.hook_time_ms, 3),
            error=run.error,
            comment_id=run.status_comment_id,
        )


class BotState(BaseModel):
    schema_version: Literal[1] = 1
    runs: list[RunRecord] = Field(default_factory=list)
    # What each command keeps between runs, by "<command>@<owner/repo>".
    command_data: dict[str, dict[str, Any]] = Field(default_factory=dict)


# Each record's JSON, by the record's identity (records are frozen, and the cache keeps
# each one alive, so an id cannot be reused while it is here).
_RECORD_JSON: LRUCache[int, tuple[RunRecord, bytes]] = LRUCache(maxsize=2 * MAX_RUN_RECORDS)
_RECORD_JSON_LOCK = threading.Lock()  # the file store writes on a thread


def state_json(state: BotState) -> bytes:
    """`state` as JSON (what `model_dump_json` gives, `runs` first). A state update changes
    one record of up to 2,000, and serializing them all at every write held the GIL for
    about 10 ms; each record's JSON is kept from the write before."""
    with _RECORD_JSON_LOCK:
        runs = b",".join(_record_json(record) for record in state.runs)
    rest = state.model_dump_json(exclude={"runs"}).encode()
    return b'{"runs":[%s]%s%s' % (runs, b"," if rest != b"{}" else b"", rest[1:])


def _record_json(record: RunRecord) -> bytes:
    cached = _RECORD_JSON.get(id(record))
    if cached is not None and cached[0] is record:
        return cached[1]
    encoded = record.model_dump_json().encode()
    _RECORD_JSON[id(record)] = (record, encoded)
    return encoded


class NewerSchema(ValueError):
    """Stored state written by a newer bot; an older one must not write over it."""


def _from_unversioned(document: dict[str, Any]) -> dict[str, Any]:
    # State written before schema_version existed has the same shape as version 1.
    return {**document, "schema_version": 1}


# MIGRATIONS[n] turns a version-n document into version n + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_unversioned}


def upgrade(document: dict[str, Any]) -> BotState:
    """Validate a stored document, migrating it to the current schema first.

    Raises NewerSchema for a document from a newer bot, ValueError for one that is invalid.
    """
    version = document.get("schema_version", 0)
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"schema_version must be a whole number, got {version!r}")
    if version > SCHEMA_VERSION:
        raise NewerSchema(
            f"the state has schema_version {version}, newer than this bot's {SCHEMA_VERSION}: "
            "upgrade the bot; it will not write older data over it"
        )
    while version < SCHEMA_VERSION:
        document = MIGRATIONS[version](document)
        version = document["schema_version"]
    return BotState.model_validate(document)


def working_copy(state: BotState) -> BotState:
    """A copy an update may change without touching `state`: run records are frozen, so
    the list is copied, not them; command data is plain JSON, copied whole."""
    return state.model_copy(
        update={"runs": list(state.runs), "command_data": copy.deepcopy(state.command_data)}
    )


def command_data_key(command: str, repo: str) -> str:
    return f"{command}@{repo}"


def find_run(state: BotState, run_id: str) -> RunRecord | None:
    """The record of run `run_id`, if state has one."""
    try:
        # map() and indexOf compare in C: thousands of records, at every state update.
        return state.runs[indexOf(map(attrgetter("run_id"), state.runs), run_id)]
    except ValueError:
        return None


def with_run(state: BotState, record: RunRecord, *, new: bool = False) -> BotState:
    """The state with `record` appended, replacing the record of the same run unless the
    caller has just found there is none (`new`: a scan of the records fewer)."""
    runs = list(state.runs)
    if not new and find_run(state, record.run_id) is not None:
        runs = [r for r in runs if r.run_id != record.run_id]
    runs.append(record)
    return state.model_copy(update={"runs": runs[-MAX_RUN_RECORDS:]})


def with_command_data(state: BotState, key: str, data: dict[str, Any]) -> BotState:
    return state.model_copy(update={"command_data": {**state.command_data, key: data}})


def describe(error: Exception) -> str:
    """One line for a state that failed to parse or validate."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"
