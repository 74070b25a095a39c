"""One hook stage: the in-process hooks and the App's Claude Code hooks, run together.

All hooks of a stage run concurrently. Outcomes come back in a fixed order (in-process hooks
in registration order, then Claude Code hooks in the order the settings list them), so the
stage's verdict and its list of blockers are the same on every run.

An in-process hook that raises or hangs blocks the run (fails closed): it is the App's own
guard, and a broken guard must not let a command through (docs/decisions/0009). A Claude
Code hook follows Claude Code: an error or a timeout is recorded and does not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cachetools import TLRUCache

from bot.domain import HookResult, Verdict
from bot.pipeline.claude_hooks import DEFAULT_TIMEOUT_S, CommandHook, HookConfig, run_stage
from bot.pipeline.registry import HookInput, HookRegistry, HookReply, PythonHook, Stage

log = logging.getLogger(__name__)

CACHE_ENTRIES = 4096


@dataclass(frozen=True, slots=True)
class StageOutcome:
    result: HookResult
    reply: HookReply


@dataclass(frozen=True, slots=True)
class StageResult:
    outcomes: tuple[StageOutcome, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def blockers(self) -> tuple[StageOutcome, ...]:
        return tuple(o for o in self.outcomes if o.result.verdict is Verdict.BLOCK)

    @property
    def additional_context(self) -> tuple[str, ...]:
        return tuple(
            o.reply.additional_context for o in self.outcomes if o.reply.additional_context
        )

    @property
    def params(self) -> Mapping[str, Any] | None:
        """The parameters a VALIDATE hook bound, if one did."""
        return next((o.reply.params for o in self.outcomes if o.reply.params is not None), None)

    @property
    def releases(self) -> tuple[Callable[[], None], ...]:
        return tuple(o.reply.release for o in self.outcomes if o.reply.release is not None)


# What a cached answer is stored with: the answer, and how long it may be reused.
_Cached = tuple[StageOutcome, float]


class StageRunner:
    def __init__(
        self,
        registry: HookRegistry,
        hook_config: HookConfig,
        *,
        project_dir: Path,
        python_timeout_s: float = DEFAULT_TIMEOUT_S,
        timer: Callable[[], float] = time.monotonic,
    ):
        self._registry = registry
        self._hook_config = hook_config
        self._project_dir = project_dir
        self._python_timeout_s = python_timeout_s
        self._cache: TLRUCache[tuple[object, ...], _Cached] = TLRUCache(
            CACHE_ENTRIES, ttu=lambda _key, value, now: now + value[1], timer=timer
        )

    async def run(self, stage: Stage, hook: HookInput) -> StageResult:
        started = time.perf_counter()
        python_hooks = self._registry.matching(stage, hook.spec.id)
        subject = hook.spec.id if stage.matches_command else None
        command_hooks = self._hook_config.matching(stage.value, subject)
        if not python_hooks and not command_hooks:
            return StageResult()
        if command_hooks:
            python_outcomes, command_outcomes = await asyncio.gather(
                self._run_pythons(python_hooks, hook), self._run_commands(command_hooks, hook)
            )
            outcomes = (*python_outcomes, *command_outcomes)
        else:
            outcomes = await self._run_pythons(python_hooks, hook)
        elapsed_ms = (time.perf_counter() - started) * 1000
        return StageResult(outcomes, elapsed_ms)

    async def _run_pythons(
        self, python_hooks: Sequence[PythonHook], hook: HookInput
    ) -> tuple[StageOutcome, ...]:
        if len(python_hooks) == 1:
            # In this task: a task per hook was a third of a quick run's CPU (decision 0016).
            return (await self._run_python(python_hooks[0], hook),)
        return tuple(await asyncio.gather(*(self._run_python(h, hook) for h in python_hooks)))

    async def _run_python(self, python_hook: PythonHook, hook: HookInput) -> StageOutcome:
        key = ("python", python_hook.name, *hook.cache_key())
        if python_hook.cache_seconds is not None and (cached := self._cached(key)) is not None:
            return cached
        started = time.perf_counter()
        reply, answered = await self._call(python_hook, hook)
        elapsed_ms = (time.perf_counter() - started) * 1000
        result = HookResult(
            python_hook.name,
            reply.verdict,
            reply.reason,
            elapsed_ms,
            retry_after_s=reply.retry_after_s,
        )
        outcome = StageOutcome(result, reply)
        # Only real answers are reused: a failure may not happen again.
        if python_hook.cache_seconds is not None and answered:
            self._remember(key, outcome, python_hook.cache_seconds)
        return outcome

    async def _call(self, python_hook: PythonHook, hook: HookInput) -> tuple[HookReply, bool]:
        """The hook's reply, and whether it answered (False: it failed, and blocks)."""
        try:
            async with within(self._python_timeout_s):
                reply = await python_hook.function(hook)
        except TimeoutError:
            return _failed(f"did not answer within {self._python_timeout_s:g} s"), False
        except Exception as error:  # fails closed: see the module's docstring
            log.exception("hook %s raised", python_hook.name)
            return _failed(f"failed ({type(error).__name__}: {error})"), False
        if not isinstance(reply, HookReply):
            return _failed(f"answered {reply!r} instead of a HookReply"), False
        return reply, True

    async def _run_commands(
        self, hooks: Sequence[CommandHook], hook: HookInput
    ) -> tuple[StageOutcome, ...]:
        if not hooks:
            return ()
        found: dict[CommandHook, StageOutcome] = {}
        payload = claude_input(hook, self._project_dir)
        told = _told(payload)
        for command_hook in hooks:
            if command_hook.cache_seconds is not None:
                cached = self._cached(_command_key(command_hook, told))
                if cached is not None:
                    found[command_hook] = cached
        to_run = [h for h in hooks if h not in found]
        ran = await run_stage(to_run, hook.stage.value, payload, project_dir=self._project_dir)
        for command_hook, outcome in zip(to_run, ran, strict=True):
            reply = HookReply(
                outcome.result.verdict,
                outcome.result.reason,
                outcome.additional_context,
                outcome.needs_approval,
            )
            found[command_hook] = StageOutcome(outcome.result, reply)
            # Only real answers are reused: an error or a timeout may not happen again.
            answered = outcome.result.verdict in (Verdict.PASS, Verdict.BLOCK)
            if command_hook.cache_seconds is not None and answered:
                key = _command_key(command_hook, told)
                self._remember(key, found[command_hook], command_hook.cache_seconds)
        return tuple(found[h] for h in hooks)

    def _cached(self, key: tuple[object, ...]) -> StageOutcome | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        outcome = entry[0]
        return StageOutcome(replace(outcome.result, duration_ms=0.0, cached=True), outcome.reply)

    def _remember(self, key: tuple[object, ...], outcome: StageOutcome, seconds: float) -> None:
        # A release belongs to one run; an answer that holds something is never reused.
        if outcome.reply.release is None:
            self._cache[key] = (outcome, seconds)


