"""The REST command API end to end: the real bot, the GitHub emulator, real HTTP. Every
answer is checked against the OpenAPI document (tests/e2e/api_client.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.commands.context import CommandContext, Outcome
from bot.commands.handlers import HANDLERS
from bot.domain import RunStatus, Source
from bot.sandbox import INSTALLATION_ID, MAINTAINER, REPO
from bot.testing import KeyPair, world
from tests.conftest import Harness, running
from tests.e2e.api_client import Answer, call
from tests.e2e.projects import api_token, write_project
from tests.e2e.test_commands import bot_comments

OTHER_REPO = "demo/other"
BLOCK_FORBIDDEN = (
    "import json, sys\n"
    "if json.load(sys.stdin)['parameters'].get('text') == 'forbidden':\n"
    "    print('forbidden is a forbidden word', file=sys.stderr); sys.exit(2)\n"
)


@dataclass
class Api:
    harness: Harness
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    release: asyncio.Event

    async def run(
        self,
        command: str,
        *,
        token: str = "all",
        params: dict[str, object] | None = None,
        repository: str = REPO,
        issue: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        body = {"params": params or {}, "context": {"repository": repository, "issue": issue}}
        return await call(
            self.session,
            self.harness.bot_url,
            "POST",
            f"/api/commands/{command}",
            token=self.tokens.get(token, token),
            json_body=body,
            headers=headers,
        )

    async def get(self, path: str, token: str = "all") -> Answer:
        return await call(
            self.session, self.harness.bot_url, "GET", path, token=self.tokens.get(token, token)
        )


async def echo(ctx: CommandContext) -> Outcome:
    return Outcome(markdown=f"echo: {ctx.params['text']}")


async def broken(ctx: CommandContext) -> Outcome:
    raise RuntimeError("always broken")


@pytest.fixture
async def api(tmp_path: Path, app_keys: KeyPair) -> AsyncIterator[Api]:
    release = asyncio.Event()

    async def slow(ctx: CommandContext) -> Outcome:
        await release.wait()
        return Outcome(markdown="slow done")

    settings = {
        "hooks": {
            "PreCommand": [
                {
                    "matcher": "echo",
                    "hooks": [
                        {
                            "type": "command",
                            "command": 'python3 "$CLAUDE_PROJECT_DIR"/.claude/hooks/block.py',
                        }
                    ],
                }
            ]
        }
    }
    claude = write_project(tmp_path, settings, {"block.py": BLOCK_FORBIDDEN})
    (claude / "commands" / "slow.md").write_text(
        "---\nhandler: slow\npermission: read\nconcurrency: repository\n---\nSlow.\n"
    )
    (claude / "commands" / "broken.md").write_text(
        "---\nhandler: broken\npermission: read\nbreaker-threshold: 1\n---\nBroken.\n"
    )
    tokens_file = tmp_path / "data" / "api-tokens.json"
    tokens = {
        "all": api_token(tokens_file, "all"),
        "sandbox-echo": api_token(
            tokens_file, "sandbox-echo", commands=["echo"], repositories=[REPO]
        ),
        "limited": api_token(tokens_file, "limited", rate_limit="2/hour"),
        "reader": api_token(tokens_file, "reader", permission="read"),
    }
    handlers = {**HANDLERS, "echo": echo, "slow": slow, "broken": broken}
    async with running(
        tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers, api_wait_seconds=2
    ) as harness:
        harness.emulator.add_repo(INSTALLATION_ID, OTHER_REPO)
        harness.emulator.add_issue(OTHER_REPO, "elsewhere")
        async with aiohttp.ClientSession() as session:
            yield Api(harness, session, tokens, release)
            release.set()
            await harness.settle()


async def test_a_command_runs_and_answers_in_the_seeds_shape(api: Api) -> None:
    answer = await api.run("echo", params={"text": "hello"})

    assert answer.status == 200
    assert answer.body["success"] is True
    assert answer.body["result"]["markdown"] == "echo: hello"
    metadata = answer.body["metadata"]
    assert metadata["hooksRun"] == 7  # 6 built-ins and block.py
    assert metadata["stateVersion"]
    await api.harness.settle()  # the answer came once the record was durable; the edit follows
    (status,) = bot_comments(api.harness.emulator.issue_view(REPO, 1))
    assert metadata["auditId"] == str(api.harness.emulator.issue_view(REPO, 1).comments[-1].id)
    assert "✅ `/echo text=hello` succeeded" in status
    (record,) = (await api.harness.state()).runs
    assert (record.source, record.actor, record.run_id) == (
        Source.API,
        "api:all",
        metadata["runId"],
    )


async def test_a_long_run_answers_202_and_can_be_polled(api: Api) -> None:
    answer = await api.run("slow")
    assert answer.status == 202
    url = answer.body["url"]
    assert answer.headers["Location"] == url
    assert (await api.get(url)).status == 202
    api.release.set()
    await api.harness.settle()
    done = await api.get(url)
    assert done.status == 200
    assert done.body["result"] == {"status": "succeeded", "markdown": "slow done", "error": None}


async def test_the_same_idempotency_key_runs_once(api: Api) -> None:
    headers = {"Idempotency-Key": "build-42"}
    first = await api.run("echo", params={"text": "once"}, headers=headers)
    second = await api.run("echo", params={"text": "once"}, headers=headers)
    assert first.body["metadata"]["runId"] == second.body["metadata"]["runId"]
    assert len((await api.harness.state()).runs) == 1
    assert len(bot_comments(api.harness.emulator.issue_view(REPO, 1))) == 1


async def test_a_hook_blocking_an_api_call_is_named_in_the_answer(api: Api) -> None:
    answer = await api.run("echo", params={"text": "forbidden"})
    assert answer.status == 403
    error = answer.body["error"]
    assert error["code"] == "blocked_by_hook"
    assert error["hooks"] == [
        {"name": "python3 block.py", "reason": "forbidden is a forbidden word"}
    ]
    assert "Blocked by hook `python3 block.py`: forbidden is a forbidden word" in error["message"]
    assert error["metadata"]["runId"]


async def test_errors_have_stable_codes(api: Api) -> None:
    base = api.harness.bot_url + "/api/commands/echo"
    auth = {"Authorization": f"Bearer {api.tokens['all']}"}

    async def raw(data: bytes, headers: dict[str, str]) -> Answer:
        return await call(api.session, api.harness.bot_url, "POST", "/api/commands/echo",
                          data=data, headers=headers)  # fmt: skip

    missing = await call(api.session, api.harness.bot_url, "POST", "/api/commands/echo")
    assert (missing.status, missing.body["error"]["code"]) == (401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await api.run("echo", token="iqb_not-a-token")
    assert wrong.status == 401
    assert (await raw(b"{not json", auth)).body["error"]["code"] == "bad_json"
    assert (await raw(b"[]", auth)).status == 400
    too_big = await raw(b" " * (64 * 1024 + 1), auth)
    assert (too_big.status, too_big.body["error"]["code"]) == (413, "too_large")
    no_context = await raw(json.dumps({"params": {}}).encode(), auth)
    assert (no_context.status, no_context.body["error"]["field"]) == (422, "context")
    bad_issue = await api.run("echo", issue=0)
    assert (bad_issue.status, bad_issue.body["error"]["field"]) == (422, "context.issue")
    assert base  # the URL the raw calls used

    unknown = await api.run("ecko")
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "unknown_command")
    assert unknown.body["error"]["suggestions"] == ["echo"]
    no_issue = await api.run("echo", issue=999)
    assert (no_issue.status, no_issue.body["error"]["code"]) == (404, "issue_not_found")
    no_app = await api.run("echo", repository="someone/else")
    assert (no_app.status, no_app.body["error"]["code"]) == (404, "not_installed")

    params = await api.run("generate-report", params={"since": "soon"})
    assert params.status == 422
    assert params.body["error"]["code"] == "invalid_parameters"
    assert params.body["error"]["field"] == "params.since"
    unknown_param = await api.run("echo", params={"colour": "red"})
    assert unknown_param.body["error"]["field"] == "params.colour"
    assert (await api.harness.state()).runs == []  # no run for a call that was wrong


async def test_tokens_are_scoped_to_commands_and_repositories(api: Api) -> None:
    ok = await api.run("echo", token="sandbox-echo", params={"text": "x"})
    assert ok.status == 200
    other_repo = await api.run("echo", token="sandbox-echo", repository=OTHER_REPO, issue=1)
    assert (other_repo.status, other_repo.body["error"]["code"]) == (403, "forbidden_repository")
    other_command = await api.run("generate-report", token="sandbox-echo")
    assert (other_command.status, other_command.body["error"]["code"]) == (
        403,
        "forbidden_command",
    )
    # The run is visible only to tokens that may see its repository and command.
    run_id = ok.body["metadata"]["runId"]
    assert (await api.get(f"/api/runs/{run_id}", token="all")).status == 200
    assert (
        await api.run("echo", token="all", repository=OTHER_REPO, params={"text": "y"})
    ).status == 200
    other_run = (await api.harness.state()).runs[-1].run_id
    hidden = await api.get(f"/api/runs/{other_run}", token="sandbox-echo")
    assert (hidden.status, hidden.body["error"]["code"]) == (404, "run_not_found")


async def test_the_token_permission_is_the_runs_permission(api: Api) -> None:
    refused = await api.run("generate-report", token="reader")  # needs write
    assert (refused.status, refused.body["error"]["code"]) == (403, "permission_denied")
    assert "`api:reader` has `read`" in refused.body["error"]["message"]


async def test_each_token_has_its_own_rate_limit(api: Api) -> None:
    for text in ("a", "b"):
        assert (await api.run("echo", token="limited", params={"text": text})).status == 200
    limited = await api.run("echo", token="limited", params={"text": "c"})
    assert (limited.status, limited.body["error"]["code"]) == (429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert (await api.run("echo", token="all", params={"text": "d"})).status == 200


async def test_the_concurrency_guard_answers_409(api: Api) -> None:
    # Runs on one issue wait for each other; the guard stops a run on another issue.
    first = await api.run("slow")
    assert first.status == 202
    second = await api.run("slow", issue=2)
    assert (second.status, second.body["error"]["code"]) == (409, "busy")
    assert first.body["runId"] in second.body["error"]["message"]


async def test_runs_from_before_are_read_from_the_audit_log(api: Api) -> None:
    await api.harness.comment(MAINTAINER, "/generate-report", issue=2)
    (record,) = (await api.harness.state()).runs
    answer = await api.get(f"/api/runs/{record.run_id}")
    assert answer.status == 200
    assert answer.body["result"]["status"] == str(RunStatus.SUCCEEDED)
    assert answer.body["metadata"]["auditId"] == str(record.comment_id)


def issue_lookups(api: Api, since: int, issue: int) -> int:
    wanted = ("GET", f"/repos/{REPO}/issues/{issue}")
    return sum((r.method, r.path) == wanted for r in api.harness.emulator.requests[since:])


async def test_a_call_takes_the_issue_as_a_delivery_just_showed_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No delivery has shown issue 2 yet: the call looks it up.
    before = len(api.harness.emulator.requests)
    assert (await api.run("echo", issue=2, params={"text": "a"})).status == 200
    await api.harness.settle()
    assert issue_lookups(api, before, 2) == 1
    # A person puts a status label on the issue, a few seconds later (deliveries of the
    # same second with different labels would cancel out); GitHub's delivery says so.
    later = world.now() + timedelta(seconds=5)
    monkeypatch.setattr(world, "now", lambda: later)
    await api.harness.emulator.label_issue(REPO, 2, "bot:failed", MAINTAINER)
    await api.harness.settle()

    before = len(api.harness.emulator.requests)
    assert (await api.run("echo", issue=2, params={"text": "b"})).status == 200
    await api.harness.settle()

    assert issue_lookups(api, before, 2) == 0
    # The run knew of the person's label, and moved the status label from it.
    labels = api.harness.emulator.issue_view(REPO, 2).labels
    assert [label for label in labels if label.startswith("bot:")] == ["bot:succeeded"]


async def test_the_document_is_served(api: Api) -> None:
    async with api.session.get(api.harness.bot_url + "/api/openapi.json") as response:
        document = await response.json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/api/commands/{name}", "/api/runs/{run_id}"}


async def test_a_failed_command_answers_success_false_then_its_breaker_503(api: Api) -> None:
    failed = await api.run("broken")
    assert failed.status == 200
    assert failed.body["success"] is False
    assert failed.body["result"]["error"] == "RuntimeError: always broken"
    paused = await api.run("broken")
    assert (paused.status, paused.body["error"]["code"]) == (503, "paused")
    assert int(paused.headers["Retry-After"]) > 0
