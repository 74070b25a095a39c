"""Intake: accept a delivery durably, answer at once, run the work in the background.

The HTTP answer never waits for GitHub: `accept` decides synchronously (pure
`interpret`), writes the requests to the durable inbox (one fsync shared with concurrent
deliveries) and answers; workers then run them, at most WORKERS at once and the runs of one
issue in order. Deliveries are deduplicated by `X-GitHub-Delivery` in the inbox, for
GitHub's whole redelivery window and across restarts.

Entries from outside GitHub (the REST API, external webhooks) build their own Request, after
`resolve_target` has found the issue, and `submit` it: the same inbox and pipeline run it,
and its end can be awaited (the API waits a little for the result) or found by its run id.

On start, every unfinished job in the inbox is taken up again (`resume`): a run that was
recorded only has its report written again; one that was cut short runs again, finding
the comment it had posted by its marker; one that keeps breaking the bot ends failed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import shlex
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiohttp
from cachetools import TTLCache
from gidgethub import GitHubException

from bot.commands.catalogue import Catalogue
from bot.commands.context import ActiveRun, Cancelling, PastRun, RetryRefused
from bot.domain import Permission, RepoRef, Request, Run, RunStatus, Source
from bot.github import GitHub, InstallationClient
from bot.github import issues as gh_issues
from bot.intake.events import (
    Accepted,
    Ignored,
    Installed,
    Suggestions,
    Uninstalled,
    interpret,
)
from bot.intake.inbox import DEDUPE_SECONDS, Inbox, Job, Phase
from bot.intake.issue_views import IssueViews, view_of
from bot.intake.lanes import Lanes
from bot.intake.lifecycle import Lifecycle
from bot.metrics import Metrics
from bot.pipeline import Pipeline, run_id_for
from bot.report import Reporter

log = logging.getLogger(__name__)

# Submitted runs kept in memory for GET /api/runs/{id} (older ones are read from state).
REMEMBERED_RUNS = 10_000
# A run that broke (GitHub or the store failed while recording it) is taken up again
# after this long, doubling with each attempt.
BROKEN_RETRY_S = 1.0
# During a burst of deliveries (BURST within BURST_WINDOW_S), a new run waits for the burst
# to pass, YIELD_TO_DELIVERIES_S at most: answering GitHub within its 10 s comes before
# work that can wait a little. At a person's pace, runs start at once.
BURST = 20
BURST_WINDOW_S = 0.1
YIELD_TO_DELIVERIES_S = 1.0
# A run started this many times without finishing has broken the bot each time: it ends
# failed, visibly, instead of being tried again.
MAX_ATTEMPTS = 3

Scalar = str | int | float | bool
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TargetError(LookupError):
    """The issue a request names cannot be worked on; `code` is stable, the message says why."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Submitted:
    """A run submitted by `submit`: what was asked, the run once its record is durable (its
    result is known then, before the final report), and its end (None when the run broke
    before its record)."""

    request: Request
    recorded: asyncio.Future[Run]
    finished: asyncio.Future[Run | None]


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
        inbox: Inbox,
        lifecycle: Lifecycle,
        metrics: Metrics,
        clock: Callable[[], datetime],
        workers: int,
    ):
        self._catalogue = catalogue
        self._pipeline = pipeline
        self._reporter = reporter
        self._github = github
        self._inbox = inbox
        self._lifecycle = lifecycle
        self._metrics = metrics
        self._clock = clock
        self._lanes: Lanes[Job] = Lanes(workers, self._execute, self._turn)
        # When the latest deliveries were accepted (the event loop's clock).
        self._arrivals: deque[float] = deque(maxlen=BURST)
        self._tasks: set[asyncio.Task[Any]] = set()
        # Runs whose end is decided (too late to cancel), and runs /cancel is stopping.
        self._decided: set[str] = set()
        self._cancelling: dict[str, str] = {}
        # Submitted runs by run id, which the delivery id decides (run_id_for).
        self._runs: TTLCache[str, Submitted] = TTLCache(maxsize=REMEMBERED_RUNS, ttl=DEDUPE_SECONDS)
        # Issues as GitHub's latest deliveries (and lookups) showed them: resolve_target's.
        self._issues = IssueViews()

    @property
    def in_flight(self) -> int:
        return self._lanes.pending + len(self._tasks)

    async def resume(self) -> int:
        """Take up every unfinished job of the inbox that no worker holds (at start, and at
        each reconciler pass); how many there were."""
        jobs = [job for job in await self._inbox.unfinished() if job.run_id not in self._lanes]
        for job in jobs:
            # It may have started before (in a bot that stopped), even if the count of that
            # start did not reach the disk: its comment is looked for before one is posted.
            self._schedule(replace(job, attempts=max(job.attempts, 1)))
        if jobs:
            log.info("inbox: %d unfinished run(s) taken up again", len(jobs))
        return len(jobs)

    async def accept(self, event: str, payload: Mapping[str, Any], delivery_id: str) -> Receipt:
        """Decide, persist and schedule; raises PayloadError for a malformed payload and
        InboxError when the inbox cannot be written (the delivery is then not accepted)."""
        self._issues.heard(event, payload)
        decision = interpret(
            event,
            payload,
            delivery_id=delivery_id,
            catalogue=self._catalogue,
            received_at=self._clock(),
        )
        if isinstance(decision, Ignored):
            self._metrics.inc("deliveries_total", outcome="ignored")
            return Receipt("ignored", decision.reason)
        jobs = (
            [_new_job(request) for request in decision.requests]
            if isinstance(decision, Accepted)
            else []
        )
        self._arrivals.append(asyncio.get_running_loop().time())
        earlier = await self._inbox.accept([delivery_id], [(j.run_id, j.request) for j in jobs])
        if earlier is not None:
            self._metrics.inc("deliveries_total", outcome="duplicate")
            return Receipt("duplicate", f"delivery {delivery_id} was already accepted")
        self._metrics.inc("deliveries_total", outcome="accepted")
        if isinstance(decision, Installed):
            self._spawn(self._lifecycle.installed(decision.installation_id, decision.repos))
            return Receipt("accepted", f"labels for {len(decision.repos)} repositories")
        if isinstance(decision, Uninstalled):
            stopped = await self._stop_work(decision)
            return Receipt("accepted", f"{stopped} run(s) stopped")
        if decision.suggestions is not None:
            self._spawn(self._suggest(decision.suggestions))
        for job in jobs:
            self._schedule(job)
        return Receipt("accepted", f"{len(jobs)} command(s)", len(jobs))

    async def resolve_target(self, repo: RepoRef, issue: int) -> Target:
        """The installation that serves `repo` and the issue's labels, as a delivery about
        the issue showed them a moment ago, or else as GitHub says; raises TargetError."""
        known = self._issues.get(repo, issue)
        if known is not None:
            return Target(known.installation_id, known.labels)
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
        if (view := view_of(found, installation_id)) is not None:
            self._issues.saw(repo, issue, view)
        labels = frozenset(str(label["name"]) for label in found.get("labels", []))
        return Target(installation_id, labels)

    async def submit(
        self, request: Request, *, also_known_as: str | None = None
    ) -> tuple[str, bool]:
        """Persist and run `request`: its run id, and whether it is new.

        When its delivery id (or `also_known_as`, another identity of the same call) was
        submitted before, nothing runs twice: the answer is the run id first submitted, and
        False. `submitted_run` finds the run while this process remembers it.
        """
        run_id = run_id_for(request)
        if run_id in self._runs:
            self._metrics.inc("deliveries_total", outcome="duplicate")
            return run_id, False
        loop = asyncio.get_running_loop()
        submitted = Submitted(request, loop.create_future(), loop.create_future())
        keys = [request.delivery_id] + ([also_known_as] if also_known_as else [])
        # Claimed before the write, so that a second identical call finds this one.
        self._runs[run_id] = submitted
        try:
            first = await self._inbox.accept(keys, [(run_id, request)])
        except BaseException:
            del self._runs[run_id]
            raise
        if first is not None:
            del self._runs[run_id]
            self._metrics.inc("deliveries_total", outcome="duplicate")
            return first or run_id, False
        self._metrics.inc("deliveries_total", outcome="accepted")
        self._schedule(_new_job(request))
        return run_id, True

    def submitted_run(self, run_id: str) -> Submitted | None:
        return self._runs.get(run_id)

    async def drain(self) -> None:
        """Wait for the work in flight (at shutdown, and in tests)."""
        while self._tasks or self._lanes.pending:
            await self._lanes.drain()
            if self._tasks:
                await asyncio.wait(set(self._tasks))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _turn(self) -> None:
        """A run's turn to start: at once, unless deliveries are arriving in a burst."""
        loop = asyncio.get_running_loop()
        for _ in range(round(YIELD_TO_DELIVERIES_S / BURST_WINDOW_S)):
            if not self._in_burst(loop.time()):
                return
            await asyncio.sleep(BURST_WINDOW_S)

    def _in_burst(self, now: float) -> bool:
        arrivals = self._arrivals
        return len(arrivals) == BURST and now - arrivals[0] < BURST_WINDOW_S

    def _schedule(self, job: Job) -> None:
        request = job.request
        spec = self._catalogue.get(request.command)
        ordered = spec is None or spec.ordered
        lane = (request.repo, request.issue) if ordered else None
        self._lanes.add(job.run_id, job, lane)

    async def _execute(self, job: Job) -> None:
        """Run one job to its end and mark it done. A job whose run broke stays unfinished
        in the inbox and is taken up again shortly; one `/cancel` stops ends cancelled."""
        request = job.request
        gh = self._github.installation(request.installation_id)
        submitted = self._runs.get(job.run_id)
        try:
            run = await self._attempt(job, gh, submitted)
        except asyncio.CancelledError:
            by = self._cancelling.get(job.run_id)
            task = asyncio.current_task()
            if by is None or task is None:
                raise  # not /cancel: the bot is stopping; the inbox keeps the job
            task.uncancel()
            await self._inbox.finished(job.run_id, str(RunStatus.CANCELLED))
            await self._end_cancelled(job, f"Cancelled by {by} while it ran.", resumed=True)
            if submitted is not None and not submitted.finished.done():
                submitted.finished.set_result(None)
            return
        except _GivenUp:
            log.error("run %s given up: even ending it keeps failing", job.run_id)
            await self._inbox.finished(job.run_id, "given up")
            return
        except Exception:
            # The pipeline records a handler's failure itself; reaching here means GitHub
            # or the store failed while recording the run. It stays in the inbox and is
            # taken up again shortly (and, past MAX_ATTEMPTS, ended as failed).
            log.exception("run of /%s on %s#%s broke", request.command, request.repo, request.issue)
            self._metrics.inc("runs_total", status="broken")
            if submitted is not None and not submitted.finished.done():
                submitted.finished.set_result(None)
            self._spawn(self._again(job.run_id, job.attempts + 1))
            return
        finally:
            self._decided.discard(job.run_id)
            self._cancelling.pop(job.run_id, None)
        outcome = "skipped" if run is None else str(run.status)
        await self._inbox.finished(job.run_id, outcome)
        self._metrics.inc("runs_total", status=outcome)
        if submitted is not None and not submitted.finished.done():
            submitted.finished.set_result(run)

    async def _attempt(
        self, job: Job, gh: InstallationClient, submitted: Submitted | None
    ) -> Run | None:
        """One attempt at `job`, from where the inbox says it got; None: not to run."""
        request = job.request
        # Not waiting for the disk: one inbox commit less before the run starts.
        attempts = job.attempts + 1
        self._inbox.count_start(job.run_id)
        if attempts > MAX_ATTEMPTS + 2:  # even ending it keeps failing: stop spending budget
            raise _GivenUp
        if job.recorded is not None:  # only its report is left
            await self._pipeline.report(job.recorded, gh)
            return job.recorded
        if attempts > MAX_ATTEMPTS:
            reason = (
                f"the bot stopped {attempts - 1} times while running this command, "
                "so it was not tried again"
            )
            return await self._pipeline.end(request, gh, RunStatus.FAILED, reason, resumed=True)

        async def hold(key: str) -> bool:
            return await self._inbox.hold(key, job.run_id)

        if not await self._pipeline.claim(request, gh, hold):
            log.info("run %s not started: its trigger label was taken or withdrawn", job.run_id)
            return None

        async def on_recorded(run: Run) -> None:
            # The record is durable in state, so the caller may have its answer now; the
            # inbox's note only spares the handler a second run after a crash.
            if submitted is not None and not submitted.recorded.done():
                submitted.recorded.set_result(run)
            await self._inbox.recorded(run)

        return await self._pipeline.run(
            request,
            gh,
            on_recorded,
            resumed=attempts > 1,
            recording=lambda: self._decided.add(job.run_id),  # from now on, too late to cancel
        )

    async def _again(self, run_id: str, started: int) -> None:
        """Take up a broken run again after a while, from where the inbox says it got; a
        run that keeps breaking is left for the reconciler's next pass. `started`: the
        attempts this process knows of, whether or not their count reached the inbox (so
        never fewer than the inbox counts)."""
        if started > MAX_ATTEMPTS + 1:
            return
        await asyncio.sleep(BROKEN_RETRY_S * 2 ** max(started - 1, 0))
        if run_id in self._lanes:
            return
        job = await self._inbox.job(run_id)
        # Taken up and finished meanwhile (by a reconciler pass, say): not again.
        if job is not None and job.phase is not Phase.DONE:
            self._schedule(replace(job, attempts=max(job.attempts, started)))

    # -- RunControl: what /status, /cancel and /retry see -------------------------------------

    def active(self, repo: RepoRef, issue: int) -> list[ActiveRun]:
        return [
            ActiveRun(key, job.request.command_line, job.request.requester, started)
            for key, job, started in self._lanes.entries()
            if job.request.repo == repo and job.request.issue == issue
        ]

    async def cancel(self, run_id: str, by: str) -> Cancelling:
        if run_id in self._decided:
            return Cancelling.FINISHED
        if run_id in self._cancelling:
            return Cancelling.STOPPING
        job = self._lanes.drop(run_id)
        if job is not None:
            # Done in the inbox first: nothing may take it up again, whatever happens next.
            await self._inbox.finished(run_id, str(RunStatus.CANCELLED))
            await self._end_dropped(job, by)
            return Cancelling.DROPPED
        if self._lanes.cancel(run_id):
            self._cancelling[run_id] = by
            return Cancelling.STOPPING
        return Cancelling.UNKNOWN

    async def _end_dropped(self, job: Job, by: str) -> None:
        """Record a dropped run as cancelled; a trigger label it was for is consumed, so
        that the reconciler does not ask for it again."""
        if job.request.trigger_label is not None:
            gh = self._github.installation(job.request.installation_id)
            try:
                await self._pipeline.claim(
                    job.request, gh, lambda key: self._inbox.hold(key, job.run_id)
                )
            except Exception:
                log.exception("run %s was dropped, but its label could not be taken", job.run_id)
        reason = f"Cancelled by {by} before it started."
        await self._end_cancelled(job, reason, resumed=job.attempts > 0)

    async def _end_cancelled(self, job: Job, reason: str, *, resumed: bool) -> None:
        """Record a run (done in the inbox already) as cancelled, in state and on the
        issue."""
        self._metrics.inc("runs_total", status=str(RunStatus.CANCELLED))
        gh = self._github.installation(job.request.installation_id)
        try:
            await self._pipeline.end(job.request, gh, RunStatus.CANCELLED, reason, resumed=resumed)
        except Exception:
            log.exception("run %s was cancelled, but that could not be recorded", job.run_id)

    async def retry(self, past: PastRun, asked: Request) -> str:
        if asked.granted_permission is not None:
            # A token's scope names commands; retrying would run one it may not name.
            raise RetryRefused(
                f"{asked.requester} cannot retry runs: call /{past.command} itself instead"
            )
        same_issue = past.issue == asked.issue
        request = Request(
            source=Source.RETRY,
            command=past.command,
            args_text=past.args_text,
            actor=asked.actor,
            repo=asked.repo,
            issue=past.issue,
            installation_id=asked.installation_id,
            # A redelivered /retry asks for the same retry, not another one.
            delivery_id=f"retry:{run_id_for(asked)}:{past.run_id}",
            received_at=self._clock(),
            command_line=f"/{past.command} {past.args_text}".strip(),
            actor_association=asked.actor_association,
            comment_id=asked.comment_id if same_issue else None,
            issue_labels=asked.issue_labels if same_issue else frozenset(),
            granted_permission=asked.granted_permission,
        )
        run_id, _ = await self.submit(request)
        return run_id

    async def _stop_work(self, gone: Uninstalled) -> int:
        """Stop the runs on repositories the App lost: queued ones are dropped, running
        ones cancelled; their records so far stay (the audit is kept)."""

        def lost(request: Request) -> bool:
            return request.installation_id == gone.installation_id and (
                gone.repos is None or request.repo in gone.repos
            )

        self._issues.forget_installation(gone.installation_id)
        stopped = [job for job in await self._inbox.unfinished() if lost(job.request)]
        for job in stopped:
            if self._lanes.drop(job.run_id) is None:
                self._lanes.cancel(job.run_id)
            await self._inbox.finished(job.run_id, "uninstalled")
        if stopped:
            log.info("%d run(s) stopped: the App was removed from their repository", len(stopped))
        return len(stopped)

    async def _suggest(self, suggestions: Suggestions) -> None:
        gh = self._github.installation(suggestions.installation_id)
        try:
            await self._reporter.suggest(
                gh, suggestions.repo, suggestions.issue, list(suggestions.pairs)
            )
        except Exception:
            log.exception("could not answer near-miss commands on %s", suggestions.repo)


class _GivenUp(Exception):
    """A run that broke every time, even when only ending it: it is left as it is."""


def _new_job(request: Request) -> Job:
    return Job(0, run_id_for(request), request, Phase.QUEUED, 0, None)


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
