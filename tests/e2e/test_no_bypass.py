"""Invariant 1: nothing reaches a handler without passing the hooks.

Every entry point (every `Source`) is driven here against the real bot and emulator, and
each must run every hook stage, in order, before and after its handler; a blocking hook must
stop each one before the handler. A new entry adds its `Source` member, and this test fails
until it adds its driver below.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.commands.context import BypassError, CommandContext, Outcome, pipeline_seal
from bot.commands.handlers import HANDLERS
from bot.domain import RunStatus, Source
from bot.pipeline.registry import HookInput, HookRegistry, HookReply, Stage
from bot.sandbox import MAINTAINER, REPO
from bot.testing import KeyPair
from tests.conftest import PROJECT, Harness, running
from tests.e2e.projects import api_token, signed_headers

BOT_PACKAGE = PROJECT / "bot"
TRIGGER_LABEL = "echo:requested"


SECRET_ENV = "NO_BYPASS_WEBHOOK_SECRET"
SECRET = "external-secret"
WEBHOOKS_YML = f"""
sources:
  ci:
    secret_env: {SECRET_ENV}
    event_field: type
    permission: write
    events:
      echo.requested:
        command: echo
        repository: $.repo
        issue: $.issue
        params: {{text: $.text}}
"""


@pytest.fixture(autouse=True)
def external_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


async def by_comment(harness: Harness, token: str) -> None:
    await harness.comment(MAINTAINER, "/echo hi", issue=1)


async def by_label(harness: Harness, token: str) -> None:
    await harness.emulator.label_issue(REPO, 1, TRIGGER_LABEL, MAINTAINER)
    await harness.settle()


async def by_api(harness: Harness, token: str) -> None:
    body = {"params": {"text": "hi"}, "context": {"repository": REPO, "issue": 1}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{harness.bot_url}/api/commands/echo",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status in (200, 403), await response.text()
    await harness.settle()


async def by_external(harness: Harness, token: str) -> None:
    body = json.dumps({"type": "echo.requested", "repo": REPO, "issue": 1, "text": "hi"}).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{harness.bot_url}/webhooks/ci", data=body, headers=signed_headers(SECRET, body)
        ) as response,
    ):
        assert response.status == 202, await response.text()
    await harness.settle()


async def by_reconcile(harness: Harness, token: str) -> None:
    await harness.stop_bot()
    await harness.emulator.label_issue(REPO, 1, TRIGGER_LABEL, MAINTAINER)
    # Past GitHub's redelivery window: only the label on the issue is left to find.
    harness.emulator.backdate_deliveries(timedelta(days=4))
    await harness.start_bot()
    await harness.bot.reconciler.run_once()
    await harness.settle()


async def by_retry(harness: Harness, token: str) -> None:
    await harness.comment(MAINTAINER, "/echo hi", issue=1)
    (first,) = (await harness.state()).runs
    await harness.comment(MAINTAINER, f"/retry {first.run_id}", issue=1)


# Each drives one entry; `token` is a REST API token the bot knows.
ENTRIES: dict[Source, Callable[[Harness, str], Awaitable[None]]] = {
    Source.COMMENT: by_comment,
    Source.LABEL: by_label,
    Source.API: by_api,
    Source.EXTERNAL: by_external,
    Source.RECONCILE: by_reconcile,
    Source.RETRY: by_retry,
}


def test_every_entry_point_is_driven_here() -> None:
    assert set(ENTRIES) == set(Source)


def claude_dir(tmp_path: Path, pre_command_exit: int) -> Path:
    project = tmp_path / "project"
    commands = project / ".claude" / "commands"
    commands.mkdir(parents=True)
    (commands / "echo.md").write_text(
        "---\nhandler: echo\npermission: read\nparameters:\n  text: string\n"
        f"trigger-labels: [{TRIGGER_LABEL}]\n---\nEcho.\n"
    )
    shutil.copy(PROJECT / ".claude" / "commands" / "retry.md", commands)
    script = project / "seen.sh"
    script.write_text(
        '#!/bin/bash\nseen="$CLAUDE_PROJECT_DIR/seen.jsonl"\n'
        f'cat >> "$seen"\necho >> "$seen"\nexit {pre_command_exit}\n'
    )
    settings = {
        "hooks": {
            "PreCommand": [
                {
                    # Only /echo: /retry itself must get through to ask for its run.
                    "matcher": "echo",
                    "hooks": [{"type": "command", "command": 'bash "$CLAUDE_PROJECT_DIR"/seen.sh'}],
                }
            ]
        }
    }
    (project / ".claude" / "settings.json").write_text(json.dumps(settings))
    (project / ".claude" / "webhooks.yml").write_text(WEBHOOKS_YML)
    return project / ".claude"


def recording_hooks(seen: list[tuple[Stage, str, Source]]) -> HookRegistry:
    registry = HookRegistry()
    for stage in Stage:

        async def record(hook: HookInput) -> HookReply:
            seen.append((hook.stage, hook.run_id, hook.request.source))
            return HookReply()

        registry.hook(stage, name=f"record-{stage.value}")(record)
    return registry


@pytest.mark.parametrize("source", list(Source))
async def test_every_entry_runs_every_stage(
    source: Source, tmp_path: Path, app_keys: KeyPair
) -> None:
    seen: list[tuple[Stage, str, Source]] = []
    calls: list[str] = []

    async def echo(ctx: CommandContext) -> Outcome:
        calls.append(ctx.request.delivery_id)
        return Outcome(markdown="echo")

    claude = claude_dir(tmp_path, pre_command_exit=0)
    token = api_token(tmp_path / "data" / "api-tokens.json")
    async with running(
        tmp_path / "data",
        app_keys,
        claude_dir=claude,
        handlers={**HANDLERS, "echo": echo},
        hooks=recording_hooks(seen),
    ) as harness:
        await ENTRIES[source](harness, token)
        (run,) = [r for r in (await harness.state()).runs if r.source is source]

    assert run.status is RunStatus.SUCCEEDED
    assert calls.count(run.delivery_id) == 1
    assert [s for s in seen if s[1] == run.run_id] == [
        (stage, run.run_id, source) for stage in Stage
    ]
    (told,) = [
        event
        for line in (claude.parent / "seen.jsonl").read_text().splitlines()
        if line and (event := json.loads(line))["session_id"] == run.run_id
    ]
    assert told["source"] == str(source)


@pytest.mark.parametrize("source", list(Source))
async def test_a_blocking_hook_stops_every_entry_before_its_handler(
    source: Source, tmp_path: Path, app_keys: KeyPair
) -> None:
    calls: list[str] = []

    async def echo(ctx: CommandContext) -> Outcome:
        calls.append(ctx.request.delivery_id)
        return Outcome(markdown="echo")

    claude = claude_dir(tmp_path, pre_command_exit=2)
    token = api_token(tmp_path / "data" / "api-tokens.json")
    async with running(
        tmp_path / "data", app_keys, claude_dir=claude, handlers={**HANDLERS, "echo": echo}
    ) as harness:
        await ENTRIES[source](harness, token)
        (run,) = [r for r in (await harness.state()).runs if r.source is source]

    assert run.status is RunStatus.BLOCKED
    assert calls == []


def test_only_the_pipeline_builds_a_context() -> None:
    with pytest.raises(BypassError, match="only by the pipeline"):
        CommandContext(**_context_fields())
    with pytest.raises(BypassError):
        CommandContext(**_context_fields(), seal=object())


def test_the_seal_is_issued_once_and_the_pipeline_has_it() -> None:
    with pytest.raises(BypassError, match="already issued"):
        pipeline_seal()


def test_no_other_module_asks_for_the_seal_or_builds_a_context() -> None:
    sources = {
        path.relative_to(PROJECT).as_posix(): path.read_text() for path in BOT_PACKAGE.rglob("*.py")
    }
    asking = {name for name, text in sources.items() if re.search(r"\bpipeline_seal\(", text)}
    building = {name for name, text in sources.items() if re.search(r"\bCommandContext\(", text)}
    assert asking == {"bot/commands/context.py", "bot/pipeline/runner.py"}
    assert building == {"bot/pipeline/runner.py"}


def _context_fields() -> dict[str, object]:
    return {
        "request": None,
        "spec": None,
        "params": {},
        "github": None,
        "catalogue": None,
        "actor_permission": None,
        "now": None,
        "saved": None,
        "past_runs": (),
    }
