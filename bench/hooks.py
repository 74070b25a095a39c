"""Benchmark: what 70 hooks add to a command, and how fast the bot starts with 150 command
files and 70 hooks.

The real bot runs against the GitHub emulator on loopback. The same commands run twice, side
by side in one run:

* built-ins only: the 6 built-in hooks (permission, rate limit, breaker, arguments,
  concurrency, and the breaker's count after the state update);
* 70 hooks: the built-ins, 54 more in-process hooks and 10 bash hooks run as subprocesses
  (Claude Code's protocol: JSON on stdin, exit 2 blocks).

For each it prints p50 and p95 of the hooks' time per command (the wall time of all hook
stages, as the status comment shows it) and of the whole run. Commands run one after
another, so the figures are per command, not queueing. Startup is a fresh Python process
that imports the bot and builds it with 150 generated command files and the 70 hooks.

    .venv/bin/python bench/hooks.py [--commands 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from harness import percentile, serving

from bot.app import build_bot
from bot.commands.context import CommandContext, Outcome
from bot.config import load_settings
from bot.pipeline.registry import HookInput, HookRegistry, HookReply, Stage
from bot.sandbox import APP_ID, MAINTAINER, REPO
from bot.testing import generate_key_pair

COMMAND_FILES = 150
# In-process hooks per stage, besides the 6 built-ins: 54 + 6 = 60.
PYTHON_HOOKS = {
    Stage.AUTHORIZE: 8,
    Stage.VALIDATE: 8,
    Stage.USER_PROMPT_SUBMIT: 10,
    Stage.PRE_COMMAND: 18,
    Stage.POST_COMMAND: 5,
    Stage.STATE_UPDATED: 5,
}
# Subprocess hooks per event: 10.
BASH_HOOKS = {"UserPromptSubmit": 4, "PreCommand": 4, "PostCommand": 2}
# A typical guard, shaped after public ones: read the JSON, refuse `rm -rf` with exit 2.
# Only bash builtins, so each hook costs one process.
GUARD_SCRIPT = """#!/bin/bash
read -r -d '' input
case "$input" in
  *"rm -rf"*) echo "rm -rf is not allowed in arguments" >&2; exit 2 ;;
esac
exit 0
"""
_SUMMARY = re.compile(r"(\d+) hooks? \((\d+) ms\) · (\d+) ms</summary>")


async def echo(ctx: CommandContext) -> Outcome:
    return Outcome(markdown=f"echo: {ctx.params['text']}")


def write_claude_dir(root: Path) -> Path:
    """150 command files (one runnable: echo) and 10 bash hooks in settings.json."""
    claude = root / ".claude"
    commands = claude / "commands"
    for index in range(COMMAND_FILES - 1):
        folder = commands / f"area{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"task-{index}.md").write_text(
            "---\n"
            f"description: Generated task {index}\n"
            "argument-hint: [target] [--dry-run]\n"
            "allowed-tools: Bash(git status:*), Read\n"
            "permission: triage\n"
            "parameters:\n  target: string\n  dry-run: boolean\n"
            "---\n"
            f"Do task {index} on $ARGUMENTS.\n"
        )
    (commands / "echo.md").write_text(
        "---\nhandler: echo\npermission: read\nparameters:\n  text: string\n---\nEcho.\n"
    )
    hooks_dir = claude / "hooks"
    hooks_dir.mkdir()
    settings: dict[str, list[dict[str, object]]] = {}
    for event, count in BASH_HOOKS.items():
        group = []
        for index in range(count):
            script = hooks_dir / f"{event}-{index}.sh"
            script.write_text(GUARD_SCRIPT)
            script.chmod(0o755)
            group.append(
                {"type": "command", "command": f'"$CLAUDE_PROJECT_DIR"/.claude/hooks/{script.name}'}
            )
        settings[event] = [{"hooks": group}]
    (claude / "settings.json").write_text(json.dumps({"hooks": settings}))
    return claude


def python_hooks() -> HookRegistry:
    """In-process guards doing the small checks real ones do: a pattern, a field, a list."""
    registry = HookRegistry()
    blocked_words = re.compile(r"\b(drop table|rm -rf|curl .*\| *sh)\b", re.IGNORECASE)
    allowed_repositories = frozenset({REPO, "demo/other"})
    for stage, count in PYTHON_HOOKS.items():
        for index in range(count):

            async def guard(hook: HookInput) -> HookReply:
                if blocked_words.search(hook.request.command_line):
                    return HookReply.block("that command line is not allowed")
                if hook.request.repo.full_name not in allowed_repositories:
                    return HookReply.block("not on this repository")
                return HookReply()

            registry.hook(stage, name=f"guard-{stage.value}-{index}")(guard)
    return registry


async def measure(claude: Path, hooks: HookRegistry | None, commands: int) -> dict[str, object]:
    hook_ms: list[float] = []
    run_ms: list[float] = []
    hook_count = 0
    data_dir = claude.parent / f"data-{hooks is not None}"
    # The bench runs one user's commands back to back: no rate limit.
    settings: dict[str, object] = {"rate_limit": "none", "github_writes_per_minute": 1_000_000}
    async with serving(claude, data_dir, {"echo": echo}, hooks=hooks, **settings) as served:
        for index in range(commands + 5):  # the first 5 warm up
            issue = 1 + index % 10
            await served.emulator.comment(REPO, issue, MAINTAINER, f"/echo hello-{index}")
            await served.settle()
            comment = served.emulator.issue_view(REPO, issue).comments[-1].body
            found = _SUMMARY.search(comment)
            if found is None or "✅" not in comment:
                raise RuntimeError(f"unexpected status comment:\n{comment}")
            if index >= 5:
                hook_count = int(found.group(1))
                hook_ms.append(float(found.group(2)))
                run_ms.append(float(found.group(3)))
    return {"hooks": hook_count, "hook_ms": hook_ms, "run_ms": run_ms}


def startup(claude: Path) -> tuple[float, str]:
    """A fresh process: import the bot, build it with the files and hooks; wall seconds."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--startup-child", str(claude)],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, child.stdout.strip()


