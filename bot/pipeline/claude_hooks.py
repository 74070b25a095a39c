"""Claude Code's hook protocol, run by the App on its own hooks.

Where the hooks come from (trust boundary): only `CLAUDE_DIR/settings.json` and
`CLAUDE_DIR/settings.local.json` of the App itself, never a repository the App works on.
The command strings are therefore trusted; everything a user typed reaches a hook only as
JSON on stdin, never inside the command string.

Configuration shape (docs §3.1): ``{"hooks": {Event: [{"matcher"?, "hooks": [handler]}]}}``.
Both files are read and merged (settings.json first). Nothing in them is fatal: unknown
events, non-command handler types (prompt, agent, http, mcp_tool), bad timeouts, invalid
regexes and malformed entries become warnings and are skipped.

The bot's own settings live under one root key, which Claude Code ignores (the settings root
allows extra keys); a hook declares itself deterministic there, by its command string:
``{"issueQueueBot": {"cacheSeconds": {"<command>": 300}}}``: the same input within 300 s
reuses its answer.

Matchers (DOCS-HEAD rule): ``"*"``, ``""`` or absent match all; a value made only of
``[A-Za-z0-9_\\- ,|]`` is an exact name or a list split on ``|`` / ``,``; anything else is an
unanchored regex (``re.search`` stands in for JavaScript's ``RegExp.test``).

Protocol mapping to the App's Verdict (docs §3.5, §3.6), decided in `interpret`:

* exit 2                      -> BLOCK, stderr is the reason (nothing in the JSON overrides it)
* stdout JSON (first non-blank char ``{``, read on every exit code as DOCS-HEAD does):
  ``continue: false``         -> BLOCK with ``stopReason`` (beats any decision)
  ``permissionDecision: deny``-> BLOCK with ``permissionDecisionReason``
  ``permissionDecision: ask`` -> BLOCK + needs_approval (a bot has nobody to prompt)
  ``decision: block``         -> BLOCK with ``reason`` (the July-2025 form and Stop/PostToolUse)
  ``additionalContext``       -> handed to the handler
* exit 0 otherwise            -> PASS (plain stdout is context for UserPromptSubmit/SessionStart)
* any other exit (1, 127, …)  -> ERROR: recorded, never blocks (Claude Code's "hook error")
* timeout                     -> TIMEOUT: process group killed, never blocks (fails open)

Matching hooks of one stage run concurrently; identical commands run once; outcomes come
back in configuration order, so a stage's verdict and its list of blockers are stable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import shlex
import signal
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bot.domain import HookResult, Verdict

# The issue fixes 60 s (the docs' default until CL 2.1.3; Claude Code now uses 600 s).
DEFAULT_TIMEOUT_S = 60.0
# Claude Code replaces longer output by a preview (DOCS-HEAD); a comment cannot hold more.
MAX_OUTPUT_CHARS = 10_000
MAX_NAME_CHARS = 60
SETTINGS_FILES = ("settings.json", "settings.local.json")
# Deliberately short: the App's own environment holds its private key and webhook secret.
DEFAULT_ENV_ALLOW: frozenset[str] = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"})
# How long to wait for a killed group's pipes to close before giving up on its output.
_KILL_GRACE_S = 2.0

KNOWN_EVENTS: frozenset[str] = frozenset(
    {
        "PreToolUse", "PostToolUse", "Notification", "Stop", "SubagentStop", "PreCompact",
        "UserPromptSubmit", "SessionStart", "SessionEnd", "SubagentStart", "PermissionRequest",
        "PostToolUseFailure", "Setup", "TeammateIdle", "TaskCompleted", "ConfigChange",
        "WorktreeCreate", "WorktreeRemove", "InstructionsLoaded", "PostCompact", "Elicitation",
        "ElicitationResult", "StopFailure", "CwdChanged", "FileChanged", "TaskCreated",
        "PermissionDenied", "UserPromptExpansion", "PostToolBatch", "MessageDisplay",
        "DirectoryAdded",
        # The bot's own moments (docs/hooks.md); their matchers test the command id.
        "PreCommand", "PostCommand", "StateUpdated",
    }
)  # fmt: skip
# Events whose plain stdout on exit 0 becomes context (docs §3.5).
_PLAIN_STDOUT_CONTEXT_EVENTS = frozenset(
    {"UserPromptSubmit", "SessionStart", "UserPromptExpansion"}
)
_EXACT_MATCHER = re.compile(r"[A-Za-z0-9_\- ,|]+")


@dataclass(frozen=True)
class CommandHook:
    command: str
    timeout_s: float
    source: str
    # Exec form (CL 2.1.139): with args the command is an executable run without a shell.
    args: tuple[str, ...] = ()
    # Declared deterministic (the bot's settings key, below): reuse answers this long.
    cache_seconds: float | None = None


@dataclass(frozen=True)
class HookGroup:
    event: str
    matcher: str | None
    hooks: tuple[CommandHook, ...]


@dataclass(frozen=True)
class HookConfig:
    groups: tuple[HookGroup, ...] = ()
    warnings: tuple[str, ...] = ()

    def matching(self, event: str, subject: str | None) -> tuple[CommandHook, ...]:
        """The hooks to run for `event` on `subject` (a tool name, …), deduplicated, in order.

        `subject=None` is for events without matcher support: their matchers are ignored,
        as Claude Code does, except that an invalid regex never matches.
        """
        found = (
            hook
            for group in self.groups
            if group.event == event and matcher_matches(group.matcher, subject)
            for hook in group.hooks
        )
        return dedupe(found)


@dataclass(frozen=True)
class HookOutcome:
    result: HookResult
    additional_context: str = ""
    needs_approval: bool = False


# --- matchers ----------------------------------------------------------------------------


class _Invalid:
    """Marks a matcher whose regex did not compile: the group never matches."""


_INVALID = _Invalid()


@functools.lru_cache(maxsize=256)
def _compile_matcher(matcher: str) -> frozenset[str] | re.Pattern[str] | _Invalid | None:
    """None = match all; a set = exact names; a pattern = unanchored regex."""
    if matcher in ("", "*"):
        return None
    if _EXACT_MATCHER.fullmatch(matcher):
        names = frozenset(n.strip() for n in re.split(r"[|,]", matcher) if n.strip())
        return names or None
    try:
        return re.compile(matcher)
    except re.error:
        return _INVALID


def matcher_is_valid(matcher: str) -> bool:
    return not isinstance(_compile_matcher(matcher), _Invalid)


def matcher_matches(matcher: str | None, subject: str | None) -> bool:
    if matcher is None:
        return True
    rule = _compile_matcher(matcher)
    if isinstance(rule, _Invalid):
        return False
    if rule is None or subject is None:
        return True
    if isinstance(rule, frozenset):
        return subject in rule
    return rule.search(subject) is not None


def dedupe(hooks: Iterable[CommandHook]) -> tuple[CommandHook, ...]:
    """Identical commands run once (first wins), as Claude Code does across settings files."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    unique: list[CommandHook] = []
    for hook in hooks:
        key = (hook.command, hook.args)
        if key not in seen:
            seen.add(key)
            unique.append(hook)
    return tuple(unique)