@contextlib.asynccontextmanager
async def within(seconds: float) -> AsyncIterator[None]:
    """Run a hook's or a handler's code in the caller's task, up to `seconds` (TimeoutError
    after). Not `wait_for`, whose task per call was a third of a quick run's CPU (decision
    0016); but then the code shares the run's task, and a cancellation of the run (/cancel)
    that it swallows, or turns into an error, is raised again here, as wait_for would."""
    task = asyncio.current_task()
    cancels = task.cancelling() if task is not None else 0
    try:
        async with asyncio.timeout(seconds):
            yield
    except Exception as error:
        if task is not None and task.cancelling() > cancels:
            raise asyncio.CancelledError from error
        raise
    if task is not None and task.cancelling() > cancels:
        raise asyncio.CancelledError


def _failed(what: str) -> HookReply:
    return HookReply.block(f"the hook {what}, so the run stops; tell the App's maintainers")


def _told(payload: Mapping[str, Any]) -> str:
    """What a command hook is told, but for what differs on every run: its cache key."""
    stable = {k: v for k, v in payload.items() if k not in ("session_id", "delivery_id")}
    return json.dumps(stable, sort_keys=True, default=str)


def _command_key(command_hook: CommandHook, told: str) -> tuple[object, ...]:
    return ("command", command_hook.command, command_hook.args, told)


def claude_input(hook: HookInput, project_dir: Path) -> dict[str, Any]:
    """What Claude Code sends a hook, plus the bot's own fields. Arguments travel only here."""
    request = hook.request
    payload: dict[str, Any] = {
        "session_id": hook.run_id,
        "transcript_path": "",
        "cwd": str(project_dir),
        "permission_mode": "default",
        "hook_event_name": hook.stage.value,
        "prompt": request.command_line,
        "command": request.command,
        "parameters": dict(hook.params),
        "actor": request.actor,
        "actor_permission": str(hook.permission),
        "repository": request.repo.full_name,
        "issue": request.issue,
        "source": str(request.source),
        "delivery_id": request.delivery_id,
    }
    if hook.status is not None:
        payload["result"] = {"status": str(hook.status), "summary": hook.summary}
    if hook.state_version:
        payload["state_version"] = hook.state_version
    return payload
