"""Signed external webhooks end to end: `POST /webhooks/{source}` on the real bot, mapped to
commands by `CLAUDE_DIR/webhooks.yml`, run through the pipeline and recorded on the issue."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.commands.context import CommandContext, Outcome
from bot.commands.handlers import HANDLERS
from bot.domain import RunStatus, Source
from bot.sandbox import REPO
from bot.testing import KeyPair
from tests.conftest import Harness, running
from tests.e2e.projects import signed_headers, write_project
from tests.e2e.test_commands import bot_comments

SECRET_ENV = "TEST_CI_WEBHOOK_SECRET"
SECRET = "ci-secret"
WEBHOOKS_YML = f"""
sources:
  ci:
    secret_env: {SECRET_ENV}
    event_field: kind
    permission: write
    events:
      build.failed:
        command: echo
        repository: $.project.repo
        issue: $.project.tracking_issue
        params: {{text: $.build.id}}
      report.wanted:
        command: generate-report
        repository: {REPO}
        issue: 3
        params: {{since: $.window}}
  readonly:
    secret_env: {SECRET_ENV}
    event_header: X-Event
    events:
      report.wanted:
        command: generate-report
        repository: {REPO}
        issue: 4
"""


@dataclass
class Sender:
    harness: Harness
    session: aiohttp.ClientSession

    async def send(
        self,
        body: dict[str, Any] | bytes,
        *,
        source: str = "ci",
        secret: str = SECRET,
        at: float | None = None,
        delivery: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {**signed_headers(secret, raw, at=at, delivery=delivery), **(extra or {})}
        url = f"{self.harness.bot_url}/webhooks/{source}"
        async with self.session.post(url, data=raw, headers=headers) as response:
            answer = (response.status, await response.json())
        await self.harness.settle()
        return answer


async def echo(ctx: CommandContext) -> Outcome:
    return Outcome(markdown=f"echo: {ctx.params['text']} for {ctx.request.requester}")


@pytest.fixture
async def sender(
    tmp_path: Path, app_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sender]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    claude = write_project(tmp_path, {}, {})
    (claude / "webhooks.yml").write_text(WEBHOOKS_YML)
    handlers = {**HANDLERS, "echo": echo}
    async with (
        running(tmp_path / "data", app_keys, claude_dir=claude, handlers=handlers) as h,
        aiohttp.ClientSession() as session,
    ):
        yield Sender(h, session)


def failed_build(build_id: str = "b-17") -> dict[str, Any]:
    return {
        "kind": "build.failed",
        "project": {"repo": REPO, "tracking_issue": 2},
        "build": {"id": build_id},
    }


async def test_a_mapped_event_runs_its_command_on_its_issue(sender: Sender) -> None:
    status, body = await sender.send(failed_build())
    assert status == 202
    assert body["status"] == "accepted"
    (record,) = (await sender.harness.state()).runs
    assert record.run_id == body["runId"]
    assert (record.source, record.actor, record.status) == (
        Source.EXTERNAL,
        "webhook:ci",
        RunStatus.SUCCEEDED,
    )
    (comment,) = bot_comments(sender.harness.emulator.issue_view(REPO, 2))
    assert "echo: b-17 for `webhook:ci`" in comment
    assert "Run <code>" in comment  # the hooks table names the run and its source
    assert "external" in comment


async def test_the_same_signed_request_twice_runs_once(sender: Sender) -> None:
    at = time.time()
    first = await sender.send(failed_build(), at=at)
    second = await sender.send(failed_build(), at=at)
    assert first[0] == 202
    assert second == (200, {"status": "duplicate", "runId": first[1]["runId"]})
    with_id = await sender.send(failed_build("b-18"), delivery="d-1")
    again = await sender.send(failed_build("b-18"), delivery="d-1", at=time.time() + 1)
    assert with_id[0] == 202
    assert again[1]["status"] == "duplicate"
    assert len((await sender.harness.state()).runs) == 2


async def test_an_old_request_is_a_replay(sender: Sender) -> None:
    status, body = await sender.send(failed_build(), at=time.time() - 6 * 60)
    assert status == 401
    assert body["error"]["code"] == "bad_signature"
    assert "5 minutes" in body["error"]["message"]
    assert (await sender.harness.state()).runs == []


async def test_a_wrong_signature_or_source_is_refused(sender: Sender) -> None:
    assert (await sender.send(failed_build(), secret="guess"))[0] == 401
    status, body = await sender.send(failed_build(), source="nobody")
    assert (status, body["error"]["code"]) == (404, "unknown_source")
    url = f"{sender.harness.bot_url}/webhooks/ci"
    async with sender.session.post(url, json=failed_build()) as response:
        assert response.status == 401  # unsigned
    assert (await sender.harness.state()).runs == []


async def test_an_unmapped_event_is_acknowledged_not_run(sender: Sender) -> None:
    status, body = await sender.send({"kind": "build.passed"})
    assert status == 200
    assert body == {"status": "ignored", "detail": "no mapping for event 'build.passed' of ci"}
    metrics = sender.harness.bot.metrics
    assert metrics.value("external_events_total", source="ci", outcome="unmapped") == 1
    assert (await sender.harness.state()).runs == []


async def test_a_missing_field_is_named(sender: Sender) -> None:
    event = failed_build()
    del event["project"]["tracking_issue"]
    status, body = await sender.send(event)
    assert status == 422
    assert body["error"]["field"] == "$.project.tracking_issue"
    status, body = await sender.send(b"[1, 2]")
    assert (status, body["error"]["code"]) == (400, "bad_json")


async def test_parameters_from_the_payload_pass_the_argument_hook(sender: Sender) -> None:
    await sender.send({"kind": "report.wanted", "window": "not-a-window"})
    (record,) = (await sender.harness.state()).runs
    assert record.status is RunStatus.BLOCKED
    (comment,) = bot_comments(sender.harness.emulator.issue_view(REPO, 3))
    assert "since: expected a window" in comment


async def test_a_sources_permission_is_its_runs_permission(sender: Sender) -> None:
    # `readonly` has the default role, triage; /generate-report needs write.
    await sender.send({}, source="readonly", extra={"X-Event": "report.wanted"})
    (record,) = (await sender.harness.state()).runs
    assert (record.status, record.actor) == (RunStatus.REFUSED, "webhook:readonly")
    (comment,) = bot_comments(sender.harness.emulator.issue_view(REPO, 4))
    assert "`webhook:readonly` has `triage`" in comment
