"""What a handler receives and returns.

A handler is `async def handle(ctx: CommandContext) -> Outcome`. It reads GitHub through
`ctx.github`, returns Markdown for the status comment, and optionally how to change what it
keeps for its next run on this repository: a function of the data kept now, which the
pipeline applies inside the state update, so concurrent runs never overwrite each other.
Handlers never write state or post comments themselves: the pipeline records everything,
so nothing bypasses it.

Only the pipeline can build a context (invariant 1): the constructor wants a seal, and the
one seal is handed out once, to `bot.pipeline.runner` at import. A handler therefore never
runs without its hooks having run first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.commands.catalogue import Catalogue, CommandSpec
from bot.domain import Permission, RepoRef, Request, RunStatus
from bot.github import InstallationClient


@dataclass(frozen=True, slots=True)
class PastRun:
    run_id: str
    command: str
    status: RunStatus
    issue: int
    finished_at: datetime | None
    args_text: str = ""


@dataclass(frozen=True, slots=True)
class ActiveRun:
    """A run the bot has accepted and not finished."""

    run_id: str
    command_line: str
    requester: str
    started: bool


class Cancelling(StrEnum):
    DROPPED = "dropped"  # it had not started: it never will
    STOPPING = "stopping"  # it is running: it stops at its next await, and says so
    FINISHED = "finished"  # too late: its result is recorded
    UNKNOWN = "unknown"  # no such run in progress


class RetryRefused(Exception):
    """This requester may not retry runs; the message says what to do instead."""


class RunControl(Protocol):
    """The runs in progress, for the commands that manage them (`/status`, `/cancel`,
    `/retry`). Intake provides it; the commands only see this."""

    def active(self, repo: RepoRef, issue: int) -> list[ActiveRun]: ...

    async def cancel(self, run_id: str, by: str) -> Cancelling: ...

    async def retry(self, past: PastRun, asked: Request) -> str:
        """Run `past`'s command again, through the whole pipeline, as `asked`'s actor;
        the new run's id. Raises RetryRefused for a requester outside GitHub."""
        ...


class BypassError(RuntimeError):
    """Something other than the pipeline tried to build a CommandContext. Go through
    `Pipeline.run`, which runs the hooks first (invariant 1)."""


class _Seal:
    __slots__ = ()


_SEAL = _Seal()
_seal_issued = False


def pipeline_seal() -> object:
    """The seal a CommandContext needs. Issued once: a second caller gets BypassError."""
    global _seal_issued
    if _seal_issued:
        raise BypassError("the pipeline's seal was already issued; only the pipeline runs handlers")
    _seal_issued = True
    return _SEAL


@dataclass(frozen=True, slots=True)
class CommandContext:
    request: Request
    spec: CommandSpec
    params: Mapping[str, Any]
    github: InstallationClient
    catalogue: Catalogue
    actor_permission: Permission
    now: datetime
    # What this command kept after its last successful run on this repository.
    saved: Mapping[str, Any] | None
    # The bot's runs on this repository, oldest first.
    past_runs: Sequence[PastRun]
    # The status labels the bot itself puts on issues (not the project's own labels).
    status_labels: frozenset[str] = frozenset()
    # What the App's hooks added for the handler (Claude Code's additionalContext).
    additional_context: str = ""
    # Commands paused by their circuit breaker: id -> (failures in a row, seconds until a
    # probe may go).
    paused_commands: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    # The runs in progress (None where the pipeline runs without intake, as in unit tests),
    # and this run's id.
    runs: RunControl | None = None
    run_id: str = ""
    # Proof that the pipeline built this context (see the module's docstring).
    seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.seal is not _SEAL:
            raise BypassError(
                "a CommandContext is built only by the pipeline; run commands with Pipeline.run"
            )


# Given what the command keeps now (None at first), what it is to keep from now on.
KeepUpdate = Callable[[Mapping[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Outcome:
    markdown: str
    keep: KeepUpdate | None = None


Handler = Callable[[CommandContext], Awaitable[Outcome]]
