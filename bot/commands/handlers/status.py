"""`/status`: the bot's runs on this issue, and the commands paused by their breaker."""

from __future__ import annotations

import math
from collections.abc import Mapping

from bot.commands.context import ActiveRun, CommandContext, Outcome, PastRun
from bot.markdown import code_span, count

SHOWN_RUNS = 20


async def handle(ctx: CommandContext) -> Outcome:
    issue = ctx.request.issue
    runs = [run for run in ctx.past_runs if run.issue == issue]
    active = [
        run
        for run in (ctx.runs.active(ctx.request.repo, issue) if ctx.runs else [])
        if run.run_id != ctx.run_id
    ]
    return Outcome(markdown=render(runs, ctx.paused_commands, issue, active))


def render(
    runs: list[PastRun],
    paused: Mapping[str, tuple[int, float]],
    issue: int,
    active: list[ActiveRun] | None = None,
) -> str:
    parts = [_active(active or []), _runs(runs, issue), _paused(paused)]
    return "\n\n".join(part for part in parts if part)


def _active(active: list[ActiveRun]) -> str:
    if not active:
        return ""
    lines = ["In progress:", ""]
    for run in active:
        state = "running" if run.started else "queued"
        lines.append(f"- `{run.run_id}` {code_span(run.command_line)} by {run.requester}: {state}")
    return "\n".join(lines)


def _runs(runs: list[PastRun], issue: int) -> str:
    if not runs:
        return f"No run of the bot is recorded on #{issue} yet."
    latest = list(reversed(runs))[:SHOWN_RUNS]
    lines = [
        f"Runs on #{issue}, latest first ({len(latest)} of {len(runs)}):",
        "",
        "| run | command | status | finished |",
        "| --- | --- | --- | --- |",
    ]
    for run in latest:
        finished = run.finished_at.strftime("%Y-%m-%d %H:%M UTC") if run.finished_at else ""
        command = code_span("/" + run.command)
        lines.append(f"| `{run.run_id}` | {command} | {run.status} | {finished} |")
    return "\n".join(lines)


def _paused(paused: Mapping[str, tuple[int, float]]) -> str:
    if not paused:
        return "No command is paused."
    lines = ["Paused by their circuit breaker:", ""]
    for command, (failures, wait_s) in sorted(paused.items()):
        failed = count(failures, "time")
        lines.append(
            f"- {code_span('/' + command)}: failed {failed} in a row; "
            f"tried again in {math.ceil(wait_s)} s"
        )
    return "\n".join(lines)