# --- loading -----------------------------------------------------------------------------


def load_hook_config(claude_dir: Path) -> HookConfig:
    """settings.json then settings.local.json, merged; a missing file is simply empty."""
    groups: list[HookGroup] = []
    warnings: list[str] = []
    for name in SETTINGS_FILES:
        path = claude_dir / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as error:
            warnings.append(f"{name}: cannot be read ({error}); its hooks are ignored")
            continue
        try:
            settings = json.loads(text)
        except json.JSONDecodeError as error:
            warnings.append(f"{name}: invalid JSON ({error}); its hooks are ignored")
            continue
        parse_settings(settings, name, groups, warnings)
    return HookConfig(tuple(groups), tuple(warnings))


BOT_SETTINGS_KEY = "issueQueueBot"


def parse_settings(
    settings: object, source: str, groups: list[HookGroup], warnings: list[str]
) -> None:
    """Append the groups of one settings document; problems go to `warnings`."""
    if not isinstance(settings, dict):
        warnings.append(f"{source}: the settings root is not an object; ignored")
        return
    start = len(groups)
    _parse_hooks(settings, source, groups, warnings)
    cache = _parse_cache_seconds(settings.get(BOT_SETTINGS_KEY), source, warnings)
    if cache:
        groups[start:] = [
            replace(group, hooks=tuple(_with_cache(hook, cache) for hook in group.hooks))
            for group in groups[start:]
        ]


