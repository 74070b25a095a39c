"""The shared vocabulary: plain, immutable data that every layer may import.

This module imports nothing from the rest of the package, so it sits below every layer
(see docs/decisions/0002-layers.md). Pydantic models live at the boundaries; inside, the
bot passes these dataclasses around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum


class Source(StrEnum):
    """Where a request came from. Every source goes through the same pipeline, and
    tests/e2e/test_no_bypass.py drives each one: a new entry adds its member there too."""

    COMMENT = "comment"
    LABEL = "label"
    # POST /api/commands/{name}, with a bearer token.
    API = "api"
    # POST /webhooks/{source}, signed by an external service.
    EXTERNAL = "external"
    # A trigger label the reconciler found on an issue (its delivery was missed).
    RECONCILE = "reconcile"
    # `/retry`: an earlier run asked for again.
    RETRY = "retry"


class Permission(Enum):
    """A repository role, ordered from least to most. GitHub's names, lower case."""

    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5

    @classmethod
    def parse(cls, text: str) -> Permission:
        """`'write'` -> `Permission.WRITE`; raises ValueError naming the allowed values."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            allowed = ", ".join(p.name.lower() for p in cls)
            raise ValueError(f"unknown permission {text!r}; use one of: {allowed}") from None

    def allows(self, required: Permission) -> bool:
        return self.value >= required.value

    def __str__(self) -> str:
        return self.name.lower()


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    REFUSED = "refused"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


class Verdict(StrEnum):
    PASS = "pass"
    BLOCK = "block"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class RepoRef:
    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @classmethod
    def parse(cls, full_name: str) -> RepoRef:
        owner, sep, name = full_name.partition("/")
        # "." and ".." would walk up the API's URLs; no owner or repository has those names.
        if not sep or "/" in name or {owner, name} & {"", ".", ".."}:
            raise ValueError(f"expected 'owner/name', got {full_name!r}")
        return cls(owner, name)

    def __str__(self) -> str:
        return self.full_name


@dataclass(frozen=True, slots=True)
class Request:
    """What someone asked for, whatever the entry. Immutable."""

    source: Source
    command: str
    args_text: str
    actor: str
    repo: RepoRef
    issue: int
    installation_id: int
    delivery_id: str
    received_at: datetime
    # The command line as typed ("/generate-report since=30d"), for hooks and reports.
    command_line: str
    # GitHub's author_association of the actor on this repository, when the payload gives it.
    actor_association: str | None = None
    # The comment that carried the command, to react on; None for label and API entries.
    comment_id: int | None = None
    # Position of this command within its delivery (a comment may carry several).
    index: int = 0
    # The issue's labels when the request arrived (from the payload: saves a read).
    issue_labels: frozenset[str] = frozenset()
    # The trigger label that asked for this run (label and reconcile entries); the run
    # consumes it when it starts, so that a label applied once runs once.
    trigger_label: str | None = None
    # The role an actor outside GitHub acts with (an API token, a webhook source), given by
    # the App's configuration; None: ask GitHub about the actor.
    granted_permission: Permission | None = None

    @property
    def requester(self) -> str:
        """How a comment names the actor: a GitHub user is mentioned, others are quoted."""
        if self.source in (Source.API, Source.EXTERNAL):
            return f"`{self.actor}`"
        return f"@{self.actor}"


_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_PERIOD_ALIASES = {"s": "second", "sec": "second", "min": "minute", "m": "minute", "h": "hour",
                   "d": "day"}  # fmt: skip
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*([a-z]+?)s?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` runs per `period_s`, with bursts up to `count` (a token bucket).

    `count == 0` means no limit at all.
    """

    count: int
    period_s: float

    @property
    def unlimited(self) -> bool:
        return self.count == 0

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """`'10/hour'`, `'5 per minute'`, `'30/min'` -> a limit; `'none'` -> no limit.

        Raises ValueError naming the accepted forms.
        """
        if text.strip().lower() in ("none", "off", "unlimited"):
            return cls(0, 0.0)
        match = _RATE.fullmatch(text)
        unit = match.group(2).lower() if match else ""
        unit = _PERIOD_ALIASES.get(unit, unit)
        if match is None or unit not in _PERIODS or int(match.group(1)) < 1:
            raise ValueError(
                f"expected a rate such as 10/hour, 5/minute or 100/day (or none), got {text!r}"
            )
        return cls(int(match.group(1)), _PERIODS[unit])

    def __str__(self) -> str:
        if self.unlimited:
            return "none"
        unit = next(name for name, seconds in _PERIODS.items() if seconds == self.period_s)
        return f"{self.count}/{unit}"


@dataclass(frozen=True, slots=True)
class HookResult:
    name: str
    verdict: Verdict
    reason: str = ""
    duration_ms: float = 0.0
    # The answer was reused from an earlier run (a hook that declared itself deterministic).
    cached: bool = False
    # A block that lifts by itself (a rate limit): seconds until trying again makes sense.
    retry_after_s: float | None = None


@dataclass(slots=True)
class Run:
    """One execution of a Request. Its status drives the report; its id marks its comment."""

    id: str
    request: Request
    status: RunStatus = RunStatus.QUEUED
    hooks: list[HookResult] = field(default_factory=list)
    # Markdown the handler produced (or the reason a run did not succeed).
    summary: str = ""
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status_comment_id: int | None = None
    # Wall time of the hook stages: what the hooks added to the run.
    hook_time_ms: float = 0.0
    # The state version that holds the run's record, once saved.
    state_version: str = ""

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000
