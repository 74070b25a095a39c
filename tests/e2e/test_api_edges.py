"""Edge cases of the REST API and external webhooks that a second reading found: bodies
that arrive in pieces, undecodable headers, GitHub failing mid-call, replays under a new
delivery id, text that could break the status comment, keys reused for other calls."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.intake.external import signature
from bot.sandbox import INSTALLATION_ID, REPO
from bot.testing import KeyPair
from tests.conftest import Harness, running
from tests.e2e.api_client import call
from tests.e2e.projects import api_token, signed_headers, write_project
from tests.e2e.test_api import echo
from tests.e2e.test_commands import bot_comments

SECRET_ENV = "EDGES_WEBHOOK_SECRET"
SECRET = "edges-secret"
WEBHOOKS_YML = f"""
sources:
  ci:
    secret_env: {SECRET_ENV}
    event_field: kind
    permission: write
    events:
      say:
        command: echo
        repository: {REPO}
        issue: $.issue
        params: {{text: $.text}}
"""


@pytest.fixture
async def live(
    tmp_path: Path, app_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Harness, aiohttp.ClientSession, str]]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    claude = write_project(tmp_path, {}, {})
    (claude / "webhooks.yml").write_text(WEBHOOKS_YML)
    token = api_token(tmp_path / "data" / "api-tokens.json")
    async with (
        running(tmp_path / "data", app_keys, claude_dir=claude, handlers={"echo": echo}) as h,
        aiohttp.ClientSession() as session,
    ):
        yield h, session, token


def echo_call(text: str = "hi", issue: int = 1) -> bytes:
    return json.dumps(
        {"params": {"text": text}, "context": {"repository": REPO, "issue": issue}}
    ).encode()


async def raw_exchange(harness: Harness, head: bytes, parts: list[bytes]) -> tuple[int, bytes]:
    """Send `head`, then each part after a pause; the status and the answer's body."""
    host, port = harness.bot_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    for part in parts:
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(part)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def request_head(token: str, framing: str) -> bytes:
    return (
        f"POST /api/commands/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\nConnection: close\r\n\r\n"
    ).encode()


async def test_a_body_in_pieces_or_chunks_is_read_whole(
    live: tuple[Harness, aiohttp.ClientSession, str],
) -> None:
    harness, _, token = live
    body = echo_call("pieces")
    status, _ = await raw_exchange(
        harness, request_head(token, f"Content-Length: {len(body)}") + body[:10], [body[10:]]
    )
    assert status == 200
    chunks = [
        b"%x\r\n%s\r\n" % (10, body[:10]),
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 10, body[10:]),
    ]
    status, _ = await raw_exchange(
        harness, request_head(token, "Transfer-Encoding: chunked"), chunks
    )
    assert status == 200
    big = b"x" * 40_000
    chunks = [b"%x\r\n%s\r\n" % (len(big), big)] * 2 + [b"0\r\n\r\n"]
    status, answer = await raw_exchange(
        harness, request_head(token, "Transfer-Encoding: chunked"), chunks
    )
    assert status == 413
    assert json.loads(answer)["error"]["code"] == "too_large"


