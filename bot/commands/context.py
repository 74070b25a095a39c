"""What a handler receives and returns.

A handler is `async def handle(ctx: CommandContext) -> Outcome`. It reads GitHub through
`ctx.github`, returns Markdown for the status comment, and optionally how to change what it
keeps for its next run on this repository: a function of the data kept now, which the
pipeline applies inside the state update, so concurrent runs never overwrite each other.
Handlers never write state or post comments themselves: the pipeline records everything,
so nothing bypasses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.commands.catalogue import Catalogue, CommandSpec
from bot.domain import Permission, Request, RunStatus
from bot.github import InstallationClient


@dataclass(frozen=True, slots=True)
class PastRun:
    run_id: str
    command: str
    status: RunStatus
    issue: int
    finished_at: datetime | None


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
    past_runs: tuple[PastRun, ...]
    # The status labels the bot itself puts on issues (not the project's own labels).
    status_labels: frozenset[str] = frozenset()
    # What the App's hooks added for the handler (Claude Code's additionalContext).
    additional_context: str = ""


# Given what the command keeps now (None at first), what it is to keep from now on.
KeepUpdate = Callable[[Mapping[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Outcome:
    markdown: str
    keep: KeepUpdate | None = None


Handler = Callable[[CommandContext], Awaitable[Outcome]]
