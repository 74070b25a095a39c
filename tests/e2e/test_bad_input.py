"""Bad input gets a precise answer and loses nothing (invariants 2, 6 and 7).

Raw requests go to the bot's real webhook; comments go through the emulator, which signs
and delivers them as GitHub does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import aiohttp
import pytest

import bot.testing
from bot.domain import RunStatus
from bot.sandbox import MAINTAINER, REPO
from tests.conftest import Harness
from tests.e2e.test_commands import BOT, bot_comments

SECRET = "test-webhook-secret"  # the harness's


def signed_headers(body: bytes, event: str, *, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


async def post(harness: Harness, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(harness.webhook_url, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


EXAMPLES = Path(bot.testing.__file__).parent / "data" / "github" / "webhook-examples.json"


def comment_payload(body: str) -> bytes:
    """GitHub's own issue_comment.created example, with `body` as the comment."""
    payload = json.loads(EXAMPLES.read_text())["issue_comment.created"]
    payload["comment"]["body"] = body
    return json.dumps(payload).encode()


HELP = comment_payload("/help")
NOT_JSON = b"{not json"
TOO_DEEP = b"[" * 100_000 + b"]" * 100_000
A_LIST = b"[1, 2]"
NO_ISSUE = b'{"action": "created", "comment": {}}'
STARRED = b'{"action": "started"}'


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key != name}


# (what is wrong, body, headers, expected status, expected words in the answer)
BAD_REQUESTS = [
    (
        "wrong signature",
        HELP,
        signed_headers(HELP, "issue_comment", secret="wrong"),
        401,
        "signature does not match",
    ),
    (
        "no signature",
        HELP,
        without(signed_headers(HELP, "issue_comment"), "X-Hub-Signature-256"),
        401,
        "missing X-Hub-Signature-256",
    ),
    ("body not JSON", NOT_JSON, signed_headers(NOT_JSON, "issue_comment"), 400, "not valid JSON"),
    ("JSON nested too deeply", TOO_DEEP, signed_headers(TOO_DEEP, "issue_comment"), 400, "JSON"),
    ("JSON, not an object", A_LIST, signed_headers(A_LIST, "issue_comment"), 400, "not a JSON"),
    (
        "no delivery id",
        HELP,
        without(signed_headers(HELP, "issue_comment"), "X-GitHub-Delivery"),
        400,
        "missing X-GitHub-Delivery",
    ),
    (
        "payload without its issue",
        NO_ISSUE,
        signed_headers(NO_ISSUE, "issue_comment"),
        400,
        "issue_comment payload: issue: Field required",
    ),
    ("unknown event", STARRED, signed_headers(STARRED, "watch"), 200, "watch.started is not"),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS],
)
async def test_bad_webhook_requests(
    harness: Harness, body: bytes, headers: dict[str, str], status: int, words: str
) -> None:
    got_status, text = await post(harness, body, headers)
    await harness.settle()

    assert got_status == status, text
    assert words in text
    assert harness.emulator.requests == []  # no GitHub call of any kind
    assert (await harness.state()).runs == []


async def test_payload_over_25_mb_is_refused(harness: Harness) -> None:
    body = b'{"padding": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    status, text = await post(harness, body, signed_headers(body, "issue_comment"))

    assert status == 413
    assert "payload too large" in text
    assert harness.emulator.requests == []


async def test_json_the_fast_parser_refuses_is_still_read(harness: Harness) -> None:
    # A lone surrogate, which GitHub's JSON (like the emulator's) escapes as `\ud800`:
    # valid JSON that orjson refuses (bot/web/body.py).
    delivery = await harness.comment(MAINTAINER, "/help\n\ud800", issue=1)
    await harness.settle()

    assert delivery.status_code == 202
    (reply,) = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "/help" in reply


async def test_ping_is_answered(harness: Harness) -> None:
    delivery = await harness.emulator.ping()
    assert delivery.status_code == 200
    assert harness.emulator.requests == []


@pytest.mark.parametrize(
    "body",
    [
        "> /generate-report",
        "```\n/generate-report\n```",
        "<!-- /generate-report -->",
        "I ran /generate-report yesterday",
        "see /usr/bin/env and https://example.com/generate-report",
    ],
)
async def test_commands_that_are_not_commands_do_nothing(harness: Harness, body: str) -> None:
    delivery = await harness.comment(MAINTAINER, body)

    assert delivery.status_code == 200
    assert harness.emulator.writes() == []
    assert bot_comments(harness.emulator.issue_view(REPO, 1)) == []


async def test_bad_arguments_get_a_usage_comment(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/generate-report since=banana")

    (status,) = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "⛔ `/generate-report since=banana` was blocked" in status
    assert "banana" in status
    assert "Usage:" in status
    assert "/generate-report [since=" in status
    state = await harness.state()
    assert [r.status for r in state.runs] == [RunStatus.BLOCKED]
    assert state.command_data == {}  # no report was made, nothing kept
    assert "bot:blocked" in harness.emulator.issue_view(REPO, 1).labels


async def test_a_future_date_gets_a_usage_comment(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/generate-report since=2999-01-01")

    (status,) = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "was blocked" in status
    assert "in the future" in status


async def test_near_miss_gets_did_you_mean(harness: Harness) -> None:
    await harness.comment(MAINTAINER, "/generate-reprot")

    (reply,) = bot_comments(harness.emulator.issue_view(REPO, 1))
    assert "Did you mean `/generate-report`?" in reply
    assert (await harness.state()).runs == []  # a reply, not a run


async def test_read_user_is_refused_and_state_is_untouched(harness: Harness) -> None:
    await harness.comment("visitor", "/generate-report")

    view = harness.emulator.issue_view(REPO, 1)
    (status,) = bot_comments(view)
    assert "🚫 `/generate-report` was refused" in status
    assert "needs `write` permission" in status
    assert "@visitor has `read`" in status
    reactions = [(r.content, r.user) for c in view.comments for r in c.reactions]
    assert reactions == [("eyes", BOT), ("confused", BOT)]
    assert "bot:refused" in view.labels
    state = await harness.state()
    assert [r.status for r in state.runs] == [RunStatus.REFUSED]  # the audit record
    assert state.command_data == {}  # the command's own state did not change
    assert not any(r.path == f"/repos/{REPO}/issues" for r in harness.emulator.requests)


async def test_redelivery_runs_nothing_twice(harness: Harness) -> None:
    delivery = await harness.comment(MAINTAINER, "/generate-report")
    writes_after_first = len(harness.emulator.writes())

    for _ in range(3):
        again = await harness.emulator.redeliver(delivery.id)
        await harness.settle()
        assert again.status_code == 200
        assert again.id == delivery.id

    assert len(bot_comments(harness.emulator.issue_view(REPO, 1))) == 1
    assert len(harness.emulator.writes()) == writes_after_first
    assert len((await harness.state()).runs) == 1


async def test_edited_comment_does_not_rerun(harness: Harness) -> None:
    delivery = await harness.comment(MAINTAINER, "/generate-report")
    comment_id = delivery.payload["comment"]["id"]
    await harness.emulator.edit_comment(comment_id, "/generate-report since=30d", MAINTAINER)
    await harness.settle()

    assert len(bot_comments(harness.emulator.issue_view(REPO, 1))) == 1
    assert len((await harness.state()).runs) == 1
