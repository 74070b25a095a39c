"""`/retry [run]`: run a command again, through the whole pipeline, as the person asking.

Without a run id, the latest failed run on this issue; with one, that run (any status),
as long as it was on this repository. The new run has its own status comment and record.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.context import CommandContext, Outcome, PastRun, RetryRefused
from bot.domain import RunStatus
from bot.markdown import code_span


async def handle(ctx: CommandContext) -> Outcome:
    wanted = ctx.params.get("run")
    target = pick(ctx.past_runs, ctx.request.issue, str(wanted) if wanted else None)
    if target is None:
        where = f"run `{wanted}` on this repository" if wanted else "failed run on this issue"
        return Outcome(markdown=f"There is no {where} to retry. Comment `/status` to see them.")
    if ctx.runs is None:
        raise RuntimeError("runs cannot be started from here")
    try:
        new_run = await ctx.runs.retry(target, ctx.request)
    except RetryRefused as refused:
        return Outcome(markdown=str(refused))
    line = code_span(f"/{target.command} {target.args_text}".strip())
    return Outcome(markdown=f"Running {line} (run `{target.run_id}`) again as run `{new_run}`.")


def pick(runs: Sequence[PastRun], issue: int, run_id: str | None) -> PastRun | None:
    """The named run, or else the latest failed run on `issue` (not /retry's own runs)."""
    if run_id is not None:
        return next((run for run in runs if run.run_id == run_id), None)
    failed = [run for run in runs if run.issue == issue and run.status is RunStatus.FAILED]
    return failed[-1] if failed else None
