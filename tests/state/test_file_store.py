"""The embedded state store (bot/state/file.py) and the run-history helper `with_run`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain import RunStatus, Source
from bot.state import (
    BotState,
    FileStore,
    RunRecord,
    StateError,
    StateUpdate,
    command_data_key,
    find_run,
    with_command_data,
    with_run,
)
from bot.state.schema import MAX_RUN_RECORDS, state_json
from bot.state.store import Written

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(run_id: str, status: RunStatus = RunStatus.SUCCEEDED, *, issue: int = 1) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        command="generate-report",
        status=status,
        source=Source.COMMENT,
        repo="octo-org/app",
        issue=issue,
        actor="alice",
        delivery_id=f"delivery-{run_id}",
        received_at=T0 + timedelta(seconds=issue),
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "state.json"


# Small blocking file helpers: the tests look at the disk between awaits.


def leftovers(directory: Path) -> list[str]:
    """Anything in the state folder besides the state file (temp files, say)."""
    return sorted(p.name for p in directory.iterdir() if p.name != "state.json")


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def read_document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def write_file(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def exists(path: Path) -> bool:
    return path.exists()


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def adding(key: str, data: dict[str, Any]) -> StateUpdate:
    return lambda state: with_command_data(state, key, data)


def fail_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every fsync fail, as a full disk would."""

    def full_disk(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bot.state.file.os.fsync", full_disk)


# -- reading and versions -----------------------------------------------------------------


async def test_reading_a_missing_file_gives_an_empty_state_and_creates_nothing(
    path: Path,
) -> None:
    state = await FileStore(path).read()

    assert state == BotState()
    assert state.runs == []
    assert state.command_data == {}
    assert not exists(path)
    assert not exists(path.parent)


async def test_each_update_returns_the_next_version(path: Path) -> None:
    store = FileStore(path)
    versions = []
    for i in range(5):
        versions.append((await store.update(adding(f"cmd@repo{i}", {"i": i}))).version)

    assert versions == ["1", "2", "3", "4", "5"]
    document = read_document(path)
    assert document["version"] == 5
    # A new store on the same file carries on from there.
    reopened = FileStore(path)
    assert (await reopened.update(lambda s: s)).version == "6"
    assert set((await reopened.read()).command_data) == {f"cmd@repo{i}" for i in range(5)}


async def test_an_update_sees_the_previous_one(path: Path) -> None:
    store = FileStore(path)
    key = command_data_key("generate-report", "octo-org/app")

    def bump(state: BotState) -> BotState:
        count = state.command_data.get(key, {}).get("count", 0)
        return with_command_data(state, key, {"count": count + 1})

    for _ in range(3):
        await store.update(bump)

    assert (await store.read()).command_data[key] == {"count": 3}


async def test_concurrent_updates_all_land(path: Path) -> None:
    store = FileStore(path)
    keys = [command_data_key(f"cmd{i}", "octo-org/app") for i in range(100)]

    versions = await asyncio.gather(*(store.update(adding(keys[i], {"i": i})) for i in range(100)))

    # Updates waiting behind a write land together in the next one (group commit).
    written = sorted({int(w.version) for w in versions})
    assert written == list(range(1, len(written) + 1))
    assert len(written) < 100
    state = await store.read()
    assert state.command_data == {keys[i]: {"i": i} for i in range(100)}
    document = read_document(path)
    assert document["version"] == written[-1]
    assert BotState.model_validate(document["state"]) == state
    assert leftovers(path.parent) == []


async def test_the_file_round_trips_runs(path: Path) -> None:
    store = FileStore(path)
    first, second = record("r1"), record("r2", RunStatus.FAILED, issue=2)
    await store.update(lambda s: with_run(with_run(s, first), second))

    assert (await FileStore(path).read()).runs == [first, second]
    assert leftovers(path.parent) == []


# -- corrupt files ------------------------------------------------------------------------


async def test_a_newer_schema_is_refused_and_left_alone(path: Path) -> None:
    content = '{"version": 1, "state": {"schema_version": 2}}'
    write_file(path, content)
    store = FileStore(path)

    with pytest.raises(StateError, match="schema_version 2, newer than this bot's 1"):
        await store.update(lambda s: with_command_data(s, "k@r", {}))
    assert read_bytes(path) == content.encode()


async def test_unversioned_state_is_migrated_on_read(path: Path) -> None:
    write_file(path, '{"version": 3, "state": {"command_data": {"k@r": {"v": 1}}}}')

    state = await FileStore(path).read()
    assert state.schema_version == 1
    assert state.command_data == {"k@r": {"v": 1}}


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param("[1, 2]", id="json-list"),
        pytest.param('{"state": {}}', id="no-version"),
        pytest.param('{"version": 1, "state": {"runs": "nope"}}', id="runs-not-a-list"),
        pytest.param('{"version": "one", "state": {}}', id="version-not-a-number"),
    ],
)
async def test_a_corrupt_file_is_a_state_error_that_says_what_to_do(
    path: Path, content: str
) -> None:
    write_file(path, content)
    store = FileStore(path)

    with pytest.raises(StateError) as raised:
        await store.read()
    message = str(raised.value)
    assert str(path) in message
    assert "backup" in message
    assert "move it aside" in message

    # An update refuses too, and leaves the damaged file for the operator to look at.
    with pytest.raises(StateError):
        await store.update(lambda s: with_command_data(s, "k@r", {}))
    assert read_bytes(path) == content.encode()
    assert leftovers(path.parent) == []


