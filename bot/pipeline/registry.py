"""In-process Python hooks: a small registry, filled by decorators.

    hooks = HookRegistry()

    @hooks.hook(Stage.PRE_COMMAND, matcher="deploy|release")
    async def business_hours(hook: HookInput) -> HookReply:
        if hook.now.weekday() >= 5:
            return HookReply.block("Deploys wait for Monday.")
        return HookReply()

An in-process hook runs in the same ordered stages as the App's Claude Code hooks
(docs/hooks.md), concurrently with the other hooks of its stage. Its matcher follows Claude
Code's rule and is tested against the command id. A hook whose answer depends only on its
input may say so with `cache_seconds`: the same input within that time reuses the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.commands.catalogue import CommandSpec
from bot.domain import Permission, Request, RunStatus, Verdict
from bot.pipeline.claude_hooks import matcher_is_valid, matcher_matches


class Stage(StrEnum):
    """The pipeline's hook stages, in the order they run. Values are the hook event names."""

    # Who may run the command, and how often: permission, rate limit. In-process only.
    AUTHORIZE = "Authorize"
    # The arguments, bound to the command's parameters. In-process only.
    VALIDATE = "Validate"
    # Claude Code's event for a prompt: `prompt` is the command line as typed.
    USER_PROMPT_SUBMIT = "UserPromptSubmit"
    # Just before the handler; the matcher tests the command id.
    PRE_COMMAND = "PreCommand"
    # After the handler, before its result is kept; a block withholds the result.
    POST_COMMAND = "PostCommand"
    # After the run's record is saved; cannot block any more.
    STATE_UPDATED = "StateUpdated"

    @property
    def matches_command(self) -> bool:
        """Whether matchers test the command id; other stages ignore them, as Claude Code does."""
        return self in (Stage.PRE_COMMAND, Stage.POST_COMMAND, Stage.STATE_UPDATED)


PRE_STAGES = (Stage.AUTHORIZE, Stage.VALIDATE, Stage.USER_PROMPT_SUBMIT, Stage.PRE_COMMAND)


@dataclass(frozen=True, slots=True)
class HookInput:
    """What an in-process hook sees: the run so far. Read-only."""

    stage: Stage
    run_id: str
    request: Request
    spec: CommandSpec
    permission: Permission
    now: datetime
    # Bound and validated from VALIDATE on; empty before.
    params: Mapping[str, Any] = field(default_factory=dict)
    # POST_COMMAND and STATE_UPDATED: how the run is ending, and what it said.
    status: RunStatus | None = None
    summary: str = ""
    # STATE_UPDATED: the state version that holds the run's record.
    state_version: str = ""

    def cache_key(self) -> tuple[object, ...]:
        """Everything a deterministic hook may depend on (not the run id or the time)."""
        request = self.request
        return (
            self.stage,
            request.command,
            request.command_line,
            request.actor,
            request.repo.full_name,
            request.issue,
            request.source,
            self.permission,
            tuple(sorted((k, repr(v)) for k, v in self.params.items())),
            tuple(sorted(request.issue_labels)),
            request.actor_association,
            self.status,
            self.summary,
            self.state_version,
        )


@dataclass(frozen=True, slots=True)
class HookReply:
    verdict: Verdict = Verdict.PASS
    # Why it blocked, in words a person can act on.
    reason: str = ""
    # Text handed to the handler (Claude Code's additionalContext).
    additional_context: str = ""
    # A block that a maintainer can lift by running the command themselves ("ask").
    needs_approval: bool = False
    # VALIDATE: the parameters bound from the arguments, and how to call the command.
    params: Mapping[str, Any] | None = None
    usage: str = ""
    # Called once when the run ends, however it ends (a concurrency slot, …).
    release: Callable[[], None] | None = None
    # A block that lifts by itself: seconds until trying again makes sense.
    retry_after_s: float | None = None

    @classmethod
    def block(
        cls, reason: str, *, usage: str = "", retry_after_s: float | None = None
    ) -> HookReply:
        return cls(Verdict.BLOCK, reason, usage=usage, retry_after_s=retry_after_s)


HookFunction = Callable[[HookInput], Awaitable[HookReply]]


@dataclass(frozen=True, slots=True)
class PythonHook:
    name: str
    stage: Stage
    function: HookFunction
    matcher: str | None = None
    # Answers depend only on the input: reuse them for this long (None: never cached).
    cache_seconds: float | None = None


class HookRegistry:
    def __init__(self) -> None:
        self._hooks: list[PythonHook] = []

    def hook(
        self,
        stage: Stage,
        *,
        name: str | None = None,
        matcher: str | None = None,
        cache_seconds: float | None = None,
    ) -> Callable[[HookFunction], HookFunction]:
        """Register the decorated coroutine; hooks of a stage report in registration order."""

        def register(function: HookFunction) -> HookFunction:
            self.add(PythonHook(name or function.__name__, stage, function, matcher, cache_seconds))
            return function

        return register

    def add(self, hook: PythonHook) -> None:
        if any(h.name == hook.name and h.stage is hook.stage for h in self._hooks):
            raise ValueError(f"a hook named {hook.name!r} is already registered for {hook.stage}")
        if hook.cache_seconds is not None and hook.cache_seconds <= 0:
            raise ValueError(f"hook {hook.name!r}: cache_seconds must be greater than 0")
        if hook.matcher is not None and not matcher_is_valid(hook.matcher):
            raise ValueError(f"hook {hook.name!r}: matcher {hook.matcher!r} is not a valid regex")
        self._hooks.append(hook)

    def matching(self, stage: Stage, command: str) -> tuple[PythonHook, ...]:
        subject = command if stage.matches_command else None
        return tuple(
            hook
            for hook in self._hooks
            if hook.stage is stage and matcher_matches(hook.matcher, subject)
        )

    def __iter__(self) -> Iterator[PythonHook]:
        return iter(self._hooks)
