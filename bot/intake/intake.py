"""Intake: accept a verified delivery, answer at once, do the work in the background.

The HTTP answer never waits for GitHub: `accept` decides synchronously (pure
`interpret`), schedules the work and returns. Deliveries are deduplicated by
`X-GitHub-Delivery` (GitHub keeps the id on redelivery), in memory for now.

Entries from outside GitHub (the REST API, external webhooks) build their own Request, after
`resolve_target` has found the issue, and `submit` it: the same pipeline runs it, and the
task can be awaited (the API waits a little for the result) or found again by its run id.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import shlex
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from cachetools import TTLCache
from gidgethub import GitHubException

from bot.commands.catalogue import Catalogue
from bot.domain import Permission, RepoRef, Request, Run, Source
from bot.github import GitHub
from bot.github import issues as gh_issues
from bot.intake.events import Accepted, Ignored, Suggestions, interpret
from bot.metrics import Metrics
from bot.pipeline import Pipeline, run_id_for
from bot.report import Reporter

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# GitHub lets an App redeliver for 3 days; remember ids at least that long.
DEDUPE_SECONDS = 3 * 24 * 3600
# Submitted runs kept in memory for GET /api/runs/{id} (older ones are read from state).
REMEMBERED_RUNS = 10_000

Scalar = str | int | float | bool
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TargetError(LookupError):
    """The issue a request names cannot be worked on; `code` is stable, the message says why."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(slots=True)
class Submitted:
    """A run submitted by `submit`: what was asked, the task that runs it, and the run once
    its record is durable (its result is known then, before the final report)."""

    request: Request
    task: asyncio.Task[Run | None]
    recorded: Run | None = None


