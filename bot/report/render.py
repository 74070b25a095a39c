"""What the bot writes on an issue, as pure functions of a run (no I/O here).

Every status comment starts with a hidden marker naming its run, so the bot can always
tell its own comments apart and find the comment of a given run.
"""

from __future__ import annotations

import re

from bot.domain import Run, RunStatus, Verdict
from bot.markdown import code_span, count, table_cell

MARKER_PREFIX = "<!-- issue-queue-bot:run:"
_MARKER = re.compile(r"<!-- issue-queue-bot:run:([A-Za-z0-9_.-]+) -->")

HEADLINES: dict[RunStatus, str] = {
    RunStatus.QUEUED: "⏳ {command} is queued",
    RunStatus.RUNNING: "⏳ {command} is running",
    RunStatus.SUCCEEDED: "✅ {command} succeeded",
    RunStatus.FAILED: "❌ {command} failed",
    RunStatus.BLOCKED: "⛔ {command} was blocked",
    RunStatus.REFUSED: "🚫 {command} was refused",
    RunStatus.CANCELLED: "⏹️ {command} was cancelled",
}

# The reaction left on the triggering comment when a run ends.
FINAL_REACTIONS: dict[RunStatus, str] = {
    RunStatus.SUCCEEDED: "rocket",
    RunStatus.FAILED: "confused",
    RunStatus.BLOCKED: "confused",
    RunStatus.REFUSED: "confused",
    RunStatus.CANCELLED: "confused",
}
ACKNOWLEDGE_REACTION = "eyes"


def marker(run_id: str) -> str:
    return f"{MARKER_PREFIX}{run_id} -->"


def run_id_in(body: str) -> str | None:
    """The run id of a status comment, or None for any other comment."""
    match = _MARKER.search(body)
    return match.group(1) if match else None


def status_comment(run: Run) -> str:
    request = run.request
    # Text from outside GitHub may hold backticks or line breaks: one code span, always.
    headline = HEADLINES[run.status].format(command=code_span(request.command_line))
    parts = [marker(run.id), f"### {headline}", ""]
    if run.status is RunStatus.RUNNING or run.status is RunStatus.QUEUED:
        parts.append(f"Requested by {request.requester}.")
    elif run.summary:
        parts.append(run.summary)
    if run.error:
        parts.extend(["", f"**Error:** {run.error}"])
    parts.extend(["", _details(run)])
    return "\n".join(parts).rstrip() + "\n"


def _details(run: Run) -> str:
    duration = f" · {run.duration_ms:.0f} ms" if run.duration_ms is not None else ""
    lines = [
        "<details><summary>"
        f"Run <code>{run.id}</code> · {run.request.source} · {count(len(run.hooks), 'hook')}"
        f" ({run.hook_time_ms:.0f} ms){duration}"
        "</summary>",
        "",
    ]
    if run.hooks:
        lines.extend(["| hook | verdict | time | reason |", "| --- | --- | --- | --- |"])
        for hook in run.hooks:
            reason = table_cell(hook.reason) if hook.verdict is not Verdict.PASS else ""
            time = "cached" if hook.cached else f"{hook.duration_ms:.1f} ms"
            lines.append(f"| `{hook.name}` | {hook.verdict} | {time} | {reason} |")
    else:
        lines.append("No hooks have run yet.")
    lines.extend(["", "</details>"])
    return "\n".join(lines)


def did_you_mean(suggestions: list[tuple[str, str]]) -> str:
    """The reply to near-miss command names: (typed, suggestion) pairs."""
    lines = [
        f"`/{typed}` is not a command here. Did you mean `/{suggestion}`?"
        for typed, suggestion in suggestions
    ]
    lines.append("")
    lines.append("Comment `/help` to see the commands you can run.")
    return "\n".join(lines) + "\n"