def _with_cache(hook: CommandHook, cache: Mapping[str, float]) -> CommandHook:
    seconds = cache.get(hook.command)
    return hook if seconds is None else replace(hook, cache_seconds=seconds)


def _parse_cache_seconds(
    bot_settings: object, source: str, warnings: list[str]
) -> dict[str, float]:
    if bot_settings is None:
        return {}
    where = f"{source}: {BOT_SETTINGS_KEY}.cacheSeconds"
    table = bot_settings.get("cacheSeconds") if isinstance(bot_settings, dict) else None
    if not isinstance(table, dict):
        warnings.append(f"{where}: expected {{command: seconds}}; ignored")
        return {}
    cache: dict[str, float] = {}
    for command, seconds in table.items():
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            warnings.append(f"{where}: {command!r} needs a positive number of seconds; ignored")
            continue
        cache[command] = float(seconds)
    return cache


def _parse_hooks(
    settings: dict[str, object], source: str, groups: list[HookGroup], warnings: list[str]
) -> None:
    hooks = settings.get("hooks")
    if hooks is None:
        return
    if not isinstance(hooks, dict):
        warnings.append(f"{source}: `hooks` is not an object; ignored")
        return
    for event, entries in hooks.items():
        where = f"{source}: hooks.{event}"
        if event not in KNOWN_EVENTS:
            warnings.append(f"{where}: unknown event; ignored")
            continue
        if not isinstance(entries, list):
            warnings.append(f"{where}: expected a list of matcher groups; ignored")
            continue
        for index, entry in enumerate(entries):
            group = _parse_group(event, entry, f"{where}[{index}]", source, warnings)
            if group is not None:
                groups.append(group)


def _parse_group(
    event: str, entry: object, where: str, source: str, warnings: list[str]
) -> HookGroup | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("hooks"), list):
        warnings.append(f"{where}: expected {{matcher?, hooks: [...]}}; ignored")
        return None
    matcher = entry.get("matcher")
    if matcher is not None and not isinstance(matcher, str):
        warnings.append(f"{where}: matcher is not a string; group ignored")
        return None
    if matcher is not None and not matcher_is_valid(matcher):
        # Kept (so the configuration reads as written) but it never matches.
        warnings.append(f"{where}: matcher {matcher!r} is not a valid regex; it never matches")
    handlers: list[CommandHook] = []
    for index, raw in enumerate(entry["hooks"]):
        hook = _parse_handler(raw, f"{where}.hooks[{index}]", source, warnings)
        if hook is not None:
            handlers.append(hook)
    return HookGroup(event, matcher, tuple(handlers))


