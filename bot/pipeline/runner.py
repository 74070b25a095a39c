"""The pipeline: the only way to a command handler (invariant 1).

    acknowledge -> status comment -> Authorize (permission, rate limit) -> Validate
    (arguments) -> UserPromptSubmit -> PreCommand (concurrency, the App's hooks) -> handler
    -> PostCommand -> state update -> StateUpdated -> report

Every run, whatever its end, leaves its record in state and on its issue.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, overload

from bot.commands.catalogue import Catalogue, CommandSpec
from bot.commands.context import (
    CommandContext,
    Handler,
    KeepUpdate,
    Outcome,
    PastRun,
    RunControl,
    pipeline_seal,
)
from bot.domain import Request, Run, RunStatus
from bot.github import InstallationClient
from bot.github import issues as gh_issues
from bot.github.resilience import RUN_RETRY_BUDGET, RetryBudget
from bot.pipeline.hooks import BUILTIN_HOOKS, PERMISSION_HOOK
from bot.pipeline.limits import Breakers
from bot.pipeline.permissions import PermissionResolver
from bot.pipeline.registry import PRE_STAGES, HookInput, Stage
from bot.pipeline.stages import StageOutcome, StageResult, StageRunner, within
from bot.report import Reporter
from bot.report.labels import check_transition
from bot.state import (
    BotState,
    RunRecord,
    StateError,
    StateUpdate,
    Store,
    command_data_key,
    find_run,
    with_command_data,
    with_run,
)

log = logging.getLogger(__name__)

RETRIES_PER_RUN = 30

# Only this module can build a CommandContext, so a handler runs only here (invariant 1).
_SEAL = pipeline_seal()


def run_id_for(request: Request) -> str:
    """Deterministic: the same delivery and command position always give the same run id."""
    digest = hashlib.sha256(f"{request.delivery_id}:{request.index}".encode()).hexdigest()
    return digest[:16]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    def __init__(
        self,
        *,
        catalogue: Catalogue,
        handlers: Mapping[str, Handler],
        store: Store,
        reporter: Reporter,
        permissions: PermissionResolver,
        stages: StageRunner,
        breakers: Breakers | None = None,
        clock: Callable[[], datetime] = utc_now,
        running_label_delay: float = 0.0,
    ):
        self.catalogue = catalogue
        self._handlers = handlers
        self._store = store
        self._reporter = reporter
        self._permissions = permissions
        self._stages = stages
        self._breakers = breakers or Breakers()
        self._clock = clock
        self._running_label_delay = running_label_delay
        # Set by whoever runs the queue (intake), for the commands that manage runs.
        self.run_control: RunControl | None = None

    async def run(
        self,
        request: Request,
        gh: InstallationClient,
        recorded: Callable[[Run], Awaitable[None]] | None = None,
        *,
        resumed: bool = False,
        recording: Callable[[], None] | None = None,
    ) -> Run:
        """Run `request` to its end. `recorded` is awaited once the run's record is durable
        and its last hooks have run, before the final report is written to the issue.

        A `resumed` run was cut short before (the bot stopped): the status comment it may
        have posted is looked for by its marker and reused, and a state record it may have
        written is kept as it is. `recording` is called just before the record is written:
        from then on the run's end is decided (too late to cancel).
        """
        spec = self.catalogue.get(request.command)
        if spec is None or spec.handler is None or spec.handler not in self._handlers:
            raise LookupError(f"no runnable command {request.command!r}; intake must not ask")
        run = Run(id=run_id_for(request), request=request)
        # Retries and waits this run may spend on GitHub, over all its calls.
        RUN_RETRY_BUDGET.set(RetryBudget(RETRIES_PER_RUN))
        await self._reporter.acknowledge(gh, request)
        self._move(run, RunStatus.RUNNING)
        run.started_at = self._clock()
        await self._reporter.start(gh, run, resumed=resumed)
        present = self._present(request)
        if resumed:
            # Cut short before: it may have shown `running` already, and is not quick.
            await self._reporter.show_running(gh, request, present)
            running_label = None
        else:
            running_label = _RunningLabel(
                lambda: self._reporter.show_running(gh, request, present),
                self._running_label_delay,
            )
        try:
            await self._run_and_record(run, spec, gh, recording)
            # Recorded first: settling may wait for GitHub, and a crash meanwhile must not
            # run the handler again.
            if recorded is not None:
                await recorded(run)
        finally:
            shown = _Shown.YES if running_label is None else await running_label.settle()
        running = {self._reporter.labels.running}
        after = {_Shown.NO: present, _Shown.YES: running, _Shown.MAYBE: present | running}[shown]
        await self._reporter.finish(gh, run, after)
        return run

    async def _run_and_record(
        self,
        run: Run,
        spec: CommandSpec,
        gh: InstallationClient,
        recording: Callable[[], None] | None,
    ) -> None:
        releases: list[Callable[[], None]] = []
        try:
            try:
                ending = await self._execute(run, spec, gh, releases)
            except Exception as error:  # the run ends visibly, whatever went wrong
                log.exception("run %s of /%s failed", run.id, spec.id)
                run.error = f"{type(error).__name__}: {error}"
                ending = _Ending(RunStatus.FAILED)
            run.finished_at = self._clock()
            if recording is not None:
                recording()
            version = await self._record(run, ending)
            if version is not None and ending.hook is not None:
                after = replace(
                    ending.hook,
                    stage=Stage.STATE_UPDATED,
                    status=run.status,
                    summary=run.summary,
                    state_version=version,
                )
                await self._stage(run, after, releases)
        finally:
            for release in releases:
                release()

    async def claim(
        self,
        request: Request,
        gh: InstallationClient,
        hold: Callable[[str], Awaitable[bool]],
    ) -> bool:
        """For a run a trigger label asked for: take the label application, so that it runs
        its command once, whoever saw it (the webhook, a redelivery, the reconciler). False:
        the run is not to happen (another run holds it, or a person took the label off).

        `hold(key)` claims a key durably for this run (True when it holds it, now or from an
        attempt before a crash); the key is the label event's id, which every path finds.
        """
        if request.trigger_label is None:
            return True
        history = await gh_issues.label_history(gh, request.repo, request.issue)
        key = claim_key(history, request)
        if key is None or not await hold(key):
            return False
        await self._reporter.claim(gh, request)
        return True

    async def report(self, run: Run, gh: InstallationClient) -> None:
        """Write the report of a run recorded before the bot stopped (all of it idempotent:
        the comment is edited in place, reactions and labels are set, not added twice)."""
        present = self._present(run.request) | {self._reporter.labels.running}
        await self._reporter.finish(gh, run, present)

    async def end(
        self,
        request: Request,
        gh: InstallationClient,
        status: RunStatus,
        reason: str,
        *,
        resumed: bool,
    ) -> Run:
        """End a run without running it (on) as `status`, visibly and in state: one that
        keeps breaking the bot (failed), or one stopped by `/cancel` (cancelled). A
        `resumed` one may have a status comment already, which is reused."""
        run = Run(id=run_id_for(request), request=request)
        self._move(run, RunStatus.RUNNING)
        run.started_at = run.finished_at = self._clock()
        if status is RunStatus.FAILED:
            run.error = reason
        else:
            run.summary = reason
        await self._reporter.start(gh, run, resumed=resumed)
        await self._record(run, _Ending(status))
        # It never ran here; a `resumed` one may have shown `running` before the bot stopped.
        present = self._present(request)
        if resumed:
            present |= {self._reporter.labels.running}
        await self._reporter.finish(gh, run, present)
        return run

    def _present(self, request: Request) -> frozenset[str]:
        """The issue's labels as a run starts: a claimed trigger label became `queued`."""
        if request.trigger_label is None:
            return request.issue_labels
        return request.issue_labels - {request.trigger_label} | {self._reporter.labels.queued}

    async def _record(self, run: Run, ending: _Ending) -> str | None:
        """Make the run's record and result durable, and end the run: the state version.

        A run whose state could not be written has not succeeded: it ends as failed and its
        comment says why (and the version is None).
        """
        try:
            written = await self._store.update(self._state_update(run, ending))
        except Exception as error:  # an outage or a bug alike: the run still ends visibly
            log.exception("run %s: state not saved", run.id)
            detail = error if isinstance(error, StateError) else f"{type(error).__name__}: {error}"
            run.error = f"The bot could not save its state: {detail}"
            self._move(run, RunStatus.FAILED)
            return None
        for notice in written.notices:
            run.summary += f"\n\n> [!WARNING]\n> {notice}"
        self._move(run, ending.status)
        run.state_version = written.version
        return written.version

    async def _execute(
        self,
        run: Run,
        spec: CommandSpec,
        gh: InstallationClient,
        releases: list[Callable[[], None]],
    ) -> _Ending:
        """The pre-command stages, the handler, then PostCommand: how the run should end."""
        request = run.request
        permission = await self._permissions.resolve(gh, request)
        hook = HookInput(Stage.AUTHORIZE, run.id, request, spec, permission, self._clock())
        added: list[str] = []
        for stage in PRE_STAGES:
            hook = replace(hook, stage=stage)
            result = await self._stage(run, hook, releases)
            if result.blockers:
                refused = any(o.result.name == PERMISSION_HOOK for o in result.blockers)
                run.summary = blocked_reply(result.blockers)
                return _Ending(RunStatus.REFUSED if refused else RunStatus.BLOCKED, hook=hook)
            if result.params is not None:
                hook = replace(hook, params=result.params)
            added.extend(result.additional_context)
        status, keep = await self._call_handler(run, spec, hook, gh, "\n\n".join(added))
        hook = replace(hook, stage=Stage.POST_COMMAND, status=status, summary=run.summary)
        blockers = (await self._stage(run, hook, releases)).blockers
        if blockers and status is RunStatus.SUCCEEDED:
            run.summary = blocked_reply(blockers) + "\n\nThe command ran; its result is withheld."
            return _Ending(RunStatus.BLOCKED, hook=hook)
        return _Ending(status, keep, hook)

    async def _call_handler(
        self,
        run: Run,
        spec: CommandSpec,
        hook: HookInput,
        gh: InstallationClient,
        additional_context: str,
    ) -> tuple[RunStatus, KeepUpdate | None]:
        context = await self._context(hook, gh, additional_context)
        try:
            async with within(spec.timeout_s):
                outcome: Outcome = await self._handlers[spec.handler or ""](context)
        except TimeoutError:
            run.error = f"`/{spec.id}` did not finish within {spec.timeout_s:g} s"
            return RunStatus.FAILED, None
        except Exception as error:  # the handler's bug ends its run, not the bot
            log.exception("run %s: /%s raised", run.id, spec.id)
            run.error = f"{type(error).__name__}: {error}"
            return RunStatus.FAILED, None
        run.summary = outcome.markdown
        return RunStatus.SUCCEEDED, outcome.keep

    async def _stage(
        self, run: Run, hook: HookInput, releases: list[Callable[[], None]]
    ) -> StageResult:
        result = await self._stages.run(hook.stage, hook)
        run.hooks.extend(outcome.result for outcome in result.outcomes)
        run.hook_time_ms += result.elapsed_ms
        releases.extend(result.releases)
        return result

    async def _context(
        self, hook: HookInput, gh: InstallationClient, additional_context: str
    ) -> CommandContext:
        state = await self._store.read()
        request, spec = hook.request, hook.spec
        repo = request.repo.full_name
        return CommandContext(
            request=request,
            spec=spec,
            params=hook.params,
            github=gh,
            catalogue=self.catalogue,
            actor_permission=hook.permission,
            now=self._clock(),
            # A copy: the state read is shared with the store, and handlers may change this.
            saved=copy.deepcopy(state.command_data.get(command_data_key(spec.id, repo))),
            past_runs=_PastRuns(state.runs, repo),
            status_labels=self._reporter.labels.all(),
            additional_context=additional_context,
            paused_commands={str(k): v for k, v in self._breakers.paused().items()},
            runs=self.run_control,
            run_id=hook.run_id,
            seal=_SEAL,
        )

    @staticmethod
    def _state_update(run: Run, ending: _Ending) -> StateUpdate:
        record = RunRecord.of(run, ending.status)
        key = command_data_key(run.request.command, run.request.repo.full_name)

        def update(state: BotState) -> BotState:
            earlier = find_run(state, record.run_id)
            if earlier is not None and earlier.status.is_final:
                return state  # recorded before the bot stopped; a resumed run changes nothing
            state = with_run(state, record, new=earlier is None)
            if ending.keep is not None:
                state = with_command_data(state, key, ending.keep(state.command_data.get(key)))
            return state

        return update

    @staticmethod
    def _move(run: Run, status: RunStatus) -> None:
        check_transition(run.status, status)
        run.status = status


