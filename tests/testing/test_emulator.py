"""The GitHub emulator, exercised over real HTTP with aiohttp and gidgethub."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from gidgethub import BadRequest, RateLimitExceeded, sansio
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_installation_access_token, get_jwt
from jsonschema import Draft4Validator

from bot.testing import GitHubEmulator, KeyPair, generate_key_pair
from bot.testing.gist_handlers import GIST_ROUTES
from bot.testing.handlers import ROUTES
from bot.testing.openapi import load_openapi

APP_ID = 4242
SLUG = "queue-bot"
SECRET = "webhook-secret"
REPO = "octo-org/app"
OTHER_REPO = "other/secret"


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return generate_key_pair()


@pytest.fixture(scope="module")
def foreign_keys() -> KeyPair:
    return generate_key_pair()


@dataclass
class Receiver:
    """Stands in for the bot's webhook endpoint: records what GitHub sent."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return [(h["X-GitHub-Event"], json.loads(body)) for h, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def hook(request: web.Request) -> web.Response:
        receiver.received.append((dict(request.headers), await request.read()))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield receiver
    await runner.cleanup()


def make_emulator(keys: KeyPair, **options: Any) -> GitHubEmulator:
    github = GitHubEmulator(
        app_id=APP_ID,
        app_slug=SLUG,
        public_key_pem=keys.public_pem,
        webhook_secret=SECRET,
        **options,
    )
    github.add_installation(1, "octo-org")
    github.add_repo(1, REPO)
    github.add_installation(2, "other")
    github.add_repo(2, OTHER_REPO, private=True)
    return github


@pytest.fixture
async def github(keys: KeyPair, receiver: Receiver) -> AsyncIterator[GitHubEmulator]:
    async with make_emulator(keys, webhook_url=receiver.url) as github:
        yield github


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def app_jwt(keys: KeyPair, *, iat: int = -60, exp: int = 540, iss: Any = APP_ID) -> str:
    """A JWT with any claims (PyJWT's `encode` insists on a string `iss`; GitHub does not)."""
    now = int(time.time())
    claims = json.dumps({"iat": now + iat, "exp": now + exp, "iss": iss}).encode()
    return jwt.api_jws.encode(claims, keys.private_pem, algorithm="RS256")


async def token_for(
    session: aiohttp.ClientSession, github: GitHubEmulator, keys: KeyPair, installation: int
) -> str:
    gh = GitHubAPI(session, "test", base_url=github.url)
    answer = await get_installation_access_token(
        gh, installation_id=str(installation), app_id=str(APP_ID), private_key=keys.private_pem
    )
    token: str = answer["token"]
    return token


@pytest.fixture
async def gh(session: aiohttp.ClientSession, github: GitHubEmulator, keys: KeyPair) -> GitHubAPI:
    token = await token_for(session, github, keys, 1)
    return GitHubAPI(session, SLUG, oauth_token=token, base_url=github.url)


def assert_shape(operation_id: str, status: int, body: Any) -> None:
    api = load_openapi()
    if operation_id == "apps/get-repo-installation":
        assert_valid(api.validator("/components/schemas/simple-user"), body["account"])
        body = {**body, "account": None}
    if operation_id == "apps/list-installations":
        # The description's item schema wants each account to be a user AND an enterprise
        # (allOf where its `installation` component says anyOf): check accounts as users.
        for item in body:
            assert_valid(api.validator("/components/schemas/simple-user"), item["account"])
        body = [{**item, "account": None} for item in body]
    validator = api.response_validator(operation_id, status)
    assert validator is not None
    assert_valid(validator, body)


def assert_valid(validator: Draft4Validator, instance: Any) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance)]
    assert errors == []


# -- the description and the routes ------------------------------------------------------


def test_every_described_operation_has_a_handler() -> None:
    assert {op.id for op in load_openapi().operations} == set(ROUTES)