async def test_undecodable_credentials_are_401(
    live: tuple[Harness, aiohttp.ClientSession, str],
) -> None:
    harness, _, _ = live
    head = (
        b"POST /api/commands/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer \xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    assert (await raw_exchange(harness, head, []))[0] == 401
    body = json.dumps({"kind": "say", "issue": 1, "text": "x"}).encode()
    head = (
        b"POST /webhooks/ci HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Signature-256: sha256=\xff\r\n"
        b"X-Webhook-Timestamp: \xfe\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    )
    assert (await raw_exchange(harness, head + body, []))[0] == 401


async def test_github_failing_mid_call_is_503(
    live: tuple[Harness, aiohttp.ClientSession, str],
) -> None:
    harness, session, token = live
    harness.emulator.set_rate_limit_remaining(INSTALLATION_ID, 0)
    answer = await call(
        session, harness.bot_url, "POST", "/api/commands/echo", token=token, data=echo_call()
    )
    assert (answer.status, answer.body["error"]["code"]) == (503, "unavailable")
    assert answer.headers["Retry-After"] == "30"


async def test_parameters_that_would_break_the_comment_are_refused(
    live: tuple[Harness, aiohttp.ClientSession, str],
) -> None:
    harness, session, token = live

    async def run(params: dict[str, object], repository: str = REPO) -> tuple[int, dict]:
        body = {"params": params, "context": {"repository": repository, "issue": 1}}
        answer = await call(
            session, harness.bot_url, "POST", "/api/commands/echo", token=token, json_body=body
        )
        return answer.status, answer.body

    status, body = await run({"text": "a\n@monalisa ping"})
    assert (status, body["error"]["field"]) == (422, "params.text")
    for name in ("1", "", "x y", "--text"):
        status, body = await run({name: "v"})
        assert status == 422, name
    status, body = await run({"text": "x"}, repository="demo/..")
    assert (status, body["error"]["field"]) == (422, "context.repository")
    status, body = await run({"text": "`ticks` and ``more``"})
    assert status == 200
    await harness.settle()
    (comment,) = bot_comments(harness.emulator.issue_view(REPO, 1))
    headline = comment.splitlines()[1]
    assert headline == "### ✅ ```/echo 'text=`ticks` and ``more``'``` succeeded"


async def test_an_idempotency_key_is_for_one_call(
    live: tuple[Harness, aiohttp.ClientSession, str],
) -> None:
    harness, session, token = live
    key = {"Idempotency-Key": "k-1"}
    first = await call(
        session, harness.bot_url, "POST", "/api/commands/echo",
        token=token, data=echo_call("one"), headers=key,
    )  # fmt: skip
    other = await call(
        session, harness.bot_url, "POST", "/api/commands/echo",
        token=token, data=echo_call("two"), headers=key,
    )  # fmt: skip
    assert first.status == 200
    assert (other.status, other.body["error"]["code"]) == (422, "idempotency_key_reused")


async def send_signed(
    harness: Harness, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]
) -> tuple[int, dict]:
    async with session.post(f"{harness.bot_url}/webhooks/ci", data=body, headers=headers) as r:
        answer = (r.status, await r.json())
    await harness.settle()
    return answer


async def test_a_replay_under_a_new_delivery_id_runs_once(
    live: tuple[Harness, aiohttp.ClientSession, str],
) -> None:
    harness, session, _ = live
    body = json.dumps({"kind": "say", "issue": 2, "text": "once"}).encode()
    headers = signed_headers(SECRET, body, delivery="d-1")
    assert (await send_signed(harness, session, body, headers))[0] == 202
    replay = {**headers, "X-Webhook-Delivery": "attacker-2"}
    status, answer = await send_signed(harness, session, body, replay)
    assert (status, answer["status"]) == (200, "duplicate")
    # The same event signed at another time is another request, and runs.
    later = signed_headers(SECRET, body, at=time.time() + 2)
    assert (await send_signed(harness, session, body, later))[0] == 202
    assert len((await harness.state()).runs) == 2


async def test_malformed_signed_requests_are_answered(
    live: tuple[Harness, aiohttp.ClientSession, str],
) -> None:
    harness, session, _ = live
    deep = b"[" * 30_000 + b"]" * 30_000
    assert (await send_signed(harness, session, deep, signed_headers(SECRET, deep)))[0] == 400
    body = json.dumps({"kind": "say", "issue": "²", "text": "x"}).encode()
    status, answer = await send_signed(harness, session, body, signed_headers(SECRET, body))
    assert (status, answer["error"]["field"]) == (422, "$.issue")
    body = json.dumps({"kind": "say", "issue": 1, "text": "x"}).encode()
    nan = {**signed_headers(SECRET, body), "X-Webhook-Timestamp": "nan"}
    nan["X-Signature-256"] = "sha256=" + signature(SECRET.encode(), "nan", body)
    assert (await send_signed(harness, session, body, nan))[0] == 401
    assert (await harness.state()).runs == []
