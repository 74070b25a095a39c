"""The App's Claude Code hooks in the pipeline, end to end (docs/hooks.md).

Each hook is a real script run by the real bot; each outcome is read from the status
comment on the issue.
"""

from __future__ import annotations

from pathlib import Path

from bot.commands.context import CommandContext, Outcome
from bot.commands.handlers import HANDLERS
from bot.sandbox import MAINTAINER, REPO
from bot.testing import KeyPair
from tests.conftest import Harness, running
from tests.e2e.projects import write_project
from tests.e2e.test_commands import bot_comments

# Each script reads Claude Code's JSON on stdin, like the public hooks it is shaped after.
SCRIPTS = {
    "add_context.py": "import json, sys\nprint('Remember: ' + json.load(sys.stdin)['prompt'])\n",
    "block_rm.py": "import json, sys\n"
    "if 'rm -rf' in json.load(sys.stdin)['prompt']:\n"
    "    print('Refusing: rm -rf in the arguments', file=sys.stderr); sys.exit(2)\n",
    "policy.py": "import json, sys, time\n"
    "text = json.load(sys.stdin)['parameters']['text']\n"
    "answers = {\n"
    "  'blockme': {'decision': 'block', 'reason': 'echo of blockme is not allowed'},\n"
    "  'denyme': {'hookSpecificOutput': {'hookEventName': 'PreCommand',\n"
    "    'permissionDecision': 'deny', 'permissionDecisionReason': 'denied by policy'}},\n"
    "  'askme': {'hookSpecificOutput': {'hookEventName': 'PreCommand',\n"
    "    'permissionDecision': 'ask',\n"
    "    'permissionDecisionReason': 'needs a second pair of eyes'}},\n"
    "}\n"
    "if text == 'slow': time.sleep(5)\n"
    "if text in answers: print(json.dumps(answers[text]))\n",
    "lint.py": "import sys\nprint('lint failed', file=sys.stderr); sys.exit(1)\n",
    "only_reports.py": "import os, pathlib\n"
    "pathlib.Path(os.environ['CLAUDE_PROJECT_DIR'], 'report-hook-ran').touch()\n",
}


async def echo(ctx: CommandContext) -> Outcome:
    return Outcome(markdown=f"echo: {ctx.params['text']}\n\ncontext: {ctx.additional_context}")


def claude_dir(tmp_path: Path) -> Path:
    def hook(name: str, timeout: float = 10) -> dict[str, object]:
        command = f'python3 "$CLAUDE_PROJECT_DIR"/.claude/hooks/{name}'
        return {"type": "command", "command": command, "timeout": timeout}

    settings = {
        "hooks": {
            "UserPromptSubmit": [{"hooks": [hook("add_context.py"), hook("block_rm.py")]}],
            "PreCommand": [
                {"matcher": "echo", "hooks": [hook("policy.py", 0.5), hook("lint.py")]},
                {"matcher": "generate-.*", "hooks": [hook("only_reports.py")]},
            ],
        }
    }
    return write_project(tmp_path, settings, SCRIPTS)


async def run_echo(harness: Harness, issue: int, text: str) -> str:
    await harness.comment(MAINTAINER, f"/echo {text}", issue=issue)
    (status,) = bot_comments(harness.emulator.issue_view(REPO, issue))
    return status


async def test_hook_outcomes_show_in_the_status_comment(tmp_path: Path, app_keys: KeyPair) -> None:
    claude = claude_dir(tmp_path)
    handlers = {**HANDLERS, "echo": echo}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        passed = await run_echo(h, 1, "hello")
        assert "✅ `/echo hello` succeeded" in passed
        assert "context: Remember: /echo hello" in passed  # UserPromptSubmit read `prompt`
        assert "| `python3 lint.py` | error |" in passed
        assert "lint failed" in passed
        assert "| `permission` | pass |" in passed  # the built-ins ran first

        rm = await run_echo(h, 2, '"rm -rf /"')
        assert "⛔" in rm
        assert "Blocked by hook `python3 block_rm.py`: Refusing: rm -rf" in rm

        blocked = await run_echo(h, 3, "blockme")
        assert "Blocked by hook `python3 policy.py`: echo of blockme is not allowed" in blocked

        denied = await run_echo(h, 4, "denyme")
        assert "Blocked by hook `python3 policy.py`: denied by policy" in denied

        asked = await run_echo(h, 5, "askme")
        assert "Hook `python3 policy.py` asks for approval: needs a second pair of eyes" in asked

        slow = await run_echo(h, 6, "slow")
        assert "✅ `/echo slow` succeeded" in slow  # a timeout fails open
        assert "| `python3 policy.py` | timeout |" in slow

        marker = claude.parent / "report-hook-ran"
        assert not marker.exists()  # the `generate-.*` matcher did not match `echo`
        await h.comment(MAINTAINER, "/generate-report", issue=7)
        assert marker.exists()

        runs = (await h.state()).runs
        assert [str(r.status) for r in runs] == [
            "succeeded",
            "blocked",
            "blocked",
            "blocked",
            "blocked",
            "succeeded",
            "succeeded",
        ]
        hooks_of_first = [(hook.name, str(hook.verdict)) for hook in runs[0].hooks]
        assert ("python3 block_rm.py", "pass") in hooks_of_first
        assert ("python3 lint.py", "error") in hooks_of_first


async def test_hooks_come_only_from_the_apps_claude_dir(tmp_path: Path, app_keys: KeyPair) -> None:
    claude = claude_dir(tmp_path)
    handlers = {**HANDLERS, "echo": echo}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        await run_echo(h, 1, "hello")
        paths = [request.path for request in h.emulator.requests]
    # The bot never reads a repository's files, so a repository's own .claude/ cannot run.
    assert not [path for path in paths if "/contents" in path or "/git/" in path]
