"""`/cancel [run]`: stop runs in progress on this issue.

A queued run is dropped before it starts; a running one is cancelled where it stands
(cooperatively: at its next await) and its status comment says who cancelled it. Without a
run id, every run in progress on this issue but this one.
"""

from __future__ import annotations

from bot.commands.context import Cancelling, CommandContext, Outcome
from bot.markdown import code_span

SAID = {
    Cancelling.DROPPED: "dropped before it started",
    Cancelling.STOPPING: "cancelled while it ran",
    Cancelling.FINISHED: "already finished; nothing to cancel",
    Cancelling.UNKNOWN: "not in progress",
}


async def handle(ctx: CommandContext) -> Outcome:
    if ctx.runs is None:
        raise RuntimeError("runs cannot be cancelled from here")
    request = ctx.request
    wanted = ctx.params.get("run")
    active = [
        run
        for run in ctx.runs.active(request.repo, request.issue)
        if run.run_id != ctx.run_id and (wanted is None or run.run_id == wanted)
    ]
    if not active:
        what = f"Run `{wanted}` is" if wanted else "No run is"
        return Outcome(markdown=f"{what} in progress on this issue; nothing to cancel.")
    lines = []
    for run in active:
        outcome = await ctx.runs.cancel(run.run_id, request.requester)
        lines.append(f"- `{run.run_id}` {code_span(run.command_line)}: {SAID[outcome]}")
    return Outcome(markdown="\n".join(lines))