# -- with_run -----------------------------------------------------------------------------


def test_with_run_appends_and_replaces_the_same_run_id() -> None:
    state = with_run(with_run(BotState(), record("a")), record("b", issue=2))
    updated = with_run(state, record("a", RunStatus.FAILED))

    assert [r.run_id for r in updated.runs] == ["b", "a"]
    assert updated.runs[-1].status is RunStatus.FAILED
    # The input state is left as it was.
    assert [(r.run_id, r.status) for r in state.runs] == [
        ("a", RunStatus.SUCCEEDED),
        ("b", RunStatus.SUCCEEDED),
    ]


def test_with_run_keeps_only_the_newest_records() -> None:
    full = BotState(runs=[record(f"r{i}") for i in range(MAX_RUN_RECORDS)])

    one_more = with_run(full, record("newest"))

    assert len(one_more.runs) == MAX_RUN_RECORDS
    assert one_more.runs[0].run_id == "r1"
    assert one_more.runs[-1].run_id == "newest"
    # Replacing a record in a full history drops nothing else.
    replaced = with_run(one_more, record("r500", RunStatus.CANCELLED))
    assert len(replaced.runs) == MAX_RUN_RECORDS
    assert replaced.runs[0].run_id == "r1"
    assert [r.run_id for r in replaced.runs].count("r500") == 1
    assert replaced.runs[-1].status is RunStatus.CANCELLED


def test_find_run_finds_a_record_by_its_run_id() -> None:
    state = BotState(runs=[record("a"), record("b", RunStatus.FAILED, issue=2)])

    found = find_run(state, "b")

    assert found is not None
    assert (found.status, found.issue) == (RunStatus.FAILED, 2)
    assert find_run(state, "c") is None
    assert find_run(BotState(), "a") is None


def test_with_run_told_the_run_is_new_only_appends() -> None:
    state = with_run(BotState(), record("a"))

    assert [r.run_id for r in with_run(state, record("b"), new=True).runs] == ["a", "b"]


# -- failures keep the old state ----------------------------------------------------------


async def test_a_crash_inside_fn_leaves_the_old_state_intact(path: Path) -> None:
    store = FileStore(path)
    await store.update(lambda s: with_command_data(s, "keep@r", {"v": 1}))
    before = read_bytes(path)

    def crash(state: BotState) -> BotState:
        state.command_data["half@r"] = {"written": True}  # a change made before the crash
        raise RuntimeError("handler blew up")

    with pytest.raises(RuntimeError, match="handler blew up"):
        await store.update(crash)

    assert read_bytes(path) == before
    assert (await store.read()).command_data == {"keep@r": {"v": 1}}
    assert leftovers(path.parent) == []
    # The store is still usable, and the failed update did not use up a version.
    assert (await store.update(lambda s: s)).version == "2"


async def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(path)
    await store.update(lambda s: with_command_data(s, "keep@r", {"v": 1}))
    before = read_bytes(path)

    fail_fsync(monkeypatch)
    with pytest.raises(StateError):
        await store.update(lambda s: with_command_data(s, "lost@r", {"v": 2}))
    monkeypatch.undo()

    assert read_bytes(path) == before
    assert leftovers(path.parent) == []
    assert (await store.read()).command_data == {"keep@r": {"v": 1}}


# -- bugs found ---------------------------------------------------------------------------


async def test_a_file_that_is_not_utf8_is_a_state_error(path: Path) -> None:
    write_file(path, b"\xff\xfe\x00garbage\x80")

    with pytest.raises(StateError, match="move it aside"):
        await FileStore(path).read()


