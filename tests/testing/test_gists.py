"""The emulator's gists, over real HTTP: gidgethub where the bot would use it, plain aiohttp
where headers matter."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import ANY

import aiohttp
import pytest
from gidgethub import BadRequest
from gidgethub.aiohttp import GitHubAPI
from gidgethub.apps import get_installation_access_token, get_jwt
from jsonschema import Draft4Validator

from bot.testing import GitHubEmulator, KeyPair, generate_key_pair
from bot.testing.faults import Latency
from bot.testing.gist_handlers import GIST_ROUTES
from bot.testing.openapi import load_openapi

APP_ID = 4242
OWNER = "state-keeper"
MB = 1024 * 1024
CONDITIONAL_400 = (
    "Conditional request headers are not allowed in unsafe requests unless supported by the "
    "endpoint"
)


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return generate_key_pair()


@pytest.fixture
async def github(keys: KeyPair) -> AsyncIterator[GitHubEmulator]:
    emulator = GitHubEmulator(
        app_id=APP_ID, app_slug="queue-bot", public_key_pem=keys.public_pem, webhook_secret="s"
    )
    emulator.add_installation(1, "octo-org")
    async with emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def token(github: GitHubEmulator) -> str:
    return github.add_user_token(OWNER)


@pytest.fixture
def gh(github: GitHubEmulator, session: aiohttp.ClientSession, token: str) -> GitHubAPI:
    return GitHubAPI(session, "test", oauth_token=token, base_url=github.url)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def create(gh: GitHubAPI, files: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"files": {name: {"content": content} for name, content in files.items()}, **fields}
    gist: dict[str, Any] = await gh.post("/gists", data=body)
    return gist


def assert_shape(operation_id: str, status: int, body: Any) -> None:
    validator = load_openapi().response_validator(operation_id, status)
    assert validator is not None
    assert_valid(validator, body)


def assert_valid(validator: Draft4Validator, instance: Any) -> None:
    assert [f"{e.json_path}: {e.message}" for e in validator.iter_errors(instance)] == []


# -- shapes -------------------------------------------------------------------------------


async def test_every_gist_operation_answers_in_its_documented_shape(
    github: GitHubEmulator, session: aiohttp.ClientSession, token: str
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "{}\n"}, description="state")
    version = github.gist_history(gist_id)[0]
    calls: list[tuple[str, str, Any, int]] = [
        ("POST", "/gists", {"files": {"b.md": {"content": "# b"}}, "public": "false"}, 201),
        ("GET", "/gists", None, 200),
        ("GET", f"/gists/{gist_id}", None, 200),
        ("PATCH", f"/gists/{gist_id}", {"files": {"a.json": {"content": "[]\n"}}}, 200),
        ("GET", f"/gists/{gist_id}/commits", None, 200),
        ("GET", f"/gists/{gist_id}/{version}", None, 200),
        ("DELETE", f"/gists/{gist_id}", None, 204),
    ]
    seen = set()
    for method, path, body, status in calls:
        found = load_openapi().match(method, path)
        assert found is not None
        async with session.request(
            method, github.url + path, json=body, headers=auth(token)
        ) as response:
            assert response.status == status, (method, path, await response.text())
            if status != 204:
                assert_shape(found[0].id, status, await response.json())
        seen.add(found[0].id)

    assert seen == set(GIST_ROUTES)
    assert github.violations == []


async def test_a_created_gist_reads_back_in_githubs_shape(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    created = await create(gh, {"state.json": '{"a": 1}\n', "notes.md": "x\ny\n"})
    gist = await gh.getitem("/gists/{id}", {"id": created["id"]})

    assert len(gist["id"]) == 32
    assert set(gist["id"]) <= set("0123456789abcdef")
    assert (gist["public"], gist["owner"]["login"], gist["user"]) == (False, OWNER, None)
    state = gist["files"]["state.json"]
    assert state == {
        "filename": "state.json",
        "type": "application/json",
        "language": "JSON",
        "raw_url": state["raw_url"],
        "size": 9,
        "truncated": False,
        "content": '{"a": 1}\n',
        "encoding": "utf-8",
    }
    [first] = gist["history"]
    assert len(first["version"]) == 40
    assert first["change_status"] == {"total": 3, "additions": 3, "deletions": 0}
    assert first["user"]["login"] == OWNER
    assert gist == created
    assert github.gist_view(gist["id"]) == {"state.json": '{"a": 1}\n', "notes.md": "x\ny\n"}
    assert github.gists_of(OWNER) == [gist["id"]]


async def test_creating_answers_201_with_a_location(
    github: GitHubEmulator, session: aiohttp.ClientSession, token: str
) -> None:
    body = {"files": {"a.txt": {"content": "a"}}, "public": True}
    async with session.post(f"{github.url}/gists", json=body, headers=auth(token)) as response:
        gist = await response.json()
        assert response.status == 201
        assert response.headers["Location"] == f"{github.url}/gists/{gist['id']}"
        assert response.headers["X-OAuth-Scopes"] == "gist"
        assert response.headers["x-ratelimit-limit"] == "5000"
    assert gist["public"] is True


# -- updates ------------------------------------------------------------------------------


async def test_a_patch_changes_the_files_it_names_and_leaves_the_others(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1", "b.json": "2"}, description="d")
    answer = await gh.patch(
        "/gists/{id}",
        {"id": gist_id},
        data={"files": {"a.json": {"content": "10"}, "c.json": {"content": "3"}}},
    )

    assert github.gist_view(gist_id) == {"a.json": "10", "b.json": "2", "c.json": "3"}
    assert {name: f["content"] for name, f in answer["files"].items()} == github.gist_view(gist_id)
    assert answer["description"] == "d"
    assert len(github.gist_history(gist_id)) == 2
    assert answer["history"][0]["change_status"] == {"total": 3, "additions": 2, "deletions": 1}


@pytest.mark.parametrize("deletion", [{}, None], ids=["empty-object", "null"])
async def test_an_empty_object_or_null_deletes_a_file(
    github: GitHubEmulator, gh: GitHubAPI, deletion: dict[str, Any] | None
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1", "b.json": "2"})
    await gh.patch("/gists/{id}", {"id": gist_id}, data={"files": {"a.json": deletion}})

    assert github.gist_view(gist_id) == {"b.json": "2"}
    assert github.violations == []


async def test_deleting_the_last_file_is_422(github: GitHubEmulator, gh: GitHubAPI) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    with pytest.raises(BadRequest) as refused:
        await gh.patch("/gists/{id}", {"id": gist_id}, data={"files": {"a.json": None}})

    assert refused.value.status_code == 422
    assert github.gist_view(gist_id) == {"a.json": "1"}
    assert len(github.gist_history(gist_id)) == 1


async def test_filename_renames_with_or_without_new_content(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1", "b.json": "2"})
    files = {"a.json": {"filename": "x.json"}, "b.json": {"filename": "y.json", "content": "3"}}
    answer = await gh.patch("/gists/{id}", {"id": gist_id}, data={"files": files})

    assert github.gist_view(gist_id) == {"x.json": "1", "y.json": "3"}
    # A rename is diffed against the file's old self, as git detects renames.
    assert answer["history"][0]["change_status"] == {"total": 2, "additions": 1, "deletions": 1}


async def test_a_patch_that_changes_nothing_is_200_without_a_revision(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"}, description="d")
    before = await gh.getitem("/gists/{id}", {"id": gist_id})
    answer = await gh.patch(
        "/gists/{id}",
        {"id": gist_id},
        data={"description": "d", "files": {"a.json": {"content": "1"}, "gone": None}},
    )

    assert answer == before
    assert len(github.gist_history(gist_id)) == 1


async def test_a_description_change_makes_no_revision(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"}, description="old")
    answer = await gh.patch("/gists/{id}", {"id": gist_id}, data={"description": "new"})

    assert answer["description"] == "new"
    assert len(github.gist_history(gist_id)) == 1


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("If-Match", '"abc"'),
        ("If-None-Match", '"abc"'),
        ("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT"),
        ("If-Unmodified-Since", "Thu, 01 Jan 2015 00:00:00 GMT"),
    ],
)
async def test_a_conditional_patch_is_400_and_a_violation(
    github: GitHubEmulator, session: aiohttp.ClientSession, token: str, header: str, value: str
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    async with session.patch(
        f"{github.url}/gists/{gist_id}",
        json={"files": {"a.json": {"content": "2"}}},
        headers={**auth(token), header: value},
    ) as response:
        assert response.status == 400
        assert (await response.json())["message"] == CONDITIONAL_400

    assert github.gist_view(gist_id) == {"a.json": "1"}
    assert github.violations == [
        f"PATCH /gists/{gist_id}: conditional header {header} on an unsafe request"
    ]
    [recorded] = [r for r in github.requests if r.method == "PATCH"]
    assert recorded.headers[header.lower()] == value
    assert "authorization" not in recorded.headers


async def test_requests_record_the_user_and_the_headers(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist = await create(gh, {"a.json": "1"})
    await gh.patch("/gists/{id}", {"id": gist["id"]}, data={"files": {"a.json": {"content": "2"}}})

    post, patch = github.writes()
    assert (post.auth, post.user, post.installation_id) == ("user", OWNER, None)
    assert not any("if-match" in r.headers for r in github.requests)
    assert patch.headers["user-agent"] == "test"
    assert "authorization" not in patch.headers


# -- history ------------------------------------------------------------------------------


async def test_commits_are_newest_first_and_each_follows_the_next(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "0"})
    written = [github.gist_history(gist_id)[0]]
    for n in range(1, 4):
        answer = await gh.patch(
            "/gists/{id}", {"id": gist_id}, data={"files": {"a.json": {"content": str(n)}}}
        )
        written.append(answer["history"][0]["version"])

    commits = [c async for c in gh.getiter("/gists/{id}/commits?per_page=2", {"id": gist_id})]
    versions = [commit["version"] for commit in commits]
    assert versions == written[::-1] == github.gist_history(gist_id)
    # Each version's parent is the one after it in the list, as a store verifies its write.
    for n, version in enumerate(written[1:], start=1):
        assert versions[versions.index(version) + 1] == written[n - 1]
    assert commits[0]["url"] == f"{github.url}/gists/{gist_id}/{written[-1]}"
    assert commits[-1]["change_status"] == {"total": 1, "additions": 1, "deletions": 0}
    assert commits[0]["change_status"] == {"total": 2, "additions": 1, "deletions": 1}


async def test_commits_are_paginated_with_link_headers(
    github: GitHubEmulator, session: aiohttp.ClientSession, token: str
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "0"})
    for n in range(1, 5):
        github.foreign_write(gist_id, {"a.json": str(n)}, user=OWNER)
    url = f"{github.url}/gists/{gist_id}/commits?per_page=2&page=2"
    async with session.get(url, headers=auth(token)) as response:
        page = await response.json()
        link = response.headers["Link"]

    assert [c["version"] for c in page] == github.gist_history(gist_id)[2:4]
    assert 'page=3>; rel="next"' in link
    assert 'page=1>; rel="first"' in link


async def test_a_revision_shows_the_gist_as_it_was(github: GitHubEmulator, gh: GitHubAPI) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "old", "b.json": "kept"})
    first = github.gist_history(gist_id)[0]
    github.foreign_write(gist_id, {"a.json": "new", "b.json": None, "c.json": "added"})

    then = await gh.getitem("/gists/{id}/{sha}", {"id": gist_id, "sha": first})
    assert {name: f["content"] for name, f in then["files"].items()} == {
        "a.json": "old",
        "b.json": "kept",
    }
    assert [h["version"] for h in then["history"]] == [first]
    with pytest.raises(BadRequest) as missing:
        await gh.getitem("/gists/{id}/{sha}", {"id": gist_id, "sha": "0" * 40})
    assert missing.value.status_code == 404


# -- conditional reads --------------------------------------------------------------------


async def test_an_etag_read_is_304_free_until_the_gist_changes(
    github: GitHubEmulator, session: aiohttp.ClientSession, token: str
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    url = f"{github.url}/gists/{gist_id}"
    async with session.get(url, headers=auth(token)) as first:
        etag = first.headers["ETag"]
        remaining = int(first.headers["x-ratelimit-remaining"])

    conditional = {**auth(token), "If-None-Match": etag}
    async with session.get(url, headers=conditional) as again:
        assert again.status == 304
        assert int(again.headers["x-ratelimit-remaining"]) == remaining

    github.foreign_write(gist_id, {"a.json": "2"})
    async with session.get(url, headers=conditional) as changed:
        assert changed.status == 200
        assert changed.headers["ETag"] != etag
        assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1


async def test_gidgethubs_cache_gets_304s_for_an_unchanged_gist(
    github: GitHubEmulator, session: aiohttp.ClientSession, token: str
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    gh = GitHubAPI(session, "test", oauth_token=token, base_url=github.url, cache={})
    first = await gh.getitem("/gists/{id}", {"id": gist_id})
    second = await gh.getitem("/gists/{id}", {"id": gist_id})

    assert first == second
    assert [r.status for r in github.requests] == [200, 304]
    # The 304 cost nothing: one request of the person's 5000 is used.
    assert (await gh.getitem("/rate_limit"))["rate"] == {
        "limit": 5000,
        "remaining": 4999,
        "reset": ANY,
        "used": 1,
    }


# -- who may do what ----------------------------------------------------------------------


async def test_gists_take_only_user_tokens(
    github: GitHubEmulator, session: aiohttp.ClientSession, keys: KeyPair
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    app = GitHubAPI(session, "test", base_url=github.url)
    installation = await get_installation_access_token(
        app, installation_id="1", app_id=str(APP_ID), private_key=keys.private_pem
    )
    jwt = get_jwt(app_id=str(APP_ID), private_key=keys.private_pem)
    credentials = {
        "installation": (
            f"token {installation['token']}",
            403,
            "Resource not accessible by integration",
        ),
        "jwt": (f"Bearer {jwt}", 403, "Resource not accessible by integration"),
        "none": (None, 401, "Requires authentication"),
        "unknown": ("token ghp_" + "x" * 36, 401, "Bad credentials"),
    }
    for what, (header, status, message) in credentials.items():
        headers = {"Authorization": header} if header else {}
        async with session.get(f"{github.url}/gists/{gist_id}", headers=headers) as response:
            assert (response.status, (await response.json())["message"]) == (status, message), what


async def test_without_the_gist_scope_a_token_reads_but_cannot_write(
    github: GitHubEmulator, session: aiohttp.ClientSession
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    gh = GitHubAPI(
        session, "test", oauth_token=github.add_user_token(OWNER, scopes=()), base_url=github.url
    )
    assert (await gh.getitem("/gists/{id}", {"id": gist_id}))["id"] == gist_id
    for call in (
        gh.patch("/gists/{id}", {"id": gist_id}, data={"files": {"a.json": {"content": "2"}}}),
        gh.post("/gists", data={"files": {"b": {"content": "b"}}}),
    ):
        with pytest.raises(BadRequest) as hidden:
            await call
        assert hidden.value.status_code == 404


async def test_a_secret_gist_is_readable_by_id_but_only_its_owner_changes_it(
    github: GitHubEmulator, session: aiohttp.ClientSession
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    other = GitHubAPI(
        session, "test", oauth_token=github.add_user_token("mallory"), base_url=github.url
    )
    assert (await other.getitem("/gists/{id}", {"id": gist_id}))["public"] is False
    for call in (
        other.patch("/gists/{id}", {"id": gist_id}, data={"files": {"a.json": {"content": "x"}}}),
        other.delete("/gists/{id}", {"id": gist_id}),
    ):
        with pytest.raises(BadRequest) as refused:
            await call
        assert refused.value.status_code == 404
    assert github.gist_view(gist_id) == {"a.json": "1"}


async def test_delete_is_204_and_the_gist_is_gone(github: GitHubEmulator, gh: GitHubAPI) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    await gh.delete("/gists/{id}", {"id": gist_id})

    assert github.requests[-1].status == 204
    assert github.gists_of(OWNER) == []
    with pytest.raises(BadRequest) as gone:
        await gh.getitem("/gists/{id}", {"id": gist_id})
    assert gone.value.status_code == 404


# -- listing ------------------------------------------------------------------------------


async def test_listing_is_the_owners_gists_newest_updated_first_without_content(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    ids = [github.add_gist(OWNER, {f"{n}.json": str(n)}) for n in range(5)]
    github.add_gist("someone-else", {"theirs.json": "x"})
    github.foreign_write(ids[1], {"1.json": "changed"})

    listed = [g async for g in gh.getiter("/gists?per_page=2")]
    assert [g["id"] for g in listed] == [ids[1], ids[4], ids[3], ids[2], ids[0]]
    assert all("content" not in f for g in listed for f in g["files"].values())
    assert listed[0]["files"]["1.json"]["size"] == len("changed")
    assert len([r for r in github.requests if r.path == "/gists"]) == 3

    future = await gh.getitem("/gists?since=2999-01-01T00:00:00Z")
    assert future == []


# -- truncation ---------------------------------------------------------------------------


async def test_content_over_1_mb_is_truncated_and_raw_url_has_all_of_it(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    big = "é" * (MB // 2) + "tail"  # 2 bytes a character: the cut falls between characters
    gist_id = github.add_gist(OWNER, {"big.txt": big, "small.txt": "s"})
    gist = await gh.getitem("/gists/{id}", {"id": gist_id})
    file = gist["files"]["big.txt"]

    assert (file["truncated"], file["size"]) == (True, len(big.encode()))
    assert file["content"] == big[: MB // 2]
    assert gist["files"]["small.txt"]["truncated"] is False
    counted = len(github.requests)
    async with session.get(file["raw_url"]) as raw:  # no credential needed
        assert raw.status == 200
        assert raw.content_type == "text/plain"
        assert await raw.text() == big
    assert len(github.requests) == counted


async def test_a_file_over_1_mb_is_written_whole_over_http(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    big = "x" * (2 * MB)
    gist = await create(gh, {"big.txt": "small"})
    answer = await gh.patch(
        "/gists/{id}", {"id": gist["id"]}, data={"files": {"big.txt": {"content": big}}}
    )

    assert github.gist_view(gist["id"]) == {"big.txt": big}
    assert answer["files"]["big.txt"]["truncated"] is True
    assert len(answer["files"]["big.txt"]["content"]) == MB


async def test_a_raw_url_keeps_its_revisions_content(
    github: GitHubEmulator, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    gist_id = github.add_gist(OWNER, {"a b.txt": "first"})
    url = (await gh.getitem("/gists/{id}", {"id": gist_id}))["files"]["a b.txt"]["raw_url"]
    github.foreign_write(gist_id, {"a b.txt": "second"})

    async with session.get(url) as raw:
        assert await raw.text() == "first"
    async with session.get(url.replace(github.gist_history(gist_id)[1], "0" * 40)) as missing:
        assert missing.status == 404


# -- faults -------------------------------------------------------------------------------


async def test_latency_delays_every_answer_until_switched_off(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1"})
    github.set_latency(0.05)
    started = time.monotonic()
    await gh.getitem("/gists/{id}", {"id": gist_id})
    assert time.monotonic() - started >= 0.05

    github.set_latency(0)
    started = time.monotonic()
    await gh.getitem("/gists/{id}", {"id": gist_id})
    assert time.monotonic() - started < 0.05


def test_jitter_is_uniform_around_the_latency_and_repeatable_with_a_seed() -> None:
    first, second = Latency(), Latency()
    first.set(0.05, jitter=0.02, seed=7)
    second.set(0.05, jitter=0.02, seed=7)
    draws = [first.draw() for _ in range(50)]

    assert draws == [second.draw() for _ in range(50)]
    assert all(0.03 <= d <= 0.07 for d in draws)
    assert len(set(draws)) > 1
    with pytest.raises(ValueError, match="negative"):
        first.set(-1)


async def test_foreign_write_makes_a_revision_by_another_user(github: GitHubEmulator) -> None:
    gist_id = github.add_gist(OWNER, {"a.json": "1", "b.json": "2"})
    version = github.foreign_write(gist_id, {"a.json": "edited", "b.json": None})

    assert github.gist_view(gist_id) == {"a.json": "edited"}
    assert github.gist_history(gist_id)[0] == version
    assert github.gists.require(gist_id).head.user.login == "someone-else"
    # Writing what is already there changes nothing.
    assert github.foreign_write(gist_id, {"a.json": "edited"}) == version


async def test_a_foreign_write_slipped_before_the_next_patch_lands_first(
    github: GitHubEmulator, gh: GitHubAPI
) -> None:
    gist_id = github.add_gist(OWNER, {"state.json": "0", "notes.md": "n"})
    read = (await gh.getitem("/gists/{id}", {"id": gist_id}))["history"][0]["version"]
    foreign: list[str] = []

    def person_edits(emulator: GitHubEmulator) -> None:
        foreign.append(emulator.foreign_write(gist_id, {"notes.md": "by hand"}))

    github.on_next_gist_patch(gist_id, person_edits)
    answer = await gh.patch(
        "/gists/{id}", {"id": gist_id}, data={"files": {"state.json": {"content": "1"}}}
    )
    ours = answer["history"][0]["version"]

    # The bot's write sits on the person's, not on what the bot read: a store must notice.
    assert github.gist_history(gist_id) == [ours, foreign[0], read]
    assert github.gist_view(gist_id) == {"state.json": "1", "notes.md": "by hand"}
    await gh.patch("/gists/{id}", {"id": gist_id}, data={"files": {"state.json": {"content": "2"}}})
    assert len(foreign) == 1  # once only
