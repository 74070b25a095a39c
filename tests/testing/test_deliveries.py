"""The App webhook's deliveries API and the installation's repository list, over real HTTP
with the App's JWT (or an installation token), as a bot that redelivers what it missed
would use them."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_installation_access_token, get_jwt
from jsonschema import Draft4Validator

from bot.testing import GitHubEmulator, KeyPair
from bot.testing import webhooks as webhooks_module
from bot.testing.openapi import load_openapi

APP_ID = 4242
SECRET = "webhook-secret"
REPO = "octo-org/app"
DOCS = "octo-org/docs"
OTHER_REPO = "other/secret"
DELIVERIES = "/app/hook/deliveries"


@dataclass
class Receiver:
    """The bot's webhook endpoint: answers each delivery with the next of `statuses`
    (then 202), after `delay` seconds, and records what came."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def guids(self) -> list[str]:
        return [headers["X-GitHub-Delivery"] for headers, _ in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def hook(request: web.Request) -> web.Response:
        receiver.received.append((dict(request.headers), await request.read()))
        if receiver.delay:
            await asyncio.sleep(receiver.delay)
        status = receiver.statuses.pop(0) if receiver.statuses else 202
        return web.Response(status=status, text=f"answered {status}")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield receiver
    await runner.cleanup()


def closed_port_url() -> str:
    """A loopback URL nothing listens on: the bot is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
async def github(app_keys: KeyPair, receiver: Receiver) -> AsyncIterator[GitHubEmulator]:
    emulator = GitHubEmulator(
        app_id=APP_ID,
        app_slug="queue-bot",
        public_key_pem=app_keys.public_pem,
        webhook_secret=SECRET,
        webhook_url=receiver.url,
    )
    emulator.add_installation(1, "octo-org")
    emulator.add_repo(1, REPO)
    emulator.add_repo(1, DOCS)
    emulator.add_installation(2, "other")
    emulator.add_repo(2, OTHER_REPO, private=True)
    emulator.add_issue(REPO, "report please")
    async with emulator:
        yield emulator
    assert emulator.violations == []


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def app_headers(app_keys: KeyPair) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {get_jwt(app_id=str(APP_ID), private_key=app_keys.private_pem)}"
    }


async def installation_token(
    session: aiohttp.ClientSession,
    github: GitHubEmulator,
    app_keys: KeyPair,
    installation: int,
    **narrowed: Any,
) -> str:
    gh = GitHubAPI(session, "test", base_url=github.url)
    if narrowed:
        url = f"/app/installations/{installation}/access_tokens"
        jwt = get_jwt(app_id=str(APP_ID), private_key=app_keys.private_pem)
        answer: dict[str, Any] = await gh.post(url, data=narrowed, jwt=jwt)
    else:
        answer = await get_installation_access_token(
            gh,
            installation_id=str(installation),
            app_id=str(APP_ID),
            private_key=app_keys.private_pem,
        )
    token: str = answer["token"]
    return token


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


async def call(
    session: aiohttp.ClientSession,
    github: GitHubEmulator,
    method: str,
    path: str,
    headers: dict[str, str],
) -> Answer:
    url = path if path.startswith("http") else github.url + path
    async with session.request(method, url, headers=headers) as response:
        text = await response.text()
        return Answer(response.status, dict(response.headers), json.loads(text) if text else None)


def assert_shape(operation_id: str, status: int, body: Any) -> None:
    validator = load_openapi().response_validator(operation_id, status)
    assert validator is not None
    assert_valid(validator, body)


def assert_valid(validator: Draft4Validator, instance: Any) -> None:
    assert [f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance)] == []


def next_link(headers: dict[str, str]) -> str | None:
    for part in headers.get("Link", "").split(","):
        url, _, rel = part.partition(";")
        if rel.strip() == 'rel="next"':
            return url.strip().strip("<>")
    return None


# -- what gets recorded ------------------------------------------------------------------


async def test_a_delivery_to_a_bot_that_is_down_is_listed_as_failed(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    github.webhook_url = closed_port_url()

    sent = await github.comment(REPO, 1, "alice", "/generate-report")
    listed = await call(session, github, "GET", DELIVERIES, app_headers(app_keys))

    assert listed.status == 200
    assert_shape("apps/list-webhook-deliveries", 200, listed.body)
    [item] = listed.body
    assert item == {
        "id": sent.api_id,
        "guid": sent.id,
        "delivered_at": item["delivered_at"],
        "redelivery": False,
        "duration": item["duration"],
        "status": "failed to connect to host",
        "status_code": 0,
        "event": "issue_comment",
        "action": "created",
        "installation_id": 1,
        "repository_id": github.world.require_repo(REPO).id,
        "throttled_at": None,
    }
    assert item["delivered_at"].endswith("Z")
    assert (sent.ok, sent.status_code) == (False, None)


async def test_a_503_answer_is_listed_with_its_status_code_and_shown_in_full(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair, receiver: Receiver
) -> None:
    receiver.statuses = [503]

    sent = await github.comment(REPO, 1, "alice", "/generate-report")
    [item] = (await call(session, github, "GET", DELIVERIES, app_headers(app_keys))).body
    one = await call(session, github, "GET", f"{DELIVERIES}/{sent.api_id}", app_headers(app_keys))

    assert (item["status_code"], item["status"]) == (503, "Invalid HTTP Response: 503")
    assert one.status == 200
    assert_shape("apps/get-webhook-delivery", 200, one.body)
    assert {k: v for k, v in one.body.items() if k in item} == item
    assert one.body["url"] == receiver.url
    request, response = one.body["request"], one.body["response"]
    assert request["payload"] == sent.payload
    assert request["headers"]["X-GitHub-Delivery"] == sent.id
    assert request["headers"]["X-GitHub-Event"] == "issue_comment"
    assert request["headers"]["X-Hub-Signature-256"].startswith("sha256=")
    assert response["payload"] == "answered 503"
    assert response["headers"]["Content-Type"].startswith("text/plain")


async def test_a_receiver_slower_than_the_timeout_is_a_failed_delivery(
    github: GitHubEmulator, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read when the sender opens its HTTP session, at its first delivery: this one.
    monkeypatch.setattr(webhooks_module, "DELIVERY_TIMEOUT_SECONDS", 0.2)
    receiver.delay = 1.0

    sent = await github.comment(REPO, 1, "alice", "hi")

    assert (sent.ok, sent.status_code, sent.status) == (False, None, "timed out")


async def test_the_bots_own_writes_without_a_webhook_url_are_failed_deliveries(
    app_keys: KeyPair, session: aiohttp.ClientSession
) -> None:
    async with GitHubEmulator(
        app_id=APP_ID, app_slug="queue-bot", public_key_pem=app_keys.public_pem, webhook_secret="s"
    ) as github:
        github.add_installation(1, "octo-org")
        github.add_repo(1, REPO)
        number = github.add_issue(REPO, "x")
        token = await installation_token(session, github, app_keys, 1)
        gh = GitHubAPI(session, "test", oauth_token=token, base_url=github.url)
        await gh.post(f"/repos/{REPO}/issues/{number}/comments", data={"body": "On it"})
        await github.settle()

        [failed] = github.deliveries
        [item] = (await call(session, github, "GET", DELIVERIES, app_headers(app_keys))).body

    assert (failed.event, failed.ok, failed.status_code, failed.url) == (
        "issue_comment",
        False,
        None,
        None,
    )
    assert (item["status_code"], item["status"]) == (0, failed.status)
    assert item["guid"] == failed.id


async def test_status_selects_by_status_code_as_the_description_says(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair, receiver: Receiver
) -> None:
    receiver.statuses = [503, 202]
    bad = await github.comment(REPO, 1, "alice", "one")
    good = await github.comment(REPO, 1, "alice", "two")
    github.webhook_url = closed_port_url()
    down = await github.comment(REPO, 1, "alice", "three")

    async def ids(query: str) -> list[int]:
        answer = await call(session, github, "GET", f"{DELIVERIES}{query}", app_headers(app_keys))
        return [item["id"] for item in answer.body]

    assert await ids("") == [down.api_id, good.api_id, bad.api_id]
    assert await ids("?status=success") == [good.api_id]
    # 400-599 only: a delivery that got no answer (status_code 0) is in neither.
    assert await ids("?status=failure") == [bad.api_id]


# -- redelivery ----------------------------------------------------------------------------


async def test_redelivery_sends_the_same_guid_and_is_listed_as_a_new_delivery(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair, receiver: Receiver
) -> None:
    github.webhook_url = closed_port_url()
    missed = await github.comment(REPO, 1, "alice", "/generate-report")
    github.webhook_url = receiver.url  # the bot is back
    receiver.delay = 0.2  # still in flight when the 202 arrives

    path = f"{DELIVERIES}/{missed.api_id}/attempts"
    accepted = await call(session, github, "POST", path, app_headers(app_keys))
    in_flight = len(github.deliveries)
    await github.settle()
    listed = (await call(session, github, "GET", DELIVERIES, app_headers(app_keys))).body

    assert (accepted.status, accepted.body) == (202, {})
    assert_shape("apps/redeliver-webhook-delivery", 202, accepted.body)
    assert in_flight == 1
    assert receiver.guids() == [missed.id]
    assert json.loads(receiver.received[0][1]) == missed.payload
    again, first = listed
    assert (again["guid"], again["redelivery"], again["status"]) == (missed.id, True, "OK")
    assert (first["guid"], first["redelivery"], first["status_code"]) == (missed.id, False, 0)
    assert again["id"] > first["id"]
    assert github.deliveries[-1].redelivery


async def test_the_emulators_own_redeliver_is_a_redelivery_too(
    github: GitHubEmulator, receiver: Receiver
) -> None:
    first = await github.comment(REPO, 1, "alice", "hi")

    again = await github.redeliver(first.id)

    assert (again.id, again.redelivery, first.redelivery) == (first.id, True, False)
    assert again.api_id > first.api_id
    assert github.delivery(again.api_id) == again
    assert receiver.guids() == [first.id, first.id]


async def test_redelivery_of_a_delivery_older_than_3_days_is_422(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair, receiver: Receiver
) -> None:
    old = await github.comment(REPO, 1, "alice", "long ago")
    github.backdate_deliveries(timedelta(days=3, minutes=1))
    recent = await github.comment(REPO, 1, "alice", "just now")
    github.backdate_deliveries(timedelta(days=2, hours=23))

    refused = await call(
        session, github, "POST", f"{DELIVERIES}/{old.api_id}/attempts", app_headers(app_keys)
    )
    accepted = await call(
        session, github, "POST", f"{DELIVERIES}/{recent.api_id}/attempts", app_headers(app_keys)
    )
    await github.settle()

    assert refused.status == 422
    assert_shape("apps/redeliver-webhook-delivery", 422, refused.body)
    assert accepted.status == 202
    assert receiver.guids() == [old.id, recent.id, recent.id]


async def test_an_unknown_delivery_is_404(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    await github.comment(REPO, 1, "alice", "hi")
    unknown = github.deliveries[-1].api_id + 1000

    got = await call(session, github, "GET", f"{DELIVERIES}/{unknown}", app_headers(app_keys))
    redo = await call(
        session, github, "POST", f"{DELIVERIES}/{unknown}/attempts", app_headers(app_keys)
    )
    await github.settle()

    assert (got.status, got.body["message"]) == (404, "Not Found")
    assert (redo.status, redo.body["message"]) == (404, "Not Found")
    assert len(github.deliveries) == 1


# -- pagination --------------------------------------------------------------------------------


async def test_the_cursor_walks_every_delivery_once_newest_first(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    for n in range(7):
        await github.comment(REPO, 1, "alice", f"comment {n}")
    everything = sorted((d.api_id for d in github.deliveries), reverse=True)

    pages: list[list[int]] = []
    links: list[str] = []
    url: str | None = f"{DELIVERIES}?per_page=3"
    while url is not None:
        answer = await call(session, github, "GET", url, app_headers(app_keys))
        assert answer.status == 200
        pages.append([item["id"] for item in answer.body])
        url = next_link(answer.headers)
        links += [url] if url else []
    gh = GitHubAPI(session, "test", base_url=github.url)
    jwt = get_jwt(app_id=str(APP_ID), private_key=app_keys.private_pem)
    walked = [item["id"] async for item in gh.getiter(f"{DELIVERIES}?per_page=2", jwt=jwt)]

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == everything
    assert all(link.startswith(f"{github.url}{DELIVERIES}?per_page=3&cursor=") for link in links)
    assert walked == everything


async def test_per_page_defaults_to_30_and_stops_at_100(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    for _ in range(101):
        await github.ping()

    default = await call(session, github, "GET", DELIVERIES, app_headers(app_keys))
    most = await call(session, github, "GET", f"{DELIVERIES}?per_page=500", app_headers(app_keys))

    assert len(default.body) == 30
    assert len(most.body) == 100
    assert next_link(most.headers) is not None


async def test_a_cursor_that_is_not_one_is_400(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    answer = await call(session, github, "GET", f"{DELIVERIES}?cursor=bogus", app_headers(app_keys))

    assert answer.status == 400
    assert_shape("apps/list-webhook-deliveries", 400, answer.body)


# -- credentials -------------------------------------------------------------------------------


async def test_an_installation_token_cannot_read_or_redeliver_deliveries(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    sent = await github.comment(REPO, 1, "alice", "hi")
    token = {"Authorization": f"token {await installation_token(session, github, app_keys, 1)}"}

    listed = await call(session, github, "GET", DELIVERIES, token)
    one = await call(session, github, "GET", f"{DELIVERIES}/{sent.api_id}", token)
    redo = await call(session, github, "POST", f"{DELIVERIES}/{sent.api_id}/attempts", token)
    anonymous = await call(session, github, "GET", DELIVERIES, {})
    await github.settle()

    assert [a.status for a in (listed, one, redo, anonymous)] == [401, 401, 401, 401]
    assert listed.body["message"] == "A JSON web token could not be decoded"
    assert len(github.deliveries) == 1


# -- the installation's repositories ----------------------------------------------------------


async def test_an_installation_lists_only_its_own_repositories(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    token = await installation_token(session, github, app_keys, 1)
    other = await installation_token(session, github, app_keys, 2)
    path = "/installation/repositories"

    mine = await call(session, github, "GET", path, {"Authorization": f"token {token}"})
    theirs = await call(session, github, "GET", path, {"Authorization": f"token {other}"})

    assert mine.status == 200
    assert_shape("apps/list-repos-accessible-to-installation", 200, mine.body)
    assert mine.body["total_count"] == 2
    assert mine.body["repository_selection"] == "selected"
    assert [r["full_name"] for r in mine.body["repositories"]] == [REPO, DOCS]
    assert [r["full_name"] for r in theirs.body["repositories"]] == [OTHER_REPO]
    assert theirs.body["repositories"][0]["private"] is True


async def test_installation_repositories_are_paginated_and_narrowed_with_the_token(
    github: GitHubEmulator, session: aiohttp.ClientSession, app_keys: KeyPair
) -> None:
    token = await installation_token(session, github, app_keys, 1)
    narrowed = await installation_token(session, github, app_keys, 1, repositories=["docs"])
    headers = {"Authorization": f"token {token}"}

    first = await call(session, github, "GET", "/installation/repositories?per_page=1", headers)
    second_url = next_link(first.headers)
    assert second_url is not None
    second = await call(session, github, "GET", second_url, headers)
    only = await call(
        session, github, "GET", "/installation/repositories", {"Authorization": f"token {narrowed}"}
    )
    with_jwt = await call(
        session, github, "GET", "/installation/repositories", app_headers(app_keys)
    )

    assert [r["full_name"] for r in first.body["repositories"]] == [REPO]
    assert [r["full_name"] for r in second.body["repositories"]] == [DOCS]
    assert (first.body["total_count"], second.body["total_count"]) == (2, 2)
    assert second_url == f"{github.url}/installation/repositories?per_page=1&page=2"
    assert next_link(second.headers) is None
    assert [r["full_name"] for r in only.body["repositories"]] == [DOCS]
    assert only.body["total_count"] == 1
    assert with_jwt.status == 403