async def test_every_operation_answers_in_its_documented_shape(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    number = github.add_issue(REPO, "x", labels=["bug"])
    await github.comment(REPO, number, "alice", "hi")
    cid = github.issue_view(REPO, number).comments[0].id
    delivery = github.deliveries[0].api_id
    app = {"Authorization": f"Bearer {app_jwt(keys)}"}
    installation = {"Authorization": f"token {await token_for(session, github, keys, 1)}"}
    repo, issue = f"/repos/{REPO}", f"/repos/{REPO}/issues/{number}"
    calls: list[tuple[str, str, Any, dict[str, str]]] = [
        ("GET", "/app", None, app),
        ("GET", "/app/installations", None, app),
        ("POST", "/app/installations/1/access_tokens", None, app),
        ("GET", f"{repo}/installation", None, app),
        ("GET", "/app/hook/deliveries", None, app),
        ("GET", f"/app/hook/deliveries/{delivery}", None, app),
        ("POST", f"/app/hook/deliveries/{delivery}/attempts", None, app),
        ("GET", "/installation/repositories", None, installation),
        ("GET", f"{repo}/issues", None, installation),
        ("GET", issue, None, installation),
        ("GET", f"{issue}/comments", None, installation),
        ("POST", f"{issue}/comments", {"body": "x"}, installation),
        ("GET", f"{repo}/issues/comments/{cid}", None, installation),
        ("PATCH", f"{repo}/issues/comments/{cid}", {"body": "y"}, installation),
        ("POST", f"{repo}/issues/comments/{cid}/reactions", {"content": "heart"}, installation),
        ("GET", f"{repo}/issues/comments/{cid}/reactions", None, installation),
        ("POST", f"{issue}/reactions", {"content": "heart"}, installation),
        ("GET", f"{issue}/reactions?content=heart", None, installation),
        ("POST", f"{issue}/labels", {"labels": ["a", {"name": "b"}]}, installation),
        ("GET", f"{issue}/labels", None, installation),
        ("DELETE", f"{issue}/labels/a", None, installation),
        # After the label changes: events by a person (bug, at creation) and by the App.
        ("GET", f"{issue}/events", None, installation),
        ("POST", f"{repo}/labels", {"name": "new", "description": "d"}, installation),
        ("GET", f"{repo}/labels", None, installation),
        ("GET", f"{repo}/labels/new", None, installation),
        ("GET", f"{repo}/collaborators/alice/permission", None, installation),
        ("GET", "/rate_limit", None, installation),
    ]
    seen = set()
    for method, path, body, headers in calls:
        found = load_openapi().match(method, path.partition("?")[0])
        assert found is not None
        url = github.url + path
        async with session.request(method, url, json=body, headers=headers) as response:
            assert response.status in (200, 201, 202), (method, path, response.status)
            assert_shape(found[0].id, response.status, await response.json())
        seen.add(found[0].id)

    # The gist operations take a user token: tests/testing/test_gists.py covers them.
    assert seen == set(ROUTES) - set(GIST_ROUTES)
    assert github.violations == []


# -- App authentication ------------------------------------------------------------------


async def test_app_endpoints_accept_the_apps_jwt(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    gh = GitHubAPI(session, "test", base_url=github.url)
    token = get_jwt(app_id=str(APP_ID), private_key=keys.private_pem)
    app = await gh.getitem("/app", jwt=token)
    installations = [i async for i in gh.getiter("/app/installations", jwt=token)]

    assert app["slug"] == SLUG
    assert_shape("apps/get-authenticated", 200, app)
    assert [i["id"] for i in installations] == [1, 2]
    assert github.requests[0].auth == "jwt"
    assert github.violations == []


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"exp": -1}, "'Expiration time' claim ('exp') must be a numeric value"),
        ({"iat": 120, "exp": 500}, "'Issued at' claim ('iat') must be an Integer"),
        ({"iat": -60, "exp": 600}, "'Expiration time' claim ('exp') is too far in the future"),
        ({"iss": "not-a-number"}, "'Issuer' claim ('iss') must be an Integer"),
        ({"iss": APP_ID + 1}, "A JSON web token could not be decoded"),
    ],
)
async def test_bad_jwts_are_refused_like_github(
    github: GitHubEmulator,
    session: aiohttp.ClientSession,
    keys: KeyPair,
    claims: dict[str, Any],
    message: str,
) -> None:
    headers = {"Authorization": f"Bearer {app_jwt(keys, **claims)}"}
    async with session.get(f"{github.url}/app", headers=headers) as response:
        body = await response.json()

    assert response.status == 401
    assert body["message"].startswith(message)
    assert body["documentation_url"].startswith("https://docs.github.com/")


async def test_a_jwt_signed_with_another_key_is_refused(
    github: GitHubEmulator, session: aiohttp.ClientSession, foreign_keys: KeyPair
) -> None:
    headers = {"Authorization": f"Bearer {app_jwt(foreign_keys)}"}
    async with session.get(f"{github.url}/app/installations", headers=headers) as response:
        body = await response.json()

    assert (response.status, body["message"]) == (401, "A JSON web token could not be decoded")