class _PastRuns(Sequence[PastRun]):
    """The repository's runs, oldest first, built when a handler first looks: most never
    do, and the audit holds thousands of records."""

    def __init__(self, records: Sequence[RunRecord], repo: str):
        self._records = records
        self._repo = repo
        self._runs: tuple[PastRun, ...] | None = None

    def _all(self) -> tuple[PastRun, ...]:
        if self._runs is None:
            self._runs = tuple(
                PastRun(r.run_id, r.command, r.status, r.issue, r.finished_at, r.args_text)
                for r in self._records
                if r.repo == self._repo
            )
        return self._runs

    @overload
    def __getitem__(self, index: int) -> PastRun: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PastRun]: ...
    def __getitem__(self, index: int | slice) -> PastRun | Sequence[PastRun]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())


class _Shown(Enum):
    """Whether a run put `running` on its issue."""

    NO = "no"
    YES = "yes"
    # The move failed part way, or its answer was lost: the issue may carry `running`, or
    # still the labels the move was to replace.
    MAYBE = "maybe"


class _RunningLabel:
    """Shows `running` on the issue once a run has lasted `delay` seconds. A quicker run
    goes straight from its start to its final label: two label events fewer on the issue's
    timeline, and two writes fewer against GitHub's limit on writes (decision 0015)."""

    def __init__(self, show: Callable[[], Awaitable[None]], delay: float):
        self._show = show
        self._task: asyncio.Task[None] | None = None
        # A timer, not a task asleep: most runs end before it fires (decision 0016).
        self._timer = asyncio.get_running_loop().call_later(delay, self._begin)

    def _begin(self) -> None:
        self._task = asyncio.ensure_future(self._show())

    async def settle(self) -> _Shown:
        """Stop waiting to show the label, and say whether it was shown. A move under way
        is waited for, so that the final label always comes after it."""
        if self._task is None:
            self._timer.cancel()
            return _Shown.NO
        try:
            await asyncio.shield(self._task)
        except Exception as error:  # the run goes on; its final move cleans up after it
            log.warning("the running label could not be shown: %r", error)
            return _Shown.MAYBE
        return _Shown.YES


