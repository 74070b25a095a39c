"""The built-in pre-hooks: permission, then argument validation.

Each hook answers with a HookResult; a hook that blocks says why in words a person can act
on. The hook pipeline of Claude Code's protocol joins these in a later change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.commands.catalogue import CommandSpec, ParameterError, bind_arguments
from bot.commands.grammar import ArgumentSyntaxError, parse_arguments
from bot.domain import HookResult, Permission, Request, Verdict

PERMISSION_HOOK = "permission"
ARGUMENTS_HOOK = "arguments"


def check_permission(spec: CommandSpec, actor: str, permission: Permission) -> HookResult:
    if permission.allows(spec.permission):
        return HookResult(PERMISSION_HOOK, Verdict.PASS)
    return HookResult(
        PERMISSION_HOOK,
        Verdict.BLOCK,
        f"`/{spec.id}` needs `{spec.permission}` permission on this repository; "
        f"@{actor} has `{permission}`. Ask a maintainer to run it, or to grant you access.",
    )


@dataclass(frozen=True, slots=True)
class BoundArguments:
    result: HookResult
    params: Mapping[str, Any]
    # How to call the command, shown when the arguments were wrong.
    usage: str = ""


def validate_arguments(spec: CommandSpec, request: Request) -> BoundArguments:
    try:
        arguments = parse_arguments(request.args_text)
        params = bind_arguments(spec, arguments.positional, arguments.options)
    except ArgumentSyntaxError as error:
        return BoundArguments(HookResult(ARGUMENTS_HOOK, Verdict.BLOCK, str(error)), {})
    except ParameterError as error:
        blocked = HookResult(ARGUMENTS_HOOK, Verdict.BLOCK, str(error))
        return BoundArguments(blocked, {}, usage=error.usage)
    return BoundArguments(HookResult(ARGUMENTS_HOOK, Verdict.PASS), params)