async def test_a_failed_write_is_a_state_error_naming_the_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(path)
    await store.update(lambda s: s)
    fail_fsync(monkeypatch)

    with pytest.raises(StateError) as raised:
        await store.update(lambda s: s)
    assert str(path) in str(raised.value)


async def test_an_edit_of_the_file_by_someone_else_is_read(path: Path) -> None:
    store = FileStore(path)
    await store.update(adding("a@r", {"v": 1}))
    assert (await store.read()).command_data == {"a@r": {"v": 1}}
    document = read_document(path)
    document["state"]["command_data"] = {"a@r": {"v": 2}}
    write_text(path, json.dumps(document) + "\n" * 3)  # another size, as an editor leaves it
    assert (await store.read()).command_data == {"a@r": {"v": 2}}


async def test_a_broken_update_in_a_batch_fails_only_its_caller(path: Path) -> None:
    store = FileStore(path)

    def broken(state: BotState) -> BotState:
        raise ValueError("broken")

    results = await asyncio.gather(
        store.update(adding("a@r", {"v": 1})),
        store.update(broken),
        store.update(adding("b@r", {"v": 2})),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError)
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert (await store.read()).command_data == {"a@r": {"v": 1}, "b@r": {"v": 2}}


async def test_a_cancelled_caller_leaves_no_other_caller_waiting(path: Path) -> None:
    store = FileStore(path)
    first = asyncio.create_task(store.update(adding("a@r", {"v": 1})))
    others = [asyncio.create_task(store.update(adding(f"k{i}@r", {"v": i}))) for i in range(5)]
    await asyncio.sleep(0)  # the writer has started with the first batch
    first.cancel()
    results = await asyncio.wait_for(asyncio.gather(*others), 5)
    assert all(isinstance(result, Written) for result in results)
    state = await store.read()
    assert {f"k{i}@r" for i in range(5)} <= set(state.command_data)


async def test_an_update_that_cannot_be_written_fails_only_its_caller(path: Path) -> None:
    store = FileStore(path)

    def unwritable(state: BotState) -> BotState:
        return with_command_data(state, "bad@r", {"value": object()})

    good, bad, also_good = await asyncio.gather(
        store.update(adding("a@r", {"v": 1})),
        store.update(unwritable),
        store.update(adding("b@r", {"v": 2})),
        return_exceptions=True,
    )
    assert isinstance(good, Written)
    assert isinstance(also_good, Written)
    assert isinstance(bad, Exception)
    assert set(read_document(path)["state"]["command_data"]) == {"a@r", "b@r"}


async def test_reads_during_a_write_get_the_state_before_it_without_parsing_the_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(path)
    await store.update(adding("a@r", {"v": 1}))
    loads = 0
    load = store._load

    def counted_load() -> tuple[BotState, int]:
        nonlocal loads
        loads += 1
        return load()

    monkeypatch.setattr(store, "_load", counted_load)
    replaced = asyncio.Event()
    may_finish = asyncio.Event()
    loop = asyncio.get_running_loop()
    save = store._save

    def slow_save(state: BotState, version: int) -> tuple[int, int]:
        stamp = save(state, version)  # the new file is in place ...
        loop.call_soon_threadsafe(replaced.set)
        asyncio.run_coroutine_threadsafe(may_finish.wait(), loop).result()
        return stamp  # ... but the store has not heard back yet

    monkeypatch.setattr(store, "_save", slow_save)
    writing = asyncio.create_task(store.update(adding("a@r", {"v": 2})))
    await replaced.wait()
    # Reads meanwhile (a run reads state for its context) see the last durable state:
    # the file changed under the write, but it is the store's own write, not an edit.
    assert (await store.read()).command_data == {"a@r": {"v": 1}}
    may_finish.set()
    await writing
    assert (await store.read()).command_data == {"a@r": {"v": 2}}
    assert loads == 0


def test_state_json_is_the_state_as_pydantic_writes_it() -> None:
    state = BotState()
    assert json.loads(state_json(state)) == json.loads(state.model_dump_json())
    for n in range(5):
        state = with_run(state, record(f"run-{n}", issue=n))
        state = with_command_data(state, f"c@r{n}", {"n": n, "list": [n, "x"]})
        # Records kept from the write before, and a new one, make the same document.
        assert json.loads(state_json(state)) == json.loads(state.model_dump_json())
    replaced = with_run(state, record("run-2", RunStatus.FAILED, issue=2))
    assert json.loads(state_json(replaced)) == json.loads(replaced.model_dump_json())
    assert BotState.model_validate_json(state_json(replaced)) == replaced