def _parse_handler(raw: object, where: str, source: str, warnings: list[str]) -> CommandHook | None:
    if not isinstance(raw, dict):
        warnings.append(f"{where}: not an object; ignored")
        return None
    kind = raw.get("type", "command")
    if kind != "command":
        warnings.append(f"{where}: type {kind!r} is not supported (only command); skipped")
        return None
    command = raw.get("command")
    if not isinstance(command, str) or not command.strip():
        warnings.append(f"{where}: `command` missing or empty; skipped")
        return None
    if raw.get("shell", "bash") != "bash":
        warnings.append(f"{where}: shell {raw.get('shell')!r} is not supported; skipped")
        return None
    if raw.get("async") or raw.get("asyncRewake"):
        # A background hook cannot block; running it inline would change its meaning.
        warnings.append(f"{where}: async hooks are not supported; skipped")
        return None
    if "if" in raw:
        # Not emulated: running the hook more often is safer than silently never running it.
        warnings.append(f"{where}: the `if` filter is not evaluated; the hook runs on every match")
    args = raw.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        warnings.append(f"{where}: `args` must be a list of strings; skipped")
        return None
    return CommandHook(
        command, _parse_timeout(raw.get("timeout"), where, warnings), source, tuple(args)
    )


def _parse_timeout(value: object, where: str, warnings: list[str]) -> float:
    if value is None:
        return DEFAULT_TIMEOUT_S
    # bool is an int in Python; `"timeout": true` is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        warnings.append(f"{where}: timeout {value!r} is not a positive number; using 60 s")
        return DEFAULT_TIMEOUT_S
    return float(value)


# --- interpreting a finished hook ---------------------------------------------------------


def interpret(
    event: str, exit_code: int, stdout: str, stderr: str
) -> tuple[Verdict, str, str, bool]:
    """Pure: (verdict, reason, additional_context, needs_approval) for one finished hook."""
    output = _json_output(stdout)
    specific = output.get("hookSpecificOutput")
    specific = specific if isinstance(specific, dict) else {}
    context = _text(specific.get("additionalContext"))
    if not output and exit_code == 0 and event in _PLAIN_STDOUT_CONTEXT_EVENTS:
        context = stdout.strip()
    decided = _json_decision(output, specific)
    if exit_code == 2:
        # Exit 2 blocks whatever the JSON says; the JSON only fills in a missing reason.
        reason = stderr.strip() or (decided[1] if decided else "") or "hook exited with code 2"
        return Verdict.BLOCK, _cut(reason), _cut(context), bool(decided and decided[2])
    if decided is not None:
        verdict, reason, needs_approval = decided
        return verdict, _cut(reason), _cut(context), needs_approval
    if exit_code == 0:
        return Verdict.PASS, "", _cut(context), False
    return Verdict.ERROR, _cut(_error_reason(exit_code, stderr)), _cut(context), False


def _json_output(stdout: str) -> dict[str, object]:
    """stdout counts as JSON only when its first non-blank character is `{` (DOCS-HEAD)."""
    if not stdout.lstrip().startswith("{"):
        return {}
    try:
        value = json.loads(stdout)
    except json.JSONDecodeError:
        return {}  # invalid JSON is plain text
    return value if isinstance(value, dict) else {}


def _json_decision(
    output: Mapping[str, object], specific: Mapping[str, object]
) -> tuple[Verdict, str, bool] | None:
    """A blocking decision in the JSON, strongest first; None when the JSON blocks nothing."""
    if output.get("continue") is False:
        return Verdict.BLOCK, _text(output.get("stopReason")) or "hook stopped the run", False
    permission = specific.get("permissionDecision")
    permission_reason = _text(specific.get("permissionDecisionReason"))
    if permission == "deny":
        return Verdict.BLOCK, permission_reason or "denied by hook", False
    if permission in ("ask", "defer"):
        # Nobody can answer a prompt inside a bot: block and ask for approval in the comment.
        return Verdict.BLOCK, permission_reason or "hook asks for approval", True
    request = specific.get("decision")  # PermissionRequest's form
    if isinstance(request, dict) and request.get("behavior") == "deny":
        return Verdict.BLOCK, _text(request.get("message")) or "denied by hook", False
    if output.get("decision") == "block":
        return Verdict.BLOCK, _text(output.get("reason")) or "blocked by hook", False
    return None


