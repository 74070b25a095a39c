"""The post-command stages, in-process hooks, the rate limit, the concurrency guard and
cached hook answers, end to end: the real bot, real hook scripts, the GitHub emulator."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from bot.commands.context import CommandContext, Outcome
from bot.commands.handlers import HANDLERS
from bot.domain import RunStatus
from bot.pipeline.registry import HookInput, HookRegistry, HookReply, Stage
from bot.sandbox import MAINTAINER, REPO
from bot.testing import KeyPair
from tests.conftest import PROJECT, Harness, running
from tests.e2e.projects import write_project
from tests.e2e.test_commands import bot_comments

# Writes what the hook was told to a file named after the event, one JSON per line.
RECORD = (
    "import json, os, pathlib, sys\n"
    "event = json.load(sys.stdin)\n"
    "path = pathlib.Path(os.environ['CLAUDE_PROJECT_DIR'], event['hook_event_name'] + '.jsonl')\n"
    "with path.open('a') as out: out.write(json.dumps(event) + '\\n')\n"
)
WITHHOLD = (
    "import json, sys\n"
    "event = json.load(sys.stdin)\n"
    "if 'secret' in event['result']['summary']:\n"
    "    print(json.dumps({'decision': 'block', 'reason': 'the result names a secret'}))\n"
)


async def echo(ctx: CommandContext) -> Outcome:
    text = ctx.params["text"]
    return Outcome(
        markdown=f"echo: {text}\n\ncontext: {ctx.additional_context}",
        keep=lambda kept: {"last": text},
    )


def project_with(tmp_path: Path, settings: dict[str, object], echo_fields: str = "") -> Path:
    scripts = {"record.py": RECORD, "withhold.py": WITHHOLD}
    return write_project(tmp_path, settings, scripts, echo_fields=echo_fields)


def hook(name: str) -> dict[str, object]:
    return {"type": "command", "command": f'python3 "$CLAUDE_PROJECT_DIR"/.claude/hooks/{name}'}


def recorded(claude: Path, event: str) -> list[dict[str, object]]:
    path = claude.parent / f"{event}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def status_of(harness: Harness, issue: int) -> str:
    comments = bot_comments(harness.emulator.issue_view(REPO, issue))
    return comments[-1]


async def test_post_command_and_state_updated_hooks_see_the_result(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    settings = {
        "hooks": {
            "PostCommand": [{"matcher": "echo", "hooks": [hook("record.py")]}],
            "StateUpdated": [{"hooks": [hook("record.py")]}],
        }
    }
    claude = project_with(tmp_path, settings)
    handlers = {**HANDLERS, "echo": echo}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        await h.comment(MAINTAINER, "/echo hello", issue=1)
        (run,) = (await h.state()).runs
        status = await status_of(h, 1)

    (post,) = recorded(claude, "PostCommand")
    assert post["session_id"] == run.run_id
    assert post["result"] == {"status": "succeeded", "summary": "echo: hello\n\ncontext: "}
    assert post["parameters"] == {"text": "hello"}
    (after,) = recorded(claude, "StateUpdated")
    assert after["session_id"] == run.run_id
    assert after["result"]["status"] == "succeeded"  # type: ignore[index]
    assert isinstance(after["state_version"], str)
    assert after["state_version"]
    # The saved record holds PostCommand; StateUpdated ran after it, so only the comment
    # (edited last) shows both.
    assert [hook.name for hook in run.hooks][-1] == "python3 record.py"
    assert "✅ `/echo hello` succeeded" in status
    assert status.count("| `python3 record.py` | pass |") == 2


async def test_a_post_command_block_withholds_the_result(tmp_path: Path, app_keys: KeyPair) -> None:
    settings = {"hooks": {"PostCommand": [{"hooks": [hook("withhold.py")]}]}}
    claude = project_with(tmp_path, settings)
    handlers = {**HANDLERS, "echo": echo}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        await h.comment(MAINTAINER, "/echo secret", issue=1)
        await h.comment(MAINTAINER, "/echo public", issue=2)
        blocked = await status_of(h, 1)
        passed = await status_of(h, 2)
        state = await h.state()

    assert "⛔ `/echo secret` was blocked" in blocked
    assert "Blocked by hook `python3 withhold.py`: the result names a secret" in blocked
    assert "its result is withheld" in blocked
    assert "echo: secret" not in blocked
    assert "✅ `/echo public` succeeded" in passed
    assert [r.status for r in state.runs] == [RunStatus.BLOCKED, RunStatus.SUCCEEDED]
    # Only the run that was not withheld kept its data.
    assert state.command_data[f"echo@{REPO}"] == {"last": "public"}


async def test_in_process_hooks_block_and_add_context(tmp_path: Path, app_keys: KeyPair) -> None:
    registry = HookRegistry()
    seen: list[tuple[Stage, str]] = []

    @registry.hook(Stage.PRE_COMMAND, matcher="echo")
    async def no_shouting(hook: HookInput) -> HookReply:
        seen.append((hook.stage, hook.run_id))
        if str(hook.params["text"]).isupper():
            return HookReply.block("please do not shout; write it in lower case")
        return HookReply(additional_context="be kind")

    @registry.hook(Stage.PRE_COMMAND, matcher="generate-report")
    async def never_for_echo(hook: HookInput) -> HookReply:
        raise AssertionError("the matcher selects generate-report only")

    claude = project_with(tmp_path, {})
    handlers = {**HANDLERS, "echo": echo}
    async with running(
        tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers, hooks=registry
    ) as h:
        await h.comment(MAINTAINER, "/echo HELLO", issue=1)
        await h.comment(MAINTAINER, "/echo hello", issue=2)
        shouted = await status_of(h, 1)
        kind = await status_of(h, 2)
        runs = (await h.state()).runs

    assert "Blocked by hook `no_shouting`: please do not shout" in shouted
    assert "context: be kind" in kind
    assert seen == [(Stage.PRE_COMMAND, runs[0].run_id), (Stage.PRE_COMMAND, runs[1].run_id)]


async def test_the_rate_limit_is_per_user_and_command(tmp_path: Path, app_keys: KeyPair) -> None:
    claude = project_with(tmp_path, {}, echo_fields="rate-limit: 1/hour\n")
    handlers = {**HANDLERS, "echo": echo}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        await h.comment(MAINTAINER, "/echo one", issue=1)
        await h.comment(MAINTAINER, "/echo two", issue=2)
        await h.comment("triager", "/echo three", issue=3)
        await h.comment(MAINTAINER, "/generate-report", issue=4)
        statuses = [await status_of(h, n) for n in (1, 2, 3, 4)]

    first, limited, other_user, other_command = statuses
    assert "✅" in first
    assert "⛔ `/echo two` was blocked" in limited
    assert f"@{MAINTAINER} has run `/echo` as often as allowed (1/hour per user)" in limited
    assert "Try again in 60 min." in limited
    assert "| `rate-limit` | block |" in limited
    assert "✅" in other_user
    assert "✅" in other_command  # the default limit (RATE_LIMIT) applies to it


async def test_the_default_rate_limit_comes_from_the_settings(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async with running(tmp_path / "data", app_keys, rate_limit="1/day") as h:
        await h.comment(MAINTAINER, "/help", issue=1)
        await h.comment(MAINTAINER, "/help", issue=2)
        assert "✅" in await status_of(h, 1)
        assert "(1/day per user)" in await status_of(h, 2)


async def test_the_concurrency_guard_runs_one_at_a_time_per_issue(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    started, release, refused = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow(ctx: CommandContext) -> Outcome:
        started.set()
        await release.wait()
        return Outcome(markdown="done")

    registry = HookRegistry()

    @registry.hook(Stage.STATE_UPDATED)
    async def note_refusals(hook: HookInput) -> HookReply:
        if hook.status is RunStatus.BLOCKED:
            refused.set()
        return HookReply()

    claude = project_with(tmp_path, {})
    # Not ordered: without the guard, a second run on the issue would start beside it.
    (claude / "commands" / "slow.md").write_text(
        "---\nhandler: slow\npermission: read\nconcurrency: issue\nordered: false\n---\nSlow.\n"
    )
    handlers = {**HANDLERS, "slow": slow}
    async with running(
        tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers, hooks=registry
    ) as h:
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")
        await asyncio.wait_for(started.wait(), 10)
        await h.emulator.comment(REPO, 1, MAINTAINER, "/slow")  # same issue: refused
        await h.emulator.comment(REPO, 2, MAINTAINER, "/slow")  # another issue: runs
        await asyncio.wait_for(refused.wait(), 10)
        release.set()
        await h.settle()
        first_run, blocked = bot_comments(h.emulator.issue_view(REPO, 1))
        elsewhere = await status_of(h, 2)
        runs = (await h.state()).runs
        # The slot is free again once the run has ended.
        await h.comment(MAINTAINER, "/slow", issue=1)
        again = await status_of(h, 1)

    holder = next(r for r in runs if r.issue == 1 and r.status is RunStatus.SUCCEEDED)
    assert "✅" in first_run
    assert f"`/slow` is already running on this issue (run `{holder.run_id}`)" in blocked
    assert "| `concurrency` | block |" in blocked
    assert "✅" in elsewhere
    assert "✅" in again


async def test_a_deterministic_hook_answer_is_reused(tmp_path: Path, app_keys: KeyPair) -> None:
    command = 'python3 "$CLAUDE_PROJECT_DIR"/.claude/hooks/record.py'
    settings = {
        "hooks": {"PreCommand": [{"hooks": [hook("record.py")]}]},
        "issueQueueBot": {"cacheSeconds": {command: 300}},
    }
    claude = project_with(tmp_path, settings)
    handlers = {**HANDLERS, "echo": echo}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        await h.comment(MAINTAINER, "/echo same", issue=1)
        await h.comment(MAINTAINER, "/echo same", issue=1)
        await h.comment(MAINTAINER, "/echo other", issue=1)
        first, second, third = bot_comments(h.emulator.issue_view(REPO, 1))

    assert len(recorded(claude, "PreCommand")) == 2  # "same" once, "other" once
    assert "| `python3 record.py` | pass | cached |" not in first
    assert "| `python3 record.py` | pass | cached |" in second
    assert "| `python3 record.py` | pass | cached |" not in third


async def test_a_failing_command_is_paused_then_probed_back(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    calls: list[str] = []
    healthy = False

    async def flaky(ctx: CommandContext) -> Outcome:
        calls.append(ctx.request.delivery_id)
        if not healthy:
            raise RuntimeError("the service behind it is down")
        return Outcome(markdown="fine")

    claude = project_with(tmp_path, {})
    (claude / "commands" / "flaky.md").write_text(
        "---\nhandler: flaky\npermission: read\nbreaker-threshold: 2\n"
        "breaker-cooldown: 0.3\n---\nFlaky.\n"
    )
    handlers = {**HANDLERS, "flaky": flaky}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        for issue in (1, 2):
            await h.comment(MAINTAINER, "/flaky", issue=issue)
            assert "❌ `/flaky` failed" in await status_of(h, issue)
        await h.comment(MAINTAINER, "/flaky", issue=3)
        paused = await status_of(h, 3)
        assert len(calls) == 2  # the paused run never reached the handler
        await asyncio.sleep(0.35)  # the cool-down passes
        healthy = True
        await h.comment(MAINTAINER, "/flaky", issue=4)  # the probe
        await h.comment(MAINTAINER, "/flaky", issue=5)
        probe, after = await status_of(h, 4), await status_of(h, 5)

    assert "⛔ `/flaky` was blocked" in paused
    assert "`/flaky` is paused: it failed too many times in a row" in paused
    assert "| `breaker` | block |" in paused
    assert "✅" in probe
    assert "✅" in after
    assert len(calls) == 4


async def test_status_lists_the_runs_here_and_the_paused_commands(
    tmp_path: Path, app_keys: KeyPair
) -> None:
    async def broken(ctx: CommandContext) -> Outcome:
        raise RuntimeError("down")

    claude = project_with(tmp_path, {})
    shutil.copy(PROJECT / ".claude" / "commands" / "status.md", claude / "commands")
    (claude / "commands" / "broken.md").write_text(
        "---\nhandler: broken\npermission: read\nbreaker-threshold: 1\n---\nBroken.\n"
    )
    handlers = {**HANDLERS, "broken": broken}
    async with running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h:
        await h.comment(MAINTAINER, "/broken", issue=1)
        await h.comment(MAINTAINER, "/status", issue=1)
        await h.comment(MAINTAINER, "/status", issue=2)
        here, elsewhere = await status_of(h, 1), await status_of(h, 2)
        (broken_run, *_) = (await h.state()).runs

    assert "Runs on #1, latest first (1 of 1):" in here
    assert f"| `{broken_run.run_id}` | `/broken` | failed |" in here
    assert "- `/broken`: failed 1 time in a row; tried again in" in here
    assert "No run of the bot is recorded on #2 yet." in elsewhere
