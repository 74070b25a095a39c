"""The persisted state: a versioned pydantic schema, validated on every read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class RunRecord(BaseModel):
    """The audit record of one run: what was asked, by whom, and how it ended."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    command: str
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
    error: str = ""
    comment_id: int | None = None

    @classmethod
    def of(cls, run: Run, status: RunStatus) -> RunRecord:
        """The record of `run` as it ends in `status`."""
        request = run.request
        return cls(
            run_id=run.id,
            command=request.command,
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
                    name=h.name, verdict=h.verdict, reason=h.reason, duration_ms=h.duration_ms
                )
                for h in run.hooks
            ),
            error=run.error,
            comment_id=run.status_comment_id,
        )


class BotState(BaseModel):
    schema_version: Literal[1] = 1
    runs: list[RunRecord] = Field(default_factory=list)
    # What each command keeps between runs, by "<command>@<owner/repo>".
    command_data: dict[str, dict[str, Any]] = Field(default_factory=dict)


def command_data_key(command: str, repo: str) -> str:
    return f"{command}@{repo}"


def with_run(state: BotState, record: RunRecord) -> BotState:
    """The state with `record` appended (or replacing the record of the same run)."""
    runs = [r for r in state.runs if r.run_id != record.run_id]
    runs.append(record)
    return state.model_copy(update={"runs": runs[-MAX_RUN_RECORDS:]})


def with_command_data(state: BotState, key: str, data: dict[str, Any]) -> BotState:
    return state.model_copy(update={"command_data": {**state.command_data, key: data}})