def _error_reason(exit_code: int, stderr: str) -> str:
    detail = stderr.strip()
    if exit_code < 0:
        head = f"killed by signal {-exit_code}"
    elif exit_code == 127:
        head = "exit 127 (command not found)"
    else:
        head = f"exit {exit_code}"
    return f"{head}: {detail}" if detail else head


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _cut(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return text[:MAX_OUTPUT_CHARS] + "… [truncated]"


# --- running a stage ----------------------------------------------------------------------


async def run_stage(
    hooks: Sequence[CommandHook],
    event: str,
    payload: Mapping[str, object],
    *,
    project_dir: Path,
    env_allow: Collection[str] = DEFAULT_ENV_ALLOW,
) -> tuple[HookOutcome, ...]:
    """Run the hooks concurrently; one outcome per distinct command, in the hooks' order."""
    unique = dedupe(hooks)
    if not unique:
        return ()
    body = dict(payload)
    body.setdefault("hook_event_name", event)
    # default=str: a payload value JSON cannot carry must not stop the stage.
    stdin = json.dumps(body, default=str).encode()
    env = hook_environment(os.environ, env_allow, project_dir)
    runs = (_run_one(hook, event, stdin, env, project_dir) for hook in unique)
    return tuple(await asyncio.gather(*runs))


def hook_environment(
    parent: Mapping[str, str], allow: Collection[str], project_dir: Path
) -> dict[str, str]:
    """Only allow-listed names pass, so no App secret reaches a hook."""
    env = {name: parent[name] for name in allow if name in parent}
    env["CLAUDE_PROJECT_DIR"] = str(project_dir.resolve())
    return env


def display_name(hook: CommandHook) -> str:
    """`"$CLAUDE_PROJECT_DIR"/.claude/hooks/check.sh --x` -> `check.sh --x`, ≤ 60 chars."""
    try:
        words = shlex.split(hook.command)
    except ValueError:
        words = hook.command.split()
    words = [os.path.basename(w) if "/" in w.rstrip("/") else w for w in words + list(hook.args)]
    name = " ".join(words) or hook.command.strip()
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


async def _run_one(
    hook: CommandHook, event: str, stdin: bytes, env: Mapping[str, str], cwd: Path
) -> HookOutcome:
    name = display_name(hook)
    argv = [hook.command, *hook.args] if hook.args else ["bash", "-c", hook.command]
    started = time.monotonic()
    try:
        # A new session makes the hook a process-group leader, so one killpg reaches
        # everything it spawned; close_fds (the default) keeps the App's sockets out.
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as error:  # exec form with a missing executable, a bad cwd, …
        return _outcome(name, Verdict.ERROR, f"could not start: {error}", started)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), hook.timeout_s)
    except TimeoutError:
        await _kill_and_reap(proc)
        # Output of a timed-out hook is discarded and it does not block (fails open).
        return _outcome(name, Verdict.TIMEOUT, f"timed out after {hook.timeout_s:g} s", started)
    except BaseException:
        # Cancelled with the run: take the hook's processes down with it.
        _kill_group(proc.pid)
        raise
    # Background children left behind by a finished hook would outlive the run.
    _kill_group(proc.pid)
    assert proc.returncode is not None  # communicate() waited for the exit
    verdict, reason, context, approval = interpret(
        event,
        proc.returncode,
        out.decode("utf-8", errors="replace"),
        err.decode("utf-8", errors="replace"),
    )
    return HookOutcome(_result(name, verdict, reason, started), context, approval)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _kill_and_reap(proc: asyncio.subprocess.Process) -> None:
    _kill_group(proc.pid)
    try:
        # Drain the pipes and reap the leader; the group is dead, so EOF comes at once.
        await asyncio.wait_for(proc.communicate(), _KILL_GRACE_S)
    except TimeoutError:
        # A descendant left the group (setsid) and holds the pipes: reap our child anyway.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _result(name: str, verdict: Verdict, reason: str, started: float) -> HookResult:
    return HookResult(name, verdict, reason, (time.monotonic() - started) * 1000)


def _outcome(name: str, verdict: Verdict, reason: str, started: float) -> HookOutcome:
    return HookOutcome(_result(name, verdict, reason, started))
