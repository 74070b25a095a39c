"""The Gist store keeps every acknowledged update (invariant 4), over real HTTP.

The emulator's gists behave like GitHub's: no conditional PATCH, history via /commits,
revisions by sha, truncation over 1 MB; and it can slip a person's edit in between the
bot's read and its write.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from cachetools import LRUCache
from gidgethub.aiohttp import GitHubAPI

from bot.state import BotState, StateError, Written, with_command_data
from bot.state.gist import COMMAND_DATA_FILE, RUNS_FILE, GistStore, find_or_create_gist
from bot.testing import GitHubEmulator, KeyPair

OWNER = "state-owner"


@dataclass
class GistWorld:
    emulator: GitHubEmulator
    session: aiohttp.ClientSession
    token: str

    def api(self) -> GitHubAPI:
        return GitHubAPI(
            self.session, "test", cache=LRUCache(maxsize=64), base_url=self.emulator.url
        )

    async def store(self) -> GistStore:
        api = self.api()
        gist_id = await find_or_create_gist(api, self.token)
        return GistStore(api, self.session, gist_id, token=self.token, backoff_seconds=0.001)

    def patches(self) -> list[dict[str, object]]:
        return [r.body for r in self.emulator.requests if r.method == "PATCH"]  # type: ignore[misc]


@pytest.fixture
async def world(app_keys: KeyPair) -> AsyncIterator[GistWorld]:
    emulator = GitHubEmulator(
        app_id=1, app_slug="bot", public_key_pem=app_keys.public_pem, webhook_secret="s"
    )
    token = emulator.add_user_token(OWNER)
    await emulator.start()
    async with aiohttp.ClientSession() as session:
        yield GistWorld(emulator, session, token)
    await emulator.stop()
    assert emulator.violations == []
    assert not any("if-match" in r.headers for r in emulator.requests)


def adding(key: str) -> object:
    return lambda state: with_command_data(state, key, {"key": key})


async def test_find_or_create_makes_one_gist_even_when_racing(world: GistWorld) -> None:
    ids = await asyncio.gather(*(find_or_create_gist(world.api(), world.token) for _ in range(3)))

    assert len(set(ids)) == 1
    assert world.emulator.gists_of(OWNER) == [ids[0]]
    assert await find_or_create_gist(world.api(), world.token) == ids[0]


async def test_an_update_patches_only_the_files_it_changes(world: GistWorld) -> None:
    store = await world.store()
    await store.update(adding("report@o/r"))

    (patch,) = world.patches()
    assert set(patch["files"]) == {COMMAND_DATA_FILE}  # type: ignore[arg-type]
    assert (await store.read()).command_data == {"report@o/r": {"key": "report@o/r"}}


async def test_concurrent_updates_with_a_person_editing_lose_nothing(world: GistWorld) -> None:
    await run_concurrent_updates(world, latency=None)


async def test_concurrent_updates_under_random_latency(world: GistWorld) -> None:
    await run_concurrent_updates(world, latency=0.01)


async def run_concurrent_updates(world: GistWorld, latency: float | None) -> None:
    store = await world.store()
    gist_id = store.gist_id
    if latency is not None:
        world.emulator.set_latency(latency, jitter=latency, seed=7)

    def person_edits(note: str) -> None:
        # Someone edits the gist by hand: a note file, and a key in the bot's own data.
        current = json.loads(world.emulator.gist_view(gist_id)[COMMAND_DATA_FILE])
        current[f"human@{note}"] = {"by": "hand"}
        world.emulator.foreign_write(
            gist_id, {f"{note}.md": f"# {note}\n", COMMAND_DATA_FILE: json.dumps(current)}
        )

    keys = [f"cmd{i}@o/r" for i in range(100)]
    rng = random.Random(3)

    async def one(key: str) -> Written:
        await asyncio.sleep(rng.uniform(0, 0.02))
        return await store.update(adding(key))  # type: ignore[arg-type]

    # Two waves of 50 concurrent runs; before each wave's first write, a person edits.
    for note, wave in (("first", keys[:50]), ("second", keys[50:])):
        world.emulator.on_next_gist_patch(gist_id, lambda _, note=note: person_edits(note))
        await asyncio.gather(*(one(key) for key in wave))

    files = world.emulator.gist_view(gist_id)
    data = json.loads(files[COMMAND_DATA_FILE])
    assert set(keys) <= set(data)  # every acknowledged update is there
    assert {"human@first", "human@second"} <= set(data)  # and the person's edits too
    assert {"first.md", "second.md"} <= set(files)
    assert len(world.patches()) <= 40  # group commit: far fewer writes than updates


async def test_a_write_cut_off_midway_loses_nothing_acknowledged(world: GistWorld) -> None:
    store = await world.store()
    acknowledged = [f"early{i}@o/r" for i in range(5)]
    for key in acknowledged:
        await store.update(adding(key))  # type: ignore[arg-type]
    world.emulator.set_latency(0.2)
    cut = asyncio.create_task(store.update(adding("cut@o/r")))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    cut.cancel()  # the process dies mid-write
    with pytest.raises(asyncio.CancelledError):
        await cut
    world.emulator.set_latency(0)

    restarted = await world.store()  # a new process finds the same gist
    assert set(acknowledged) <= set((await restarted.read()).command_data)
    await restarted.update(adding("after@o/r"))  # type: ignore[arg-type]
    assert "after@o/r" in (await restarted.read()).command_data


async def test_contents_over_one_megabyte_are_read_whole(world: GistWorld) -> None:
    store = await world.store()
    big = "x" * 1_200_000
    await store.update(lambda s: with_command_data(s, "big@o/r", {"blob": big}))

    assert (await store.read()).command_data["big@o/r"]["blob"] == big


async def test_a_newer_schema_stops_writes(world: GistWorld) -> None:
    store = await world.store()
    world.emulator.foreign_write(store.gist_id, {"state.json": '{"schema_version": 9}'})

    with pytest.raises(StateError, match="schema_version 9, newer than"):
        await store.update(adding("x@o/r"))  # type: ignore[arg-type]
    assert world.patches() == []


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        pytest.param(COMMAND_DATA_FILE, "{ this is not json", id="invalid-json"),
        pytest.param(RUNS_FILE, '{"runs": "should be a list"}', id="fails-the-schema"),
    ],
)
async def test_a_gist_edited_into_bad_content_is_recovered(
    world: GistWorld, name: str, bad: str
) -> None:
    store = await world.store()
    await store.update(adding("kept@o/r"))  # type: ignore[arg-type]
    world.emulator.foreign_write(store.gist_id, {name: bad})

    assert "kept@o/r" in (await store.read()).command_data  # carries on from the last valid
    (problem,) = await store.problems()  # and `bot state verify` says why
    assert "not valid" in problem
    written = await store.update(adding("new@o/r"))  # type: ignore[arg-type]
    assert len(written.notices) == 1
    assert "not valid" in written.notices[0]
    assert "carried on from revision" in written.notices[0]

    files = world.emulator.gist_view(store.gist_id)
    (backup,) = [file for file in files if file.startswith("invalid-")]
    assert backup.endswith(name)
    assert files[backup] == bad
    assert {"kept@o/r", "new@o/r"} <= set(json.loads(files[COMMAND_DATA_FILE]))
    assert (await store.update(adding("later@o/r"))).notices == ()  # type: ignore[arg-type]
    assert await store.problems() == []  # repaired by the write


async def busy_writer(world: GistWorld, store: GistStore) -> asyncio.Task[Written]:
    """A first update that holds the lock for a while (50 ms a call), so the updates made
    meanwhile queue up and share the next batch."""
    world.emulator.set_latency(0.05)
    task = asyncio.create_task(store.update(adding("first@o/r")))  # type: ignore[arg-type]
    await asyncio.sleep(0.02)
    return task


async def test_a_broken_update_fails_only_its_caller_in_a_shared_batch(world: GistWorld) -> None:
    store = await world.store()
    first = await busy_writer(world, store)

    def raises(state: BotState) -> BotState:
        raise ValueError("bug in one command")

    def unwritable(state: BotState) -> BotState:
        return with_command_data(state, "bad@o/r", {"thing": object()})

    results = await asyncio.gather(
        store.update(adding("good@o/r")),  # type: ignore[arg-type]
        store.update(raises),
        store.update(unwritable),
        return_exceptions=True,
    )
    await first
    world.emulator.set_latency(0)

    assert isinstance(results[0], Written)
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], Exception)
    assert set((await store.read()).command_data) == {"first@o/r", "good@o/r"}
    assert len(world.patches()) == 2  # the good update and the first one: two batches


async def test_a_writer_cancelled_mid_batch_hands_the_others_on(world: GistWorld) -> None:
    store = await world.store()
    first = await busy_writer(world, store)
    second = asyncio.create_task(store.update(adding("second@o/r")))  # type: ignore[arg-type]
    third = asyncio.create_task(store.update(adding("third@o/r")))  # type: ignore[arg-type]
    await first
    await asyncio.sleep(0.01)  # `second` now holds the lock, writing the batch [second, third]
    second.cancel()

    written = await asyncio.wait_for(third, timeout=5)  # not stranded by the cancelled writer
    world.emulator.set_latency(0)
    assert isinstance(written, Written)
    assert "third@o/r" in (await store.read()).command_data


async def test_a_caller_cancelled_while_waiting_writes_nothing(world: GistWorld) -> None:
    store = await world.store()
    first = await busy_writer(world, store)
    waiting = asyncio.create_task(store.update(adding("never@o/r")))  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    waiting.cancel()
    await first
    world.emulator.set_latency(0)

    assert "never@o/r" not in (await store.read()).command_data


async def test_github_out_of_reach_is_a_state_error(world: GistWorld) -> None:
    store = await world.store()
    await world.emulator.stop()

    with pytest.raises(StateError, match="could not reach GitHub"):
        await store.update(adding("x@o/r"))  # type: ignore[arg-type]
    await world.emulator.start()  # the fixture stops it again