async def startup_child(claude: Path) -> None:
    started = time.perf_counter()
    keys = generate_key_pair()  # a real App has its key at hand; not counted below
    key_ms = (time.perf_counter() - started) * 1000
    settings = load_settings(
        app_id=APP_ID,
        private_key=keys.private_pem,
        webhook_secret="x",
        github_api_url="http://127.0.0.1:9",
        data_dir=claude.parent / "data-startup",
        claude_dir=claude,
    )
    async with aiohttp.ClientSession() as session:
        bot = await build_bot(settings, session, handlers={"echo": echo}, hooks=python_hooks())
    built_ms = (time.perf_counter() - started) * 1000 - key_ms
    print(
        f"{len(bot.catalogue)} commands loaded, {len(bot.catalogue.problems)} problems; "
        f"build_bot {built_ms:.0f} ms "
        f"(key generation, {key_ms:.0f} ms, not counted)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--startup-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.startup_child:
        await startup_child(args.startup_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        claude = write_claude_dir(Path(tmp))
        empty = Path(tmp) / "builtins" / ".claude"
        (empty / "commands").mkdir(parents=True)
        (empty / "commands" / "echo.md").write_text((claude / "commands" / "echo.md").read_text())
        baseline = await measure(empty, None, args.commands)
        full = await measure(claude, python_hooks(), args.commands)
        seconds, child_says = startup(claude)

    print(f"{args.commands} commands each, one at a time, against the emulator on loopback\n")
    print(f"{'':24}{'built-ins only':>18}{'70 hooks':>18}")
    print(f"{'hooks per command':24}{baseline['hooks']:>18}{full['hooks']:>18}")
    for label, key in (("hooks' time", "hook_ms"), ("whole run", "run_ms")):
        for name, fraction in (("p50", 0.5), ("p95", 0.95)):
            left = percentile(baseline[key], fraction)  # type: ignore[arg-type]
            right = percentile(full[key], fraction)  # type: ignore[arg-type]
            print(f"{label + ' ' + name:24}{left:>15.0f} ms{right:>15.0f} ms")
    print(f"\nstartup, {COMMAND_FILES} command files + 70 hooks: {seconds:.2f} s")
    print(f"  (process start to built bot: {child_says})")


if __name__ == "__main__":
    asyncio.run(main())
