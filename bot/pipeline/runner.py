"""The pipeline: the only way to a command handler (invariant 1).

    acknowledge -> status comment -> pre-hooks (permission, arguments) -> handler
    -> state update -> post-hooks -> report

Every run, whatever its end, leaves its record in state and on its issue.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.commands.catalogue import Catalogue, CommandSpec
from bot.commands.context import CommandContext, Handler, KeepUpdate, Outcome, PastRun
from bot.domain import HookResult, Permission, Request, Run, RunStatus, Verdict
from bot.github import InstallationClient
from bot.pipeline.claude_hooks import HookConfig, HookOutcome, run_stage
from bot.pipeline.hooks import blocked_reply, check_permission, hook_payload, validate_arguments
from bot.pipeline.permissions import PermissionResolver
from bot.report import Reporter
from bot.report.labels import check_transition
from bot.state import (
    BotState,
    RunRecord,
    StateError,
    StateUpdate,
    Store,
    command_data_key,
    with_command_data,
    with_run,
)

log = logging.getLogger(__name__)


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
        hook_config: HookConfig,
        project_dir: Path,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.catalogue = catalogue
        self._handlers = handlers
        self._store = store
        self._reporter = reporter
        self._permissions = permissions
        self._hook_config = hook_config
        self._project_dir = project_dir
        self._clock = clock

    async def run(self, request: Request, gh: InstallationClient) -> Run:
        spec = self.catalogue.get(request.command)
        if spec is None or spec.handler is None or spec.handler not in self._handlers:
            raise LookupError(f"no runnable command {request.command!r}; intake must not ask")
        run = Run(id=run_id_for(request), request=request)
        await self._reporter.acknowledge(gh, request)
        self._move(run, RunStatus.RUNNING)
        run.started_at = self._clock()
        await self._reporter.start(gh, run, request.issue_labels)
        try:
            ending = await self._execute(run, spec, gh)
        except Exception as error:  # the run ends visibly, whatever went wrong
            log.exception("run %s of /%s failed", run.id, spec.id)
            run.error = f"{type(error).__name__}: {error}"
            ending = _Ending(RunStatus.FAILED)
        run.finished_at = self._clock()
        self._move(run, await self._record(run, ending))
        await self._reporter.finish(gh, run)
        return run

    async def _record(self, run: Run, ending: _Ending) -> RunStatus:
        """Make the run's record and result durable; returns the status the run ends in.

        A run whose state could not be written has not succeeded: it ends as failed and its
        comment says why.
        """
        try:
            written = await self._store.update(self._state_update(run, ending))
        except Exception as error:  # an outage or a bug alike: the run still ends visibly
            log.exception("run %s: state not saved", run.id)
            detail = error if isinstance(error, StateError) else f"{type(error).__name__}: {error}"
            run.error = f"The bot could not save its state: {detail}"
            return RunStatus.FAILED
        for notice in written.notices:
            run.summary += f"\n\n> [!WARNING]\n> {notice}"
        return ending.status

    async def _execute(self, run: Run, spec: CommandSpec, gh: InstallationClient) -> _Ending:
        """Pre-hooks, then the handler: how the run should end, and what to keep."""
        request = run.request
        started = time.perf_counter()
        permission = await self._permissions.resolve(gh, request)
        permission_result = check_permission(spec, request.actor, permission)
        run.hooks.append(_timed(permission_result, started))
        if permission_result.verdict is not Verdict.PASS:
            run.summary = permission_result.reason
            return _Ending(RunStatus.REFUSED)
        started = time.perf_counter()
        bound = validate_arguments(spec, request)
        run.hooks.append(_timed(bound.result, started))
        if bound.result.verdict is not Verdict.PASS:
            run.summary = _usage_reply(bound.result.reason, bound.usage)
            return _Ending(RunStatus.BLOCKED)
        blockers, additional_context = await self._claude_hooks(run, spec, bound.params)
        if blockers:
            run.summary = blocked_reply(blockers)
            return _Ending(RunStatus.BLOCKED)
        context = await self._context(
            request, spec, bound.params, gh, permission, additional_context
        )
        try:
            outcome: Outcome = await asyncio.wait_for(
                self._handlers[spec.handler or ""](context), timeout=spec.timeout_s
            )
        except TimeoutError:
            run.error = f"`/{spec.id}` did not finish within {spec.timeout_s:g} s"
            return _Ending(RunStatus.FAILED)
        run.summary = outcome.markdown
        return _Ending(RunStatus.SUCCEEDED, outcome.keep)

    async def _claude_hooks(
        self, run: Run, spec: CommandSpec, params: Mapping[str, Any]
    ) -> tuple[list[HookOutcome], str]:
        """The App's hooks before the command: the blockers, or the context they add."""
        added: list[str] = []
        # The events before a command (docs/hooks.md), with what their matchers test.
        for event, subject in (("UserPromptSubmit", None), ("PreCommand", spec.id)):
            hooks = self._hook_config.matching(event, subject)
            if not hooks:
                continue
            payload = hook_payload(event, run, params, self._project_dir)
            outcomes = await run_stage(hooks, event, payload, project_dir=self._project_dir)
            run.hooks.extend(outcome.result for outcome in outcomes)
            blockers = [o for o in outcomes if o.result.verdict is Verdict.BLOCK]
            if blockers:
                return blockers, ""
            added.extend(o.additional_context for o in outcomes if o.additional_context)
        return [], "\n\n".join(added)

    async def _context(
        self,
        request: Request,
        spec: CommandSpec,
        params: Mapping[str, Any],
        gh: InstallationClient,
        permission: Permission,
        additional_context: str,
    ) -> CommandContext:
        state = await self._store.read()
        repo = request.repo.full_name
        past = tuple(
            PastRun(r.run_id, r.command, r.status, r.issue, r.finished_at)
            for r in state.runs
            if r.repo == repo
        )
        return CommandContext(
            request=request,
            spec=spec,
            params=params,
            github=gh,
            catalogue=self.catalogue,
            actor_permission=permission,
            now=self._clock(),
            saved=state.command_data.get(command_data_key(spec.id, repo)),
            past_runs=past,
            status_labels=self._reporter.labels.all(),
            additional_context=additional_context,
        )

    @staticmethod
    def _state_update(run: Run, ending: _Ending) -> StateUpdate:
        record = RunRecord.of(run, ending.status)
        key = command_data_key(run.request.command, run.request.repo.full_name)

        def update(state: BotState) -> BotState:
            state = with_run(state, record)
            if ending.keep is not None:
                state = with_command_data(state, key, ending.keep(state.command_data.get(key)))
            return state

        return update

    @staticmethod
    def _move(run: Run, status: RunStatus) -> None:
        check_transition(run.status, status)
        run.status = status


@dataclass(frozen=True, slots=True)
class _Ending:
    """How a run is to end, decided before its state is written."""

    status: RunStatus
    keep: KeepUpdate | None = None


def _timed(result: HookResult, started: float) -> HookResult:
    elapsed_ms = (time.perf_counter() - started) * 1000
    return HookResult(result.name, result.verdict, result.reason, elapsed_ms)


def _usage_reply(reason: str, usage: str) -> str:
    if not usage:
        return reason
    return f"{reason}\n\nUsage:\n\n```\n{usage}\n```"
