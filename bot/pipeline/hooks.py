"""The built-in pre-hooks (permission, then argument validation), and what the App's own
Claude Code hooks are told and how their verdicts read (docs/hooks.md).

Each hook answers with a HookResult; a hook that blocks says why in words a person can act
on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.commands.catalogue import CommandSpec, ParameterError, bind_arguments
from bot.commands.grammar import ArgumentSyntaxError, parse_arguments
from bot.domain import HookResult, Permission, Request, Run, Verdict
from bot.pipeline.claude_hooks import HookOutcome

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


def hook_payload(
    event: str, run: Run, params: Mapping[str, Any], project_dir: Path
) -> dict[str, Any]:
    """What Claude Code sends a hook, plus the bot's own fields. Arguments travel only here."""
    request = run.request
    return {
        "session_id": run.id,
        "transcript_path": "",
        "cwd": str(project_dir),
        "permission_mode": "default",
        "hook_event_name": event,
        "prompt": request.command_line,
        "command": request.command,
        "parameters": dict(params),
        "actor": request.actor,
        "repository": request.repo.full_name,
        "issue": request.issue,
        "source": str(request.source),
        "delivery_id": request.delivery_id,
    }


def blocked_reply(blockers: Sequence[HookOutcome]) -> str:
    """Why the run stopped: every blocking hook, in the order the settings list them."""
    lines = []
    for outcome in blockers:
        name, reason = outcome.result.name, outcome.result.reason or "no reason given"
        if outcome.needs_approval:
            lines.append(
                f"Hook `{name}` asks for approval: {reason} "
                "A maintainer can run the command themselves once they agree."
            )
        else:
            lines.append(f"Blocked by hook `{name}`: {reason}")
    return "\n\n".join(lines)