async def test_string_issuer_and_ten_minute_lifetime_are_accepted(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    headers = {"Authorization": f"Bearer {app_jwt(keys, iss=str(APP_ID), exp=540)}"}
    async with session.get(f"{github.url}/app", headers=headers) as response:
        assert response.status == 200


# -- installation tokens -----------------------------------------------------------------


async def test_access_token_has_githubs_shape(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    headers = {"Authorization": f"Bearer {app_jwt(keys)}"}
    url = f"{github.url}/app/installations/1/access_tokens"
    async with session.post(url, headers=headers) as response:
        body = await response.json()

    assert response.status == 201
    assert re.fullmatch(r"ghs_[A-Za-z0-9]{36}", body["token"])
    assert body["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    assert body["repository_selection"] == "all"
    assert_shape("apps/create-installation-access-token", 201, body)


async def test_an_installation_token_cannot_use_app_endpoints(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    with pytest.raises(BadRequest) as raised:
        await gh.getitem("/app")
    assert raised.value.status_code == 401


async def test_tokens_expire_after_token_ttl(keys: KeyPair, session: aiohttp.ClientSession) -> None:
    async with make_emulator(keys, token_ttl=timedelta(milliseconds=300)) as github:
        token = await token_for(session, github, keys, 1)
        gh = GitHubAPI(session, "test", oauth_token=token, base_url=github.url)
        assert (await gh.getitem(f"/repos/{REPO}/labels")) == []
        await asyncio.sleep(0.35)
        with pytest.raises(BadRequest) as raised:
            await gh.getitem(f"/repos/{REPO}/labels")

    assert raised.value.status_code == 401
    assert str(raised.value) == "Bad credentials"


async def test_unknown_tokens_and_missing_credentials_are_refused(
    github: GitHubEmulator, session: aiohttp.ClientSession
) -> None:
    url = f"{github.url}/repos/{REPO}/issues"
    async with session.get(url, headers={"Authorization": "token ghs_nope"}) as response:
        assert (response.status, (await response.json())["message"]) == (401, "Bad credentials")
    async with session.get(url) as response:
        assert response.status == 401


async def test_a_token_sees_only_its_installations_repositories(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    token = await token_for(session, github, keys, 1)
    gh = GitHubAPI(session, "test", oauth_token=token, base_url=github.url)
    github.add_issue(OTHER_REPO, "private matter")

    with pytest.raises(BadRequest) as raised:
        await gh.getitem(f"/repos/{OTHER_REPO}/issues/1")

    assert raised.value.status_code == 404
    assert str(raised.value) == "Not Found"


async def test_a_token_narrowed_to_named_repositories(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    github.add_repo(1, "octo-org/docs")
    url = f"{github.url}/app/installations/1/access_tokens"
    headers = {"Authorization": f"Bearer {app_jwt(keys)}"}
    async with session.post(url, headers=headers, json={"repositories": ["docs"]}) as response:
        body = await response.json()
    gh = GitHubAPI(session, "test", oauth_token=body["token"], base_url=github.url)

    assert body["repository_selection"] == "selected"
    assert [r["full_name"] for r in body["repositories"]] == ["octo-org/docs"]
    assert await gh.getitem("/repos/octo-org/docs/labels") == []
    with pytest.raises(BadRequest):
        await gh.getitem(f"/repos/{REPO}/labels")


# -- issues --------------------------------------------------------------------------------


async def test_pagination_follows_githubs_link_headers(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    for n in range(250):
        github.add_issue(REPO, f"issue {n}")
    headers = {"Authorization": f"token {gh.oauth_token}"}
    base = f"{github.url}/repos/{REPO}/issues"

    async def links(page: int) -> str:
        url = f"{base}?per_page=100&page={page}"
        async with session.get(url, headers=headers) as response:
            return response.headers["Link"]

    first, middle, last = await links(1), await links(2), await links(3)
    issues = [i async for i in gh.getiter(f"/repos/{REPO}/issues?per_page=100")]

    assert first == (
        f'<{base}?per_page=100&page=2>; rel="next", <{base}?per_page=100&page=3>; rel="last"'
    )
    assert middle == (
        f'<{base}?per_page=100&page=1>; rel="prev", <{base}?per_page=100&page=3>; rel="next", '
        f'<{base}?per_page=100&page=3>; rel="last", <{base}?per_page=100&page=1>; rel="first"'
    )
    assert last == (
        f'<{base}?per_page=100&page=2>; rel="prev", <{base}?per_page=100&page=1>; rel="first"'
    )
    assert [i["number"] for i in issues] == list(range(250, 0, -1))
    assert_shape("issues/list-for-repo", 200, issues[:3])
    assert github.violations == []


async def test_issue_filters(github: GitHubEmulator, gh: GitHubAPI) -> None:
    old = datetime(2024, 1, 1, tzinfo=UTC)
    github.add_issue(REPO, "old bug", labels=["bug"], created_at=old)
    github.add_issue(REPO, "new bug", labels=["bug", "urgent"])
    github.add_issue(REPO, "closed", state="closed", labels=["bug"])
    github.add_issue(REPO, "a pull request", pull_request=True)

    async def titles(query: str) -> list[str]:
        return [i["title"] async for i in gh.getiter(f"/repos/{REPO}/issues?{query}")]

    assert await titles("") == ["a pull request", "new bug", "old bug"]
    assert await titles("state=closed") == ["closed"]
    assert await titles("state=all&labels=bug") == ["closed", "new bug", "old bug"]
    assert await titles("labels=bug,URGENT") == ["new bug"]
    assert await titles("since=2024-06-01T00:00:00Z&direction=asc") == [
        "new bug",
        "a pull request",
    ]
    pull = await gh.getitem(f"/repos/{REPO}/issues/4")
    assert "pull_request" in pull
    assert_shape("issues/get", 200, pull)


async def test_bad_query_parameters_are_answered_422_and_recorded(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    with pytest.raises(BadRequest) as raised:
        await gh.getitem(f"/repos/{REPO}/issues?state=bogus&unknown=ignored")

    assert raised.value.status_code == 422
    assert github.violations == [
        f"GET /repos/{REPO}/issues: query parameter 'state': "
        "'bogus' is not one of ['open', 'closed', 'all']"
    ]


# -- comments ------------------------------------------------------------------------------


async def test_comments_written_with_a_token_are_the_bots(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    number = github.add_issue(REPO, "report please")
    created = await gh.post(f"/repos/{REPO}/issues/{number}/comments", data={"body": "On it"})
    updated = await gh.patch(
        f"/repos/{REPO}/issues/comments/{created['id']}", data={"body": "Done"}
    )
    listed = [c async for c in gh.getiter(f"/repos/{REPO}/issues/{number}/comments")]

    assert created["user"]["login"] == f"{SLUG}[bot]"
    assert created["user"]["type"] == "Bot"
    assert created["html_url"].endswith(f"/{REPO}/issues/{number}#issuecomment-{created['id']}")
    assert_shape("issues/create-comment", 201, created)
    assert_shape("issues/update-comment", 200, updated)
    assert [c["body"] for c in listed] == ["Done"]
    assert github.issue_view(REPO, number).comments[0].body == "Done"


async def test_a_comment_in_another_repository_is_not_found(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    github.add_repo(1, "octo-org/docs")
    number = github.add_issue("octo-org/docs", "elsewhere")
    comment = await gh.post(f"/repos/octo-org/docs/issues/{number}/comments", data={"body": "x"})

    with pytest.raises(BadRequest) as raised:
        await gh.getitem(f"/repos/{REPO}/issues/comments/{comment['id']}")
    assert raised.value.status_code == 404


# -- reactions -----------------------------------------------------------------------------


async def test_reactions_are_201_when_new_and_200_when_repeated(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    number = github.add_issue(REPO, "react to me")
    await github.comment(REPO, number, "alice", "/generate-report")
    comment_id = github.issue_view(REPO, number).comments[0].id
    headers = {"Authorization": f"token {gh.oauth_token}"}
    url = f"{github.url}/repos/{REPO}/issues/comments/{comment_id}/reactions"

    statuses = []
    for content in ("eyes", "eyes", "rocket"):
        async with session.post(url, headers=headers, json={"content": content}) as response:
            statuses.append(response.status)
            assert_shape("reactions/create-for-issue-comment", 201, await response.json())
    await gh.post(f"/repos/{REPO}/issues/{number}/reactions", data={"content": "+1"})

    view = github.issue_view(REPO, number)
    assert statuses == [201, 200, 201]
    assert [(r.content, r.user) for r in view.comments[0].reactions] == [
        ("eyes", f"{SLUG}[bot]"),
        ("rocket", f"{SLUG}[bot]"),
    ]
    assert [r.content for r in view.reactions] == ["+1"]
    comment = await gh.getitem(f"/repos/{REPO}/issues/comments/{comment_id}")
    assert (comment["reactions"]["total_count"], comment["reactions"]["eyes"]) == (2, 1)


async def test_an_unknown_reaction_is_422_and_a_violation(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    number = github.add_issue(REPO, "react to me")

    with pytest.raises(BadRequest) as raised:
        await gh.post(f"/repos/{REPO}/issues/{number}/reactions", data={"content": "smile"})

    assert raised.value.status_code == 422
    assert len(github.violations) == 1
    assert "body.content: 'smile' is not one of" in github.violations[0]


# -- labels ----------------------------------------------------------------------------------


async def test_adding_labels_creates_unknown_ones_and_repeats_are_no_ops(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    number = github.add_issue(REPO, "label me", labels=["bug"])
    url = f"/repos/{REPO}/issues/{number}/labels"

    first = await gh.post(url, data={"labels": ["bug", "report:requested"]})
    again = await gh.post(url, data={"labels": ["report:requested"]})
    created = await gh.getitem(f"/repos/{REPO}/labels/report:requested")

    assert [label["name"] for label in first] == ["bug", "report:requested"]
    assert again == first
    assert created["color"] == "ededed"
    assert_shape("issues/add-labels", 200, first)
    assert github.issue_view(REPO, number).labels == ["bug", "report:requested"]


async def test_removing_an_absent_label_is_404(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    number = github.add_issue(REPO, "label me", labels=["bug", "queued"])

    headers = {"Authorization": f"token {gh.oauth_token}"}
    url = f"{github.url}/repos/{REPO}/issues/{number}/labels/queued"
    async with session.delete(url, headers=headers) as response:
        remaining = await response.json()
    async with session.delete(url, headers=headers) as again:
        assert_shape("issues/remove-label", 404, await again.json())
    with pytest.raises(BadRequest) as raised:
        await gh.delete(f"/repos/{REPO}/issues/{number}/labels/queued")

    assert response.status == 200
    assert [label["name"] for label in remaining] == ["bug"]
    assert raised.value.status_code == 404
    assert str(raised.value) == "Label does not exist"


async def test_creating_an_existing_label_is_422_already_exists(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    created = await gh.post(f"/repos/{REPO}/labels", data={"name": "bot:queued", "color": "fbca04"})
    headers = {"Authorization": f"token {gh.oauth_token}"}
    url = f"{github.url}/repos/{REPO}/labels"
    async with session.post(url, headers=headers, json={"name": "BOT:queued"}) as response:
        body = await response.json()

    assert_shape("issues/create-label", 201, created)
    assert_shape("issues/create-label", 422, body)
    assert response.status == 422
    assert body["errors"] == [{"resource": "Label", "code": "already_exists", "field": "name"}]
    assert github.violations == []


# -- issue events ----------------------------------------------------------------------------


async def test_a_persons_label_changes_are_events_by_that_person(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    number = github.add_issue(REPO, "x")
    await github.label_issue(REPO, number, "queue:run", "alice")
    await github.unlabel_issue(REPO, number, "queue:run", "bob")

    events = await gh.getitem(f"/repos/{REPO}/issues/{number}/events")

    assert_shape("issues/list-events", 200, events)
    labeled, unlabeled = events
    assert [(e["event"], e["actor"]["login"]) for e in events] == [
        ("labeled", "alice"),
        ("unlabeled", "bob"),
    ]
    assert labeled["label"] == {"name": "queue:run", "color": "ededed"}
    assert unlabeled["label"] == labeled["label"]
    assert labeled["actor"]["type"] == "User"
    assert labeled["id"] < unlabeled["id"]
    for event in events:
        assert event["performed_via_github_app"] is None
        assert (event["commit_id"], event["commit_url"]) == (None, None)
        assert event["url"] == f"{github.url}/repos/{REPO}/issues/events/{event['id']}"
    assert labeled["created_at"].endswith("Z")
    assert [(e.event, e.actor, e.label, e.via_app) for e in github.issue_events(REPO, number)] == [
        ("labeled", "alice", "queue:run", False),
        ("unlabeled", "bob", "queue:run", False),
    ]
    assert github.violations == []


async def test_the_bots_label_changes_are_events_by_the_app(
    github: GitHubEmulator, gh: GitHubAPI, keys: KeyPair
) -> None:
    number = github.add_issue(REPO, "x")
    await gh.post(f"/repos/{REPO}/issues/{number}/labels", data={"labels": ["bot:running"]})
    await gh.delete(f"/repos/{REPO}/issues/{number}/labels/bot:running")

    events = await gh.getitem(f"/repos/{REPO}/issues/{number}/events")

    assert_shape("issues/list-events", 200, events)
    assert [(e["event"], e["label"]["name"]) for e in events] == [
        ("labeled", "bot:running"),
        ("unlabeled", "bot:running"),
    ]
    app = await gh.getitem("/app", jwt=app_jwt(keys))
    for event in events:
        assert (event["actor"]["login"], event["actor"]["type"]) == (f"{SLUG}[bot]", "Bot")
        via = event["performed_via_github_app"]
        assert (via["id"], via["slug"], via["owner"]["login"]) == (APP_ID, SLUG, "octocat")
        # Only the App asking about itself is told its installations_count.
        assert via == {k: v for k, v in app.items() if k != "installations_count"}
    assert github.violations == []


async def test_an_issue_added_with_labels_and_closed_has_that_history(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    opened = datetime(2024, 1, 1, 9, tzinfo=UTC)
    closed = datetime(2024, 1, 2, 9, tzinfo=UTC)
    number = github.add_issue(
        REPO,
        "old",
        user="carol",
        labels=["bug", "ui"],
        state="closed",
        created_at=opened,
        closed_at=closed,
    )

    events = await gh.getitem(f"/repos/{REPO}/issues/{number}/events")

    assert_shape("issues/list-events", 200, events)
    assert [(e["event"], e["actor"]["login"], e.get("label")) for e in events] == [
        ("labeled", "carol", {"name": "bug", "color": "ededed"}),
        ("labeled", "carol", {"name": "ui", "color": "ededed"}),
        ("closed", "carol", None),
    ]
    assert [e["created_at"] for e in events] == [
        "2024-01-01T09:00:00Z",
        "2024-01-01T09:00:00Z",
        "2024-01-02T09:00:00Z",
    ]


async def test_issue_events_are_paginated_oldest_first(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    number = github.add_issue(REPO, "busy")
    for n in range(7):
        await github.label_issue(REPO, number, f"l{n}", "alice")
    headers = {"Authorization": f"token {gh.oauth_token}"}
    base = f"{github.url}/repos/{REPO}/issues/{number}/events"

    async with session.get(f"{base}?per_page=3&page=2", headers=headers) as response:
        middle = await response.json()
        link = response.headers["Link"]
    everything = [e async for e in gh.getiter(f"/repos/{REPO}/issues/{number}/events?per_page=3")]

    assert [e["label"]["name"] for e in middle] == ["l3", "l4", "l5"]
    assert link == (
        f'<{base}?per_page=3&page=1>; rel="prev", <{base}?per_page=3&page=3>; rel="next", '
        f'<{base}?per_page=3&page=3>; rel="last", <{base}?per_page=3&page=1>; rel="first"'
    )
    assert [e["label"]["name"] for e in everything] == [f"l{n}" for n in range(7)]
    ids = [e["id"] for e in everything]
    assert ids == sorted(set(ids))  # strictly increasing
    assert_shape("issues/list-events", 200, everything)
    assert github.violations == []


async def test_events_of_an_unknown_or_unseen_issue_are_404(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    github.add_issue(OTHER_REPO, "someone else's")
    headers = {"Authorization": f"token {gh.oauth_token}"}
    statuses = []
    for path in (f"/repos/{REPO}/issues/999/events", f"/repos/{OTHER_REPO}/issues/1/events"):
        async with session.get(github.url + path, headers=headers) as response:
            statuses.append((response.status, (await response.json())["message"]))
    async with session.get(f"{github.url}/repos/{REPO}/issues/1/events") as response:
        anonymous = response.status

    assert statuses == [(404, "Not Found"), (404, "Not Found")]
    assert anonymous == 401
    assert github.violations == []


async def test_a_body_github_rejects_is_422_and_recorded(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    number = github.add_issue(REPO, "label me")

    with pytest.raises(BadRequest) as raised:
        await gh.post(f"/repos/{REPO}/issues/{number}/comments", data={"text": "hi"})

    assert raised.value.status_code == 422
    assert github.violations == [
        f"POST /repos/{REPO}/issues/{number}/comments: body: 'body' is a required property"
    ]


async def test_malformed_json_and_unknown_paths(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"token {gh.oauth_token}"}
    number = github.add_issue(REPO, "x")
    url = f"{github.url}/repos/{REPO}/issues/{number}/labels"
    async with session.post(url, headers=headers, data=b"{not json") as response:
        assert response.status == 400
        assert (await response.json())["message"] == "Problems parsing JSON"
    async with session.get(f"{github.url}/repos/{REPO}/wiki", headers=headers) as response:
        assert response.status == 404

    assert github.violations == [
        f"POST /repos/{REPO}/issues/{number}/labels: body is not valid JSON",
        f"GET /repos/{REPO}/wiki: no such operation in GitHub's REST API description",
    ]


# -- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
    ],
)
async def test_collaborator_permission_maps_roles_like_github(
    github: GitHubEmulator, gh: GitHubAPI, role: str, permission: str
) -> None:
    github.set_role(REPO, "alice", role)

    answer = await gh.getitem(f"/repos/{REPO}/collaborators/alice/permission")

    assert (answer["permission"], answer["role_name"]) == (permission, role)
    assert answer["user"]["login"] == "alice"
    assert_shape("repos/get-collaborator-permission-level", 200, answer)


async def test_permission_without_a_role(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    tokens = [await token_for(session, github, keys, n) for n in (1, 2)]
    public, private = (GitHubAPI(session, "t", oauth_token=t, base_url=github.url) for t in tokens)

    stranger = await public.getitem(f"/repos/{REPO}/collaborators/mallory/permission")
    hidden = await private.getitem(f"/repos/{OTHER_REPO}/collaborators/mallory/permission")
    owner = await public.getitem(f"/repos/{REPO}/collaborators/octo-org/permission")

    assert stranger["permission"] == "read"
    assert hidden["permission"] == "none"
    assert owner["permission"] == "admin"


# -- rate limits and conditional requests ---------------------------------------------------


async def test_304_answers_cost_no_budget(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    url = f"{github.url}/repos/{REPO}/labels"
    headers = {"Authorization": f"token {gh.oauth_token}"}
    async with session.get(url, headers=headers) as first:
        etag = first.headers["ETag"]
        remaining = int(first.headers["x-ratelimit-remaining"])
    async with session.get(url, headers={**headers, "If-None-Match": etag}) as second:
        assert await second.read() == b""
    other = await token_for(session, github, keys, 2)
    github.add_repo(2, REPO)  # the same URL, seen by another installation
    other_headers = {"Authorization": f"token {other}", "If-None-Match": etag}
    async with session.get(url, headers=other_headers) as third:
        pass

    assert second.status == 304
    assert int(second.headers["x-ratelimit-remaining"]) == remaining
    assert second.headers["ETag"] == etag
    assert third.status == 200  # one installation's ETag never matches another's
    assert [r.status for r in github.requests if r.method == "GET"] == [200, 304, 200]


async def test_rate_limit_headers_and_exhaustion(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    await gh.getitem(f"/repos/{REPO}/labels")
    assert gh.rate_limit is not None
    assert (gh.rate_limit.limit, gh.rate_limit.remaining) == (5000, 4999)

    github.set_rate_limit_remaining(1, 0)
    with pytest.raises(RateLimitExceeded):
        await gh.getitem(f"/repos/{REPO}/labels")
    limits = await gh.getitem("/rate_limit")

    assert limits["resources"]["core"]["remaining"] == 0
    assert_shape("rate-limit/get", 200, limits)
    headers = {"Authorization": f"token {gh.oauth_token}"}
    async with session.get(f"{github.url}/rate_limit", headers=headers) as response:
        assert response.headers["x-ratelimit-resource"] == "core"
        assert response.headers["x-github-request-id"]
        assert response.headers["x-ratelimit-used"] == "5000"


# -- webhook deliveries -------------------------------------------------------------------------


async def test_a_comment_is_delivered_signed_like_github(
    github: GitHubEmulator, receiver: Receiver
) -> None:
    github.set_role(REPO, "alice", "write")
    number = github.add_issue(REPO, "report please", labels=["bug"])

    delivery = await github.comment(REPO, number, "alice", "/generate-report")

    headers, body = receiver.received[0]
    sansio.validate_event(body, signature=headers["X-Hub-Signature-256"], secret=SECRET)
    sansio.validate_event(body, signature=headers["X-Hub-Signature"], secret=SECRET)
    event = sansio.Event.from_http({k.lower(): v for k, v in headers.items()}, body, secret=SECRET)
    assert (event.event, event.delivery_id) == ("issue_comment", delivery.id)
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == str(APP_ID)
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["X-GitHub-Hook-ID"].isdigit()
    payload = event.data
    assert payload["action"] == "created"
    assert payload["comment"]["body"] == "/generate-report"
    assert payload["comment"]["author_association"] == "COLLABORATOR"
    assert payload["issue"]["number"] == number
    assert [label["name"] for label in payload["issue"]["labels"]] == ["bug"]
    assert payload["repository"]["full_name"] == REPO
    assert payload["repository"]["url"] == f"{github.url}/repos/{REPO}"
    assert payload["installation"]["id"] == 1
    assert payload["sender"]["login"] == "alice"
    assert (delivery.status_code, delivery.ok, delivery.action) == (202, True, "created")
    assert github.deliveries == [delivery]


async def test_redelivery_keeps_the_delivery_id(github: GitHubEmulator, receiver: Receiver) -> None:
    number = github.add_issue(REPO, "x")
    first = await github.comment(REPO, number, "octo-org", "hello")

    again = await github.redeliver(first.id)

    ids = [headers["X-GitHub-Delivery"] for headers, _ in receiver.received]
    assert ids == [first.id, first.id]
    assert again.payload == first.payload
    assert first.payload["comment"]["author_association"] == "OWNER"


async def test_edits_and_labels_are_delivered(github: GitHubEmulator, receiver: Receiver) -> None:
    number = github.add_issue(REPO, "x")
    await github.comment(REPO, number, "bob", "/cmd one")
    comment_id = github.issue_view(REPO, number).comments[0].id

    await github.edit_comment(comment_id, "/cmd two", "bob")
    await github.label_issue(REPO, number, "report:requested", "bob")
    await github.unlabel_issue(REPO, number, "report:requested", "bob")

    (_, created), (_, edited), (_, labeled), (_, unlabeled) = receiver.events()
    assert created["comment"]["author_association"] == "NONE"
    assert edited["changes"] == {"body": {"from": "/cmd one"}}
    assert edited["comment"]["body"] == "/cmd two"
    assert (labeled["action"], labeled["label"]["name"]) == ("labeled", "report:requested")
    assert unlabeled["action"] == "unlabeled"
    assert github.issue_view(REPO, number).labels == []


async def test_the_bots_own_writes_produce_deliveries_from_a_bot(
    github: GitHubEmulator, gh: GitHubAPI, receiver: Receiver
) -> None:
    number = github.add_issue(REPO, "x")

    await gh.post(f"/repos/{REPO}/issues/{number}/comments", data={"body": "Working on it"})
    await gh.post(f"/repos/{REPO}/issues/{number}/labels", data={"labels": ["bot:running"]})
    await github.settle()

    # Like GitHub, the emulator does not promise an order between deliveries.
    events = dict(receiver.events())
    assert (events["issue_comment"]["action"], events["issues"]["action"]) == (
        "created",
        "labeled",
    )
    for payload in events.values():
        assert payload["sender"]["login"] == f"{SLUG}[bot]"
        assert payload["sender"]["type"] == "Bot"
    assert events["issue_comment"]["comment"]["user"]["type"] == "Bot"
    assert events["issues"]["label"]["name"] == "bot:running"
    assert len(github.deliveries) == 2


async def test_own_events_can_be_switched_off(
    keys: KeyPair, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    options = {"webhook_url": receiver.url, "deliver_own_events": False}
    async with make_emulator(keys, **options) as github:
        token = await token_for(session, github, keys, 1)
        gh = GitHubAPI(session, "t", oauth_token=token, base_url=github.url)
        number = github.add_issue(REPO, "x")
        await gh.post(f"/repos/{REPO}/issues/{number}/comments", data={"body": "quiet"})
        await github.settle()

    assert receiver.received == []


async def test_a_refused_connection_is_a_failed_delivery(keys: KeyPair) -> None:
    github = make_emulator(keys, webhook_url="http://127.0.0.1:9/hook")
    github.add_issue(REPO, "x")

    delivery = await github.comment(REPO, 1, "alice", "hi")
    await github.stop()

    assert (delivery.ok, delivery.status_code) == (False, None)
    assert delivery.error


async def test_installation_lifecycle(
    github: GitHubEmulator, receiver: Receiver, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    installed = await github.install(3, "acme", ["acme/api"])
    token = await token_for(session, github, keys, 3)
    gh = GitHubAPI(session, "t", oauth_token=token, base_url=github.url)
    assert await gh.getitem("/repos/acme/api/labels") == []
    added = await github.add_repositories(3, ["acme/web"])
    removed = await github.remove_repositories(3, ["acme/api"])
    gone = await github.uninstall(3)
    ping = await github.ping()

    assert installed.payload["installation"]["id"] == 3
    assert [r["full_name"] for r in installed.payload["repositories"]] == ["acme/api"]
    assert [r["full_name"] for r in added.payload["repositories_added"]] == ["acme/web"]
    assert [r["full_name"] for r in removed.payload["repositories_removed"]] == ["acme/api"]
    assert (gone.event, gone.action) == ("installation", "deleted")
    assert ping.payload["hook"]["type"] == "App"
    assert [h["X-GitHub-Event"] for h, _ in receiver.received] == [
        "installation",
        "installation_repositories",
        "installation_repositories",
        "installation",
        "ping",
    ]
    with pytest.raises(BadRequest) as raised:
        await gh.getitem("/repos/acme/web/labels")
    assert raised.value.status_code == 401


# -- the control API --------------------------------------------------------------------------


async def test_the_control_api_drives_a_running_emulator(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession, receiver: Receiver
) -> None:
    number = github.add_issue(REPO, "x")
    before = len(github.requests)
    await gh.getitem(f"/repos/{REPO}/issues/{number}")

    comment = {"repo": REPO, "issue": number, "user": "alice", "body": "/generate-report"}
    async with session.post(f"{github.url}/_emulator/comment", json=comment) as response:
        delivered = await response.json()
    async with session.get(f"{github.url}/_emulator/issues/{REPO}/{number}") as response:
        view = await response.json()
    async with session.get(f"{github.url}/_emulator/requests?after={before}") as response:
        recorded = await response.json()
    async with session.get(f"{github.url}/_emulator/issues/{REPO}/999") as response:
        missing = response.status

    assert delivered["status"] == 202
    assert delivered["delivery_id"] == receiver.received[0][0]["X-GitHub-Delivery"]
    assert view["labels"] == []
    assert view["comments"][0]["user"] == "alice"
    assert [(r["index"], r["path"]) for r in recorded["requests"]] == [
        (before, f"/repos/{REPO}/issues/{number}")
    ]
    assert recorded["next"] == len(github.requests)
    assert missing == 404


async def test_requests_are_recorded(github: GitHubEmulator, gh: GitHubAPI) -> None:
    number = github.add_issue(REPO, "x")
    await gh.post(f"/repos/{REPO}/issues/{number}/labels", data={"labels": ["a"]})

    token_request, write = github.writes()
    assert (token_request.auth, token_request.status) == ("jwt", 201)
    assert (write.method, write.path, write.status) == (
        "POST",
        f"/repos/{REPO}/issues/{number}/labels",
        200,
    )
    assert write.body == {"labels": ["a"]}
    assert (write.auth, write.installation_id) == ("installation", 1)
    assert write.duration_ms >= 0