@dataclass(frozen=True, slots=True)
class _Ending:
    """How a run is to end, decided before its state is written."""

    status: RunStatus
    keep: KeepUpdate | None = None
    # The run as its hooks last saw it; None when it failed before any hook could run.
    hook: HookInput | None = None


def label_application(history: Sequence[Mapping[str, Any]], label: str) -> Mapping[str, Any] | None:
    """The `labeled` event of a trigger label's latest application, from the issue's label
    events (oldest first); None when there is none, a bot applied it (bots' labels never
    run commands: invariant 7), or a person has since taken it off (withdrawn)."""
    mine = [e for e in history if str(e.get("label", {}).get("name", "")).casefold() == label]
    applied = [e for e in mine if e.get("event") == "labeled"]
    if not applied or _by_a_bot(applied[-1]):
        return None
    latest = mine[-1]
    if latest.get("event") == "unlabeled" and not latest.get("performed_via_github_app"):
        return None
    return applied[-1]


def claim_key(history: Sequence[Mapping[str, Any]], request: Request) -> str | None:
    """What a trigger-label run claims: its label application and its command."""
    applied = label_application(history, (request.trigger_label or "").casefold())
    if applied is None:
        return None
    return f"label:{request.repo}#{request.issue}:{applied['id']}:{request.command}"


def _by_a_bot(event: Mapping[str, Any]) -> bool:
    actor = event.get("actor") or {}
    return bool(event.get("performed_via_github_app")) or actor.get("type") == "Bot"


def blocked_reply(blockers: Sequence[StageOutcome]) -> str:
    """Why the run stopped: every blocking hook, in the stage's order.

    The built-in hooks write their reasons for the person who asked; other hooks' reasons
    are quoted with the hook's name.
    """
    lines = []
    for outcome in blockers:
        name, reply = outcome.result.name, outcome.reply
        reason = outcome.result.reason or "no reason given"
        if name in BUILTIN_HOOKS:
            lines.append(_usage_reply(reason, reply.usage))
        elif reply.needs_approval:
            lines.append(
                f"Hook `{name}` asks for approval: {reason} "
                "A maintainer can run the command themselves once they agree."
            )
        else:
            lines.append(f"Blocked by hook `{name}`: {reason}")
    return "\n\n".join(lines)


def _usage_reply(reason: str, usage: str) -> str:
    if not usage:
        return reason
    return f"{reason}\n\nUsage:\n\n```\n{usage}\n```"
