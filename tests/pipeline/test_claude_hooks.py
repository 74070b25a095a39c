"""Claude Code hooks: the loader, the matchers, the protocol table and real processes."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain import Verdict
from bot.pipeline.claude_hooks import (
    DEFAULT_TIMEOUT_S,
    MAX_OUTPUT_CHARS,
    CommandHook,
    HookConfig,
    HookGroup,
    display_name,
    interpret,
    load_hook_config,
    matcher_matches,
    run_stage,
)

HOOKS = Path(__file__).resolve().parent / "hooks"
B, P, E = Verdict.BLOCK, Verdict.PASS, Verdict.ERROR


def hook(script: str, timeout_s: float = 5.0, extra: str = "") -> CommandHook:
    command = shlex.quote(str(HOOKS / script)) + (f" {extra}" if extra else "")
    return CommandHook(command, timeout_s, "settings.json")


def bash_payload(command: str) -> dict[str, object]:
    """The DOCS-HEAD PreToolUse example, with another command."""
    return {
        "session_id": "abc123",
        "transcript_path": "/home/user/.claude/projects/x/transcript.jsonl",
        "cwd": "/home/user/my-project",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "Run it", "timeout": 120000},
        "tool_use_id": "toolu_01ABC123",
    }


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def real(path: Path) -> Path:
    return path.resolve()


def specific(**fields: str) -> str:
    return json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", **fields}})


# --- interpret ---------------------------------------------------------------------------

BLOCK_JSON = json.dumps({"decision": "block", "reason": "from json"})

INTERPRET_TABLE = [
    # (id, event, exit, stdout, stderr, verdict, reason, context, needs_approval)
    ("exit0-silent", "PreToolUse", 0, "", "", P, "", "", False),
    ("exit0-stderr-ignored", "PreToolUse", 0, "", "debug noise", P, "", "", False),
    ("exit0-plain-stdout-not-context", "PreToolUse", 0, "hello", "", P, "", "", False),
    ("exit2-stderr-reason", "PreToolUse", 2, "", "  BLOCKED: rm  \n", B, "BLOCKED: rm", "", False),
    (
        "exit2-beats-json-approve",
        "PreToolUse",
        2,
        '{"decision":"approve"}',
        "no",
        B,
        "no",
        "",
        False,
    ),
    ("exit2-json-fills-reason", "Stop", 2, BLOCK_JSON, "", B, "from json", "", False),
    ("exit2-stderr-beats-json", "Stop", 2, BLOCK_JSON, "stderr", B, "stderr", "", False),
    ("exit2-no-reason", "PreToolUse", 2, "", "", B, "hook exited with code 2", "", False),
    ("decision-block", "PostToolUse", 0, BLOCK_JSON, "", B, "from json", "", False),
    (
        "decision-block-no-reason",
        "Stop",
        0,
        '{"decision":"block"}',
        "",
        B,
        "blocked by hook",
        "",
        False,
    ),
    (
        "decision-approve",
        "PreToolUse",
        0,
        '{"decision":"approve","reason":"ok"}',
        "",
        P,
        "",
        "",
        False,
    ),
    ("leading-blanks-json", "Stop", 0, "\n  \t" + BLOCK_JSON, "", B, "from json", "", False),
    (
        "continue-false",
        "Stop",
        0,
        '{"continue": false, "stopReason": "budget spent", "decision": "approve"}',
        "",
        B,
        "budget spent",
        "",
        False,
    ),
    (
        "continue-false-no-reason",
        "Stop",
        0,
        '{"continue": false}',
        "",
        B,
        "hook stopped the run",
        "",
        False,
    ),
    ("continue-true", "Stop", 0, '{"continue": true}', "", P, "", "", False),
    (
        "continue-false-beats-deny",
        "PreToolUse",
        0,
        '{"continue": false, "stopReason": "stop", "hookSpecificOutput": '
        '{"permissionDecision": "deny", "permissionDecisionReason": "deny"}}',
        "",
        B,
        "stop",
        "",
        False,
    ),
    (
        "deny",
        "PreToolUse",
        0,
        specific(permissionDecision="deny", permissionDecisionReason="no pushes"),
        "",
        B,
        "no pushes",
        "",
        False,
    ),
    (
        "deny-no-reason",
        "PreToolUse",
        0,
        specific(permissionDecision="deny"),
        "",
        B,
        "denied by hook",
        "",
        False,
    ),
    (
        "ask",
        "PreToolUse",
        0,
        specific(permissionDecision="ask", permissionDecisionReason="confirm"),
        "",
        B,
        "confirm",
        "",
        True,
    ),
    (
        "ask-no-reason",
        "PreToolUse",
        0,
        specific(permissionDecision="ask"),
        "",
        B,
        "hook asks for approval",
        "",
        True,
    ),
    (
        "defer-as-ask",
        "PreToolUse",
        0,
        specific(permissionDecision="defer"),
        "",
        B,
        "hook asks for approval",
        "",
        True,
    ),
    ("allow", "PreToolUse", 0, specific(permissionDecision="allow"), "", P, "", "", False),
    (
        "permission-request-deny",
        "PermissionRequest",
        0,
        json.dumps({"hookSpecificOutput": {"decision": {"behavior": "deny", "message": "nope"}}}),
        "",
        B,
        "nope",
        "",
        False,
    ),
    (
        "additional-context",
        "PostToolUse",
        0,
        specific(additionalContext=" 3 tests ran "),
        "",
        P,
        "",
        "3 tests ran",
        False,
    ),
    (
        "deny-with-context",
        "PreToolUse",
        0,
        specific(permissionDecision="deny", permissionDecisionReason="r", additionalContext="c"),
        "",
        B,
        "r",
        "c",
        False,
    ),
    (
        "prompt-plain-stdout-context",
        "UserPromptSubmit",
        0,
        "  use tables \n",
        "",
        P,
        "",
        "use tables",
        False,
    ),
    ("session-start-plain-stdout", "SessionStart", 0, "ctx", "", P, "", "ctx", False),
    (
        "prompt-json-context",
        "UserPromptSubmit",
        0,
        specific(additionalContext="ctx"),
        "",
        P,
        "",
        "ctx",
        False,
    ),
    (
        "prompt-plain-stdout-on-error-no-context",
        "UserPromptSubmit",
        1,
        "ctx",
        "",
        E,
        "exit 1",
        "",
        False,
    ),
    ("exit1-error", "PreToolUse", 1, "", "lint crashed\n", E, "exit 1: lint crashed", "", False),
    ("exit1-no-stderr", "PreToolUse", 1, "", "", E, "exit 1", "", False),
    (
        "exit127",
        "PreToolUse",
        127,
        "",
        "bash: x.sh: No such file",
        E,
        "exit 127 (command not found): bash: x.sh: No such file",
        "",
        False,
    ),
    ("exit3-error", "PreToolUse", 3, "out", "", E, "exit 3", "", False),
    ("signal", "PreToolUse", -9, "", "", E, "killed by signal 9", "", False),
    ("exit1-json-block-decides", "Stop", 1, BLOCK_JSON, "warn", B, "from json", "", False),
    (
        "exit1-json-deny-decides",
        "PreToolUse",
        1,
        specific(permissionDecision="deny"),
        "",
        B,
        "denied by hook",
        "",
        False,
    ),
    (
        "exit1-json-approve-still-error",
        "PreToolUse",
        1,
        '{"decision":"approve"}',
        "x",
        E,
        "exit 1: x",
        "",
        False,
    ),
    ("invalid-json-is-text", "PreToolUse", 0, '{"decision": "block"', "", P, "", "", False),
    (
        "invalid-json-text-context",
        "UserPromptSubmit",
        0,
        '{"decision": ',
        "",
        P,
        "",
        '{"decision":',
        False,
    ),
    ("not-first-char", "PreToolUse", 0, 'note: {"decision":"block"}', "", P, "", "", False),
    ("json-array-is-text", "PreToolUse", 0, "[1, 2]", "", P, "", "", False),
    ("hso-not-object", "PreToolUse", 0, '{"hookSpecificOutput": "deny"}', "", P, "", "", False),
    (
        "reason-not-string",
        "Stop",
        0,
        '{"decision":"block","reason":5}',
        "",
        B,
        "blocked by hook",
        "",
        False,
    ),
]


@pytest.mark.parametrize(
    ("event", "code", "stdout", "stderr", "verdict", "reason", "context", "approval"),
    [pytest.param(*row[1:], id=row[0]) for row in INTERPRET_TABLE],
)
def test_interpret(
    event: str,
    code: int,
    stdout: str,
    stderr: str,
    verdict: Verdict,
    reason: str,
    context: str,
    approval: bool,
) -> None:
    assert interpret(event, code, stdout, stderr) == (verdict, reason, context, approval)


def test_interpret_cuts_long_output() -> None:
    verdict, reason, _, _ = interpret("PreToolUse", 2, "", "x" * (MAX_OUTPUT_CHARS + 500))
    assert verdict is Verdict.BLOCK
    assert reason.startswith("x" * MAX_OUTPUT_CHARS)
    assert reason.endswith("[truncated]")
    assert len(reason) < MAX_OUTPUT_CHARS + 20
    _, _, context, _ = interpret("UserPromptSubmit", 0, "y" * 20_000, "")
    assert len(context) < MAX_OUTPUT_CHARS + 20


# --- loading -----------------------------------------------------------------------------

DOCS_SETTINGS = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Edit|Write",
                "hooks": [
                    {
                        "type": "command",
                        "command": '"$CLAUDE_PROJECT_DIR"/.claude/hooks/check.sh',
                        "timeout": 30,
                    }
                ],
            },
            {
                "matcher": "Bash",
                "hooks": [
                    {"type": "command", "command": "uv run .claude/hooks/pre_tool_use.py"},
                    {"type": "http", "url": "http://127.0.0.1:9/hook"},
                    {"type": "prompt", "prompt": "Is $ARGUMENTS safe?"},
                ],
            },
            {"matcher": "Notebook(", "hooks": [{"type": "command", "command": "never.sh"}]},
        ],
        "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "context.sh"}]}],
        "Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "stop.sh"}]}],
        "NoSuchEvent": [{"hooks": [{"type": "command", "command": "x.sh"}]}],
    },
}


def write_settings(directory: Path, name: str, content: object) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    (directory / name).write_text(text)


def test_load_docs_shaped_settings(tmp_path: Path) -> None:
    write_settings(tmp_path, "settings.json", DOCS_SETTINGS)
    config = load_hook_config(tmp_path)
    assert [(g.event, g.matcher) for g in config.groups] == [
        ("PreToolUse", "Edit|Write"),
        ("PreToolUse", "Bash"),
        ("PreToolUse", "Notebook("),
        ("UserPromptSubmit", None),
        ("Stop", ""),
    ]
    check = config.groups[0].hooks[0]
    assert check == CommandHook(
        '"$CLAUDE_PROJECT_DIR"/.claude/hooks/check.sh', 30.0, "settings.json"
    )
    assert config.groups[1].hooks == (
        CommandHook("uv run .claude/hooks/pre_tool_use.py", DEFAULT_TIMEOUT_S, "settings.json"),
    )
    warnings = "\n".join(config.warnings)
    assert "NoSuchEvent: unknown event" in warnings
    assert "'http' is not supported" in warnings
    assert "'prompt' is not supported" in warnings
    assert "'Notebook(' is not a valid regex" in warnings
    assert len(config.warnings) == 4
    assert config.matching("PreToolUse", "Write") == (check,)
    assert config.matching("PreToolUse", "NotebookEdit") == ()  # invalid regex never matches
    assert [h.command for h in config.matching("UserPromptSubmit", None)] == ["context.sh"]
    assert [h.command for h in config.matching("Stop", None)] == ["stop.sh"]
    assert config.matching("NoSuchEvent", None) == ()


def test_local_settings_merged_after_shared_and_deduplicated(tmp_path: Path) -> None:
    shared = {
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "a.sh"}]}]
        }
    }
    local = {
        "hooks": {
            "PreToolUse": [
                {"matcher": "*", "hooks": [{"type": "command", "command": "a.sh", "timeout": 5}]},
                {"hooks": [{"type": "command", "command": "b.sh", "timeout": 2.5}]},
            ]
        }
    }
    write_settings(tmp_path, "settings.json", shared)
    write_settings(tmp_path, "settings.local.json", local)
    config = load_hook_config(tmp_path)
    assert config.warnings == ()
    assert config.matching("PreToolUse", "Bash") == (
        CommandHook("a.sh", DEFAULT_TIMEOUT_S, "settings.json"),
        CommandHook("b.sh", 2.5, "settings.local.json"),
    )
    assert [h.command for h in config.matching("PreToolUse", "Read")] == ["a.sh", "b.sh"]


def test_missing_directory_is_empty(tmp_path: Path) -> None:
    assert load_hook_config(tmp_path / "absent") == HookConfig((), ())


def test_broken_json_is_a_warning_naming_the_file(tmp_path: Path) -> None:
    write_settings(tmp_path, "settings.json", '{"hooks": {')
    write_settings(
        tmp_path,
        "settings.local.json",
        {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "s.sh"}]}]}},
    )
    config = load_hook_config(tmp_path)
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith("settings.json: invalid JSON")
    assert [h.source for h in config.matching("Stop", None)] == ["settings.local.json"]


@pytest.mark.parametrize(
    ("settings", "warning"),
    [
        ([], "settings root is not an object"),
        ({"hooks": []}, "`hooks` is not an object"),
        ({"hooks": {"Stop": {}}}, "expected a list of matcher groups"),
        ({"hooks": {"Stop": ["x"]}}, "expected {matcher?, hooks: [...]}"),
        ({"hooks": {"Stop": [{"matcher": "*"}]}}, "expected {matcher?, hooks: [...]}"),
        ({"hooks": {"Stop": [{"matcher": 3, "hooks": []}]}}, "matcher is not a string"),
        ({"hooks": {"Stop": [{"hooks": ["x"]}]}}, "not an object"),
        ({"hooks": {"Stop": [{"hooks": [{"type": "command"}]}]}}, "`command` missing"),
        (
            {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "timeout": 0}]}]}},
            "timeout 0",
        ),
        (
            {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "timeout": "9"}]}]}},
            "timeout '9'",
        ),
        (
            {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "async": True}]}]}},
            "async",
        ),
        (
            {
                "hooks": {
                    "Stop": [
                        {"hooks": [{"type": "command", "command": "x", "shell": "powershell"}]}
                    ]
                }
            },
            "powershell",
        ),
        (
            {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x", "args": "-v"}]}]}},
            "`args`",
        ),
        (
            {
                "hooks": {
                    "PreToolUse": [
                        {"hooks": [{"type": "command", "command": "x", "if": "Bash(git *)"}]}
                    ]
                }
            },
            "`if` filter",
        ),
        (
            {"hooks": {"Stop": [{"hooks": [{"type": "mcp_tool", "server": "s", "tool": "t"}]}]}},
            "'mcp_tool'",
        ),
        ({"hooks": {"Stop": [{"hooks": [{"type": "agent", "prompt": "p"}]}]}}, "'agent'"),
    ],
)
def test_malformed_entries_are_warnings(tmp_path: Path, settings: object, warning: str) -> None:
    write_settings(tmp_path, "settings.json", settings)
    config = load_hook_config(tmp_path)
    assert len(config.warnings) == 1
    assert warning in config.warnings[0]
    assert config.warnings[0].startswith("settings.json")


def test_handler_variants(tmp_path: Path) -> None:
    """Older files may omit `type`; newer ones use exec form (`args`) and `once`."""
    settings = {
        "description": "plugin hooks.json shape",
        "hooks": {
            "Stop": [
                {
                    "hooks": [
                        {"command": "legacy.sh"},
                        {"type": "command", "command": "/usr/bin/node", "args": ["h.js", "--x"]},
                        {"type": "command", "command": "once.sh", "once": True},
                        {"type": "command", "command": "t.sh", "timeout": True},
                    ]
                }
            ]
        },
    }
    write_settings(tmp_path, "settings.json", settings)
    config = load_hook_config(tmp_path)
    hooks = config.matching("Stop", None)
    assert [(h.command, h.args) for h in hooks] == [
        ("legacy.sh", ()),
        ("/usr/bin/node", ("h.js", "--x")),
        ("once.sh", ()),
        ("t.sh", ()),
    ]
    assert hooks[3].timeout_s == DEFAULT_TIMEOUT_S
    assert len(config.warnings) == 1  # the boolean timeout


# --- matchers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "subject", "expected"),
    [
        (None, "Bash", True),
        ("", "Bash", True),
        ("*", "mcp__github__create_issue", True),
        ("Bash", "Bash", True),
        ("Bash", "bash", False),  # case-sensitive
        ("Bash", "BashOutput", False),  # exact, not a prefix
        ("Edit|Write", "Write", True),
        ("Edit|Write", "MultiEdit", False),
        ("Edit, Write", "Write", True),
        ("Edit,Write", "Edit", True),
        ("code-reviewer", "code-reviewer", True),
        ("code-reviewer", "my-code-reviewer", False),
        ("Edit.*", "NotebookEdit", True),  # regex, unanchored
        ("Edit.*", "Read", False),
        ("Notebook.*", "NotebookEdit", True),
        ("^Write$", "Write", True),
        ("^Write$", "WriteFile", False),
        ("mcp__.*__create_.*", "mcp__github__create_issue", True),
        ("mcp__github", "mcp__github__create_issue", False),  # exact-name rule
        ("Bash", None, True),  # events without matcher support ignore it
        ("Notebook(", "Notebook(", False),  # invalid regex never matches
        ("Notebook(", None, False),
    ],
)
def test_matcher(matcher: str | None, subject: str | None, expected: bool) -> None:
    assert matcher_matches(matcher, subject) is expected


def test_matching_keeps_order_across_groups() -> None:
    a, b, c = (CommandHook(n, 1.0, "settings.json") for n in ("a", "b", "c"))
    config = HookConfig(
        (
            HookGroup("PreToolUse", "Bash", (b, a)),
            HookGroup("PostToolUse", None, (c,)),
            HookGroup("PreToolUse", "*", (c, b)),
        )
    )
    assert config.matching("PreToolUse", "Bash") == (b, a, c)
    assert config.matching("PreToolUse", "Read") == (c, b)


@pytest.mark.parametrize(
    ("command", "args", "name"),
    [
        ('"$CLAUDE_PROJECT_DIR"/.claude/hooks/check.sh', (), "check.sh"),
        ("uv run .claude/hooks/pre_tool_use.py --verbose", (), "uv run pre_tool_use.py --verbose"),
        ("/usr/bin/node", ("hooks/h.js",), "node h.js"),
        ("echo 'unbalanced", (), "echo 'unbalanced"),
        ("x" * 80, (), "x" * 59 + "…"),
    ],
)
def test_display_name(command: str, args: tuple[str, ...], name: str) -> None:
    assert display_name(CommandHook(command, 1.0, "settings.json", args)) == name


# --- running real processes ----------------------------------------------------------------


async def test_rm_rf_in_json_input_blocks_with_stderr(tmp_path: Path) -> None:
    # Shell metacharacters in the payload reach the hook only as JSON, never a shell.
    evil = f"rm -rf / ; $(touch {tmp_path}/pwned) `touch {tmp_path}/pwned2`"
    (blocked,) = await run_stage(
        [hook("pre_tool_use.py")], "PreToolUse", bash_payload(evil), project_dir=tmp_path
    )
    (passed,) = await run_stage(
        [hook("pre_tool_use.py")], "PreToolUse", bash_payload("ls -la"), project_dir=tmp_path
    )
    assert blocked.result.verdict is Verdict.BLOCK
    assert blocked.result.reason == "BLOCKED: Dangerous rm command detected and prevented"
    assert blocked.result.name == "pre_tool_use.py"
    assert passed.result.verdict is Verdict.PASS
    assert files_in(tmp_path) == []


async def test_json_decisions_of_real_hooks(tmp_path: Path) -> None:
    outcomes = await run_stage(
        [
            hook("validate_commit.sh"),
            hook("protect_default_branches.sh"),
            hook("confirm_publish.sh"),
        ],
        "PreToolUse",
        bash_payload("git commit -m 'wip' && git push origin main"),
        project_dir=tmp_path,
    )
    commit, branch, publish = outcomes
    assert commit.result.verdict is Verdict.BLOCK
    assert commit.result.reason.startswith("Commit message must follow Conventional Commits")
    assert branch.result.verdict is Verdict.BLOCK
    assert branch.result.reason.startswith("Direct pushes to the default branch")
    assert not branch.needs_approval
    assert publish.result.verdict is Verdict.BLOCK
    assert publish.needs_approval
    assert "confirm first" in publish.result.reason

    fine = await run_stage(
        [hook("validate_commit.sh"), hook("protect_default_branches.sh")],
        "PreToolUse",
        bash_payload("git commit -m 'fix(report): totals' && git push origin topic"),
        project_dir=tmp_path,
    )
    assert [o.result.verdict for o in fine] == [Verdict.PASS, Verdict.PASS]


async def test_exit_1_and_missing_script_are_errors_not_blocks(tmp_path: Path) -> None:
    missing = CommandHook('"$CLAUDE_PROJECT_DIR"/.claude/hooks/missing.sh', 5.0, "settings.json")
    lint, gone = await run_stage(
        [hook("lint_check.sh"), missing], "PostToolUse", bash_payload("ls"), project_dir=tmp_path
    )
    assert lint.result.verdict is Verdict.ERROR
    assert lint.result.reason == "exit 1: lint_check: ruff not configured for this project"
    assert gone.result.verdict is Verdict.ERROR
    assert gone.result.reason.startswith("exit 127 (command not found)")
    assert gone.result.name == "missing.sh"


async def test_exec_form_with_missing_executable_is_an_error(tmp_path: Path) -> None:
    absent = CommandHook(str(tmp_path / "nope"), 5.0, "settings.json", ("--x",))
    (outcome,) = await run_stage([absent], "Stop", {}, project_dir=tmp_path)
    assert outcome.result.verdict is Verdict.ERROR
    assert outcome.result.reason.startswith("could not start")


async def test_exec_form_gets_args_and_stdin(tmp_path: Path) -> None:
    exec_hook = CommandHook(
        sys.executable, 5.0, "settings.json", (str(HOOKS / "user_prompt_submit.py"),)
    )
    (outcome,) = await run_stage(
        [exec_hook], "UserPromptSubmit", {"prompt": "a; b"}, project_dir=tmp_path
    )
    assert outcome.result.verdict is Verdict.PASS
    assert "Prompt received (4 chars): a; b" in outcome.additional_context


async def test_user_prompt_submit_context(tmp_path: Path) -> None:
    payload = {
        "session_id": "s",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "/generate-report since=30d",
    }
    (outcome,) = await run_stage(
        [hook("user_prompt_submit.py")], "UserPromptSubmit", payload, project_dir=tmp_path
    )
    assert outcome.result.verdict is Verdict.PASS
    assert outcome.additional_context == (
        "Prompt received (26 chars): /generate-report since=30d\n"
        "Project conventions: reports are Markdown tables."
    )
    assert outcome.result.duration_ms > 0


async def test_environment_is_allow_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "supersecret")
    monkeypatch.setenv("GITHUB_PRIVATE_KEY", "-----BEGIN")
    monkeypatch.setenv("LANG", "C.UTF-8")
    (outcome,) = await run_stage(
        [hook("dump_env.sh")], "UserPromptSubmit", {"prompt": "x"}, project_dir=tmp_path
    )
    lines = set(outcome.additional_context.splitlines())
    assert f"CLAUDE_PROJECT_DIR={real(tmp_path)}" in lines
    assert "LANG=C.UTF-8" in lines
    assert "supersecret" not in outcome.additional_context
    assert "GITHUB_PRIVATE_KEY" not in outcome.additional_context
    names = {line.split("=", 1)[0] for line in lines if "=" in line}
    # bash adds PWD, SHLVL and _ itself; nothing else comes from the App.
    assert names <= {
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TZ",
        "TMPDIR",
        "CLAUDE_PROJECT_DIR",
        "PWD",
        "SHLVL",
        "_",
    }
    assert f"PWD={real(tmp_path)}" in lines  # cwd = project dir


async def test_identical_commands_run_once(tmp_path: Path) -> None:
    counter = CommandHook(
        f"echo run >> {shlex.quote(str(tmp_path / 'count'))}", 5.0, "settings.json"
    )
    again = CommandHook(counter.command, 9.0, "settings.local.json")
    outcomes = await run_stage(
        [counter, again, hook("lint_check.sh"), counter], "Stop", {}, project_dir=tmp_path
    )
    assert len(outcomes) == 2
    assert (tmp_path / "count").read_text() == "run\n"


async def test_hooks_run_concurrently_results_in_order(tmp_path: Path) -> None:
    hooks = [hook("wait_a_bit.sh", extra=str(n)) for n in range(3)]
    started = time.monotonic()
    outcomes = await run_stage(hooks, "Stop", {}, project_dir=tmp_path)
    elapsed = time.monotonic() - started
    assert [o.result.name for o in outcomes] == [
        "wait_a_bit.sh 0",
        "wait_a_bit.sh 1",
        "wait_a_bit.sh 2",
    ]
    assert all(o.result.verdict is Verdict.PASS for o in outcomes)
    assert elapsed < 0.75


async def test_empty_stage(tmp_path: Path) -> None:
    assert await run_stage([], "Stop", {}, project_dir=tmp_path) == ()


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Adopt orphans, so the test can reap the hook's grandchild (PID 1 may not)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is Linux-only")
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    assert libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        libc.prctl(pr_set_child_subreaper, 0, 0, 0, 0)


def reap(pid: int, within_s: float) -> int:
    """The wait status of our adopted child `pid`, or kill it and fail."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"process {pid} survived the timeout")


