"""The built-in hooks, registered like any in-process hook (bot/pipeline/registry.py):

    Authorize   permission   the actor's role on the repository allows the command
    Authorize   rate-limit   the actor has runs of this command left (a token bucket)
    Authorize   breaker      the command is not paused after failing again and again
    StateUpdated breaker     counts the run's success or failure for the breaker
    Validate    arguments    the arguments bind to the command's parameters
    PreCommand  concurrency  no other run of the command holds its scope (issue, repository,
                             global), declared by `concurrency:` in its frontmatter

Each one that blocks says why in words a person can act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.buckets import TokenBuckets
from bot.commands.catalogue import CommandSpec, ParameterError, bind_arguments
from bot.commands.grammar import ArgumentSyntaxError, parse_arguments
from bot.domain import Permission, RateLimit, Request, RunStatus
from bot.pipeline.limits import Breakers, ConcurrencyGuard
from bot.pipeline.registry import HookInput, HookRegistry, HookReply, Stage

PERMISSION_HOOK = "permission"
RATE_LIMIT_HOOK = "rate-limit"
ARGUMENTS_HOOK = "arguments"
CONCURRENCY_HOOK = "concurrency"
BREAKER_HOOK = "breaker"
BUILTIN_HOOKS = frozenset(
    {PERMISSION_HOOK, RATE_LIMIT_HOOK, ARGUMENTS_HOOK, CONCURRENCY_HOOK, BREAKER_HOOK}
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What the rate limit and concurrency hooks remember between runs."""

    default_rate_limit: RateLimit
    buckets: TokenBuckets
    guard: ConcurrencyGuard
    breakers: Breakers
    breaker_threshold: int
    breaker_cooldown_s: float


def register_builtin_hooks(registry: HookRegistry, limits: Limits) -> None:
    @registry.hook(Stage.AUTHORIZE, name=PERMISSION_HOOK)
    async def permission(hook: HookInput) -> HookReply:
        return check_permission(hook.spec, hook.request.requester, hook.permission)

    @registry.hook(Stage.AUTHORIZE, name=RATE_LIMIT_HOOK)
    async def rate_limit(hook: HookInput) -> HookReply:
        limit = hook.spec.rate_limit or limits.default_rate_limit
        request = hook.request
        wait_s = limits.buckets.take((hook.spec.id, request.actor.lower()), limit)
        if not wait_s:
            return HookReply()
        return HookReply.block(
            f"{request.requester} has run `/{hook.spec.id}` as often as allowed "
            f"({limit} per user). Try again in {_duration(wait_s)}.",
            retry_after_s=wait_s,
        )

    @registry.hook(Stage.AUTHORIZE, name=BREAKER_HOOK)
    async def breaker(hook: HookInput) -> HookReply:
        wait_s, probe = limits.breakers.admit(hook.spec.id)
        if probe:
            return HookReply(release=lambda: limits.breakers.end_probe(hook.spec.id))
        if not wait_s:
            return HookReply()
        return HookReply.block(
            f"`/{hook.spec.id}` is paused: it failed too many times in a row. The bot will try "
            f"it again in {_duration(wait_s)}; ask then, or tell the App's maintainers.",
            retry_after_s=wait_s,
        )

    @registry.hook(Stage.STATE_UPDATED, name=BREAKER_HOOK)
    async def breaker_count(hook: HookInput) -> HookReply:
        if hook.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            limits.breakers.record(
                hook.spec.id,
                failed=hook.status is RunStatus.FAILED,
                threshold=hook.spec.breaker_threshold or limits.breaker_threshold,
                cooldown_s=hook.spec.breaker_cooldown_s or limits.breaker_cooldown_s,
            )
        return HookReply()

    @registry.hook(Stage.VALIDATE, name=ARGUMENTS_HOOK)
    async def arguments(hook: HookInput) -> HookReply:
        return validate_arguments(hook.spec, hook.request)

    @registry.hook(Stage.PRE_COMMAND, name=CONCURRENCY_HOOK)
    async def concurrency(hook: HookInput) -> HookReply:
        scope = concurrency_scope(hook.spec, hook.request)
        if scope is None:
            return HookReply()
        holder = limits.guard.acquire(scope, hook.run_id)
        if holder is not None:
            where = {"issue": "on this issue", "repository": "on this repository"}
            return HookReply.block(
                f"`/{hook.spec.id}` is already running {where.get(hook.spec.concurrency, 'here')}"
                f" (run `{holder}`), and it runs one at a time. Ask again when that run has "
                "finished."
            )
        return HookReply(release=lambda: limits.guard.release(scope, hook.run_id))


def check_permission(spec: CommandSpec, requester: str, permission: Permission) -> HookReply:
    """`requester` as comments name the actor (`@mona`, or `` `api:ci` ``)."""
    if permission.allows(spec.permission):
        return HookReply()
    return HookReply.block(
        f"`/{spec.id}` needs `{spec.permission}` permission on this repository; "
        f"{requester} has `{permission}`. Ask a maintainer to run it, or to grant you access."
    )


def validate_arguments(spec: CommandSpec, request: Request) -> HookReply:
    try:
        arguments = parse_arguments(request.args_text)
        params = bind_arguments(spec, arguments.positional, arguments.options)
    except ArgumentSyntaxError as error:
        return HookReply.block(str(error))
    except ParameterError as error:
        return HookReply.block(str(error), usage=error.usage)
    return HookReply(params=params)


def concurrency_scope(spec: CommandSpec, request: Request) -> tuple[str, ...] | None:
    """What one run of the command holds: None when runs may overlap."""
    repo = request.repo.full_name.lower()
    match spec.concurrency:
        case "issue":
            return (spec.id, repo, str(request.issue))
        case "repository":
            return (spec.id, repo)
        case "global":
            return (spec.id,)
    return None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{math.ceil(seconds)} s"
    if seconds < 90 * 60:
        return f"{math.ceil(seconds / 60)} min"
    return f"{math.ceil(seconds / 3600)} h"