@dataclass(frozen=True, slots=True)
class Target:
    installation_id: int
    labels: frozenset[str]


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake tells the sender."""

    status: str  # accepted | ignored | duplicate
    detail: str
    runs: int = 0


class Intake:
    def __init__(
        self,
        *,
        catalogue: Catalogue,
        pipeline: Pipeline,
        reporter: Reporter,
        github: GitHub,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ):
        self._catalogue = catalogue
        self._pipeline = pipeline
        self._reporter = reporter
        self._github = github
        self._metrics = metrics
        self._clock = clock
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=1_000_000, ttl=DEDUPE_SECONDS)
        self._claims: TTLCache[str, str] = TTLCache(maxsize=100_000, ttl=DEDUPE_SECONDS)
        self._tasks: set[asyncio.Task[Any]] = set()
        # Submitted runs by run id, which the delivery id decides (run_id_for): one lookup
        # answers both "was this delivery submitted?" and GET /api/runs/{id}.
        self._runs: TTLCache[str, Submitted] = TTLCache(maxsize=REMEMBERED_RUNS, ttl=DEDUPE_SECONDS)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def accept(self, event: str, payload: Mapping[str, Any], delivery_id: str) -> Receipt:
        """Decide and schedule; raises PayloadError for a malformed payload."""
        if delivery_id in self._seen:
            self._metrics.inc("deliveries_total", outcome="duplicate")
            return Receipt("duplicate", f"delivery {delivery_id} was already accepted")
        decision = interpret(
            event,
            payload,
            delivery_id=delivery_id,
            catalogue=self._catalogue,
            received_at=self._clock(),
        )
        self._seen[delivery_id] = True
        if isinstance(decision, Ignored):
            self._metrics.inc("deliveries_total", outcome="ignored")
            return Receipt("ignored", decision.reason)
        self._metrics.inc("deliveries_total", outcome="accepted")
        self._spawn(self._work(decision))
        return Receipt("accepted", f"{len(decision.requests)} command(s)", len(decision.requests))

    async def resolve_target(self, repo: RepoRef, issue: int) -> Target:
        """The installation that serves `repo` and the issue's labels; raises TargetError."""
        try:
            installation_id = await self._github.installation_id_for(repo)
            if installation_id is None:
                raise TargetError("not_installed", f"the App is not installed on {repo}")
            gh = self._github.installation(installation_id)
            found = await gh_issues.get_issue(gh, repo, issue)
        except (GitHubException, aiohttp.ClientError, TimeoutError) as error:
            log.warning("looking up %s#%s failed: %r", repo, issue, error)
            raise TargetError(
                "unavailable", f"GitHub did not answer about {repo}#{issue}; try again shortly"
            ) from None
        if found is None:
            raise TargetError("issue_not_found", f"{repo} has no issue #{issue}")
        labels = frozenset(str(label["name"]) for label in found.get("labels", []))
        return Target(installation_id, labels)

    def submit(
        self, request: Request, recorded: Callable[[Run], None] | None = None
    ) -> tuple[asyncio.Task[Run | None], bool]:
        """Run `request` in the background: its task, and False when its delivery id was
        submitted before (the earlier task is returned, nothing runs twice). `recorded` is
        called once the run's record is durable (see Pipeline.run)."""
        run_id = run_id_for(request)
        earlier = self._runs.get(run_id)
        if earlier is not None:
            self._metrics.inc("deliveries_total", outcome="duplicate")
            return earlier.task, False

        def on_recorded(run: Run) -> None:
            submitted.recorded = run
            if recorded is not None:
                recorded(run)

        task = self._spawn(self._run(request, on_recorded))
        submitted = Submitted(request, task)
        self._runs[run_id] = submitted
        self._metrics.inc("deliveries_total", outcome="accepted")
        return task, True

    def claim(self, key: str, run_id: str) -> str | None:
        """Mark `key` as handled by `run_id`: None the first time (within the dedupe
        window), else the run id it was claimed for."""
        earlier = self._claims.get(key)
        if earlier is None:
            self._claims[key] = run_id
        return earlier

    def submitted_run(self, run_id: str) -> Submitted | None:
        return self._runs.get(run_id)

    async def drain(self) -> None:
        """Wait for the work in flight (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _spawn(self, work: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _work(self, accepted: Accepted) -> None:
        if accepted.suggestions is not None:
            await self._suggest(accepted.suggestions)
        # Commands of one comment run in the order they were written.
        for request in accepted.requests:
            await self._run(request)

    async def _run(
        self, request: Request, recorded: Callable[[Run], None] | None = None
    ) -> Run | None:
        gh = self._github.installation(request.installation_id)
        try:
            run = await self._pipeline.run(request, gh, recorded)
        except Exception:
            # The pipeline records a handler's failure itself; reaching here means GitHub
            # or the store failed while recording the run. Logged and counted.
            log.exception("run of /%s on %s#%s broke", request.command, request.repo, request.issue)
            self._metrics.inc("runs_total", status="broken")
            return None
        self._metrics.inc("runs_total", status=str(run.status))
        return run

    async def _suggest(self, suggestions: Suggestions) -> None:
        gh = self._github.installation(suggestions.installation_id)
        try:
            await self._reporter.suggest(
                gh, suggestions.repo, suggestions.issue, list(suggestions.pairs)
            )
        except Exception:
            log.exception("could not answer near-miss commands on %s", suggestions.repo)


def direct_request(
    *,
    source: Source,
    command: str,
    params: Mapping[str, Scalar | None],
    actor: str,
    permission: Permission,
    repo: RepoRef,
    issue: int,
    target: Target,
    delivery_id: str,
    received_at: datetime,
) -> Request:
    """A request from outside GitHub. Its parameters become the arguments a person would
    type, so the same argument hook validates them and hooks see the same `prompt`."""
    args_text = arguments_text(params)
    return Request(
        source=source,
        command=command,
        args_text=args_text,
        actor=actor,
        repo=repo,
        issue=issue,
        installation_id=target.installation_id,
        delivery_id=delivery_id,
        received_at=received_at,
        command_line=f"/{command} {args_text}".strip(),
        issue_labels=target.labels,
        granted_permission=permission,
    )


class ParameterProblem(ValueError):
    """A parameter that cannot become an argument; `name` says which."""

    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(f"{name}: {message}")


def arguments_text(params: Mapping[str, Scalar | None]) -> str:
    """`{"since": "7d", "label": "help wanted"}` -> `since=7d 'label=help wanted'`.

    Raises ParameterProblem for a name that is not a parameter name, a value with control
    characters (it would break the comment that records the run), or a number that is not
    finite.
    """
    words = []
    for name, value in params.items():
        if not _PARAMETER_NAME.fullmatch(name):
            raise ParameterProblem(name, "not a parameter name")
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterProblem(name, "expected a finite number")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if _CONTROL.search(text):
            raise ParameterProblem(name, "line breaks and control characters are not allowed")
        words.append(shlex.quote(f"{name}={text}"))
    return " ".join(words)