async def test_timeout_kills_the_process_group(tmp_path: Path, subreaper: None) -> None:
    started = time.monotonic()
    slow, fast = await run_stage(
        [hook("slow_hook.py", timeout_s=0.3), hook("lint_check.sh")],
        "PreToolUse",
        bash_payload("ls"),
        project_dir=tmp_path,
    )
    assert time.monotonic() - started < 1.5
    assert slow.result.verdict is Verdict.TIMEOUT  # fails open: printed JSON is discarded
    assert slow.result.reason == "timed out after 0.3 s"
    assert slow.result.duration_ms >= 300
    assert fast.result.verdict is Verdict.ERROR
    pgid, child = map(int, (tmp_path / "slow_hook.pids").read_text().split())
    status = reap(child, within_s=1.0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


async def test_background_child_of_a_finished_hook_is_killed(
    tmp_path: Path, subreaper: None
) -> None:
    # The child closes the pipes so the hook "finishes", then would outlive the run.
    command = f"sleep 30 >/dev/null 2>&1 & echo $! > {shlex.quote(str(tmp_path / 'bg'))}; exit 0"
    (outcome,) = await run_stage(
        [CommandHook(command, 5.0, "settings.json")], "Stop", {}, project_dir=tmp_path
    )
    assert outcome.result.verdict is Verdict.PASS
    child = int((tmp_path / "bg").read_text())
    assert os.WTERMSIG(reap(child, within_s=1.0)) == signal.SIGKILL
