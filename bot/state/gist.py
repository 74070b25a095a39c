"""State in a GitHub Gist, with no lost update (invariant 4).

GitHub offers no conditional write on gists (`If-Match` on PATCH is a 400), so the
guarantee is the bot's own protocol:

1. Writers are serialized per gist (`StoreLock`: in-process here, Redis across replicas).
2. Updates waiting for the lock are applied together in the next PATCH (group commit);
   each caller is told when its own update is durable.
3. The writer reads the gist with a conditional GET (a 304 costs no rate limit), applies the
   pending updates (functions of the old state, never blind values), and PATCHes only the
   files that changed: a PATCH leaves the files it does not name untouched.
4. `GET /gists/{id}/commits` then proves that the version before ours is the one we read.
   If someone else wrote in between, our PATCH was built on stale content: the updates are
   re-applied on top of their revision and written again, with backoff and jitter, a
   bounded number of times; past that the callers get a StateError, never silence.

The gist's files keep independent data apart: `state.json` (schema version),
`runs.json` (the audit records), `command-data.json` (what commands keep). A gist edited
into content the bot cannot read is not fatal: the bot builds on the newest revision it can
read, keeps the unreadable files as `invalid-<version>-<file>` backups, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

import aiohttp
from gidgethub import BadRequest, GitHubException
from gidgethub.abc import GitHubAPI

from bot.state.schema import BotState, NewerSchema, describe, upgrade, working_copy
from bot.state.store import InvalidState, StateError, StateUpdate, Written

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MARKER = "[issue-queue-bot state]"
META_FILE = "state.json"
RUNS_FILE = "runs.json"
COMMAND_DATA_FILE = "command-data.json"
BOT_FILES = (META_FILE, RUNS_FILE, COMMAND_DATA_FILE)
MAX_ATTEMPTS = 5


class StoreLock(Protocol):
    """Serializes the writers of one gist; a Redis lock implements it across replicas."""

    def hold(self) -> contextlib.AbstractAsyncContextManager[None]: ...


class LocalLock:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._lock:
            yield


def serialize(state: BotState) -> dict[str, str]:
    """The gist's files for `state`. Stable output, so unchanged data is an unchanged file."""
    dumped = state.model_dump(mode="json")

    def text(value: object) -> str:
        return json.dumps(value, indent=1, sort_keys=True) + "\n"

    return {
        META_FILE: text({"schema_version": dumped["schema_version"]}),
        RUNS_FILE: text(dumped["runs"]),
        COMMAND_DATA_FILE: text(dumped["command_data"]),
    }


def deserialize(files: dict[str, str]) -> BotState:
    """The state in a gist's files; a missing file is empty.

    Raises StateError for a newer schema (stop writing) and InvalidState for content that
    does not parse or fails the schema (recoverable from the gist's history).
    """
    try:
        document = json.loads(files.get(META_FILE) or "{}")
        document["runs"] = json.loads(files.get(RUNS_FILE) or "[]")
        document["command_data"] = json.loads(files.get(COMMAND_DATA_FILE) or "{}")
        return upgrade(document)
    except NewerSchema as error:
        raise StateError(f"the state gist: {error}") from None
    except (ValueError, TypeError) as error:
        raise InvalidState(f"the state gist is not valid ({describe(error)})") from None


@dataclass
class _Pending:
    fn: StateUpdate
    done: asyncio.Future[Written] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True)
class _Snapshot:
    version: str
    files: dict[str, str]


@dataclass(frozen=True)
class _Usable:
    """A readable snapshot to build on, and what recovering it leaves to write and say."""

    base: _Snapshot
    backups: dict[str, str] = field(default_factory=dict)
    notices: tuple[str, ...] = ()


class GistStore:
    def __init__(
        self,
        api: GitHubAPI,
        session: aiohttp.ClientSession,
        gist_id: str,
        *,
        token: str,
        lock: StoreLock | None = None,
        backoff_seconds: float = 0.05,
        rng: random.Random | None = None,
    ):
        self._api = api
        self._session = session
        self.gist_id = gist_id
        self._token = token
        self._lock = lock or LocalLock()
        self._backoff = backoff_seconds
        self._rng = rng or random.Random()
        self._queue: list[_Pending] = []
        self.patches = 0  # how many PATCHes this store sent, a performance figure

    async def read(self) -> BotState:
        usable = await self._usable(await self._current())
        return deserialize(usable.base.files)

    async def problems(self) -> list[str]:
        return list((await self._usable(await self._current())).notices)

    async def update(self, fn: StateUpdate) -> Written:
        pending = _Pending(fn)
        # A caller that gives up still has its outcome read, so asyncio never warns of it.
        pending.done.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._queue.append(pending)
        try:
            async with self._lock.hold():
                # Whoever holds the lock writes everything queued so far, this update
                # included unless an earlier writer already took it.
                if not pending.done.done():
                    await self._write_batch()
        except asyncio.CancelledError:
            if pending in self._queue:  # cancelled while waiting: nothing was written
                self._queue.remove(pending)
            raise
        return await pending.done

    async def _write_batch(self) -> None:
        batch, self._queue = self._queue, []
        try:
            version = await self._write(batch)
        except Exception as error:
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(error)
            return
        except BaseException:
            # Cancelled mid-write: the other callers' updates go to the next writer.
            self._queue[:0] = [pending for pending in batch if not pending.done.done()]
            raise
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(version)

    async def _write(self, batch: list[_Pending]) -> Written:
        head = await self._current()  # what the gist holds, as far as we know
        usable = await self._usable(head)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            state = self._apply(batch, deserialize(usable.base.files))
            target = {**serialize(state), **usable.backups}
            changed = {
                name: content for name, content in target.items() if head.files.get(name) != content
            }
            if not changed:
                return Written(head.version, usable.notices)
            written = await self._patch(changed)
            # From here the gist holds our write: it must be verified, and repaired if it
            # was built on stale content, so transient errors are retried, not given up on.
            parent = await self._retrying(partial(self._parent_of, written))
            if parent == head.version:
                return Written(written, usable.notices)
            # Someone wrote between our read and our write, so our files were built on stale
            # content: rebuild on their revision, diffing against what the gist holds now.
            foreign = await self._retrying(partial(self._revision, parent))
            head = _Snapshot(written, {**foreign.files, **changed})
            usable = await self._usable(foreign)
            await self._pause(attempt)
        raise StateError(
            f"the state gist {self.gist_id} kept changing under the bot ({MAX_ATTEMPTS} "
            "attempts); the update may have been saved on stale content: run "
            "`bot state verify`, then try the command again"
        )

    async def _retrying(self, call: Callable[[], Awaitable[_T]]) -> _T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await call()
            except StateError:
                if attempt == MAX_ATTEMPTS:
                    raise
                await self._pause(attempt)
        raise AssertionError("unreachable")

    async def _pause(self, attempt: int) -> None:
        # Full jitter: concurrent writers spread out instead of colliding again.
        await asyncio.sleep(self._rng.uniform(0, self._backoff * 2**attempt))

    async def _usable(self, snapshot: _Snapshot) -> _Usable:
        """What to build on: `snapshot` if the bot can read it, else the newest revision it
        can, with the unreadable files kept as backups so no one's edit is thrown away."""
        try:
            deserialize(snapshot.files)
            return _Usable(snapshot)
        except InvalidState as problem:
            for version in (await self._versions())[1:]:
                revision = await self._revision(version)
                try:
                    deserialize(revision.files)
                except InvalidState:
                    continue
                backups = {
                    f"invalid-{snapshot.version[:8]}-{name}": content
                    for name, content in snapshot.files.items()
                    if name in BOT_FILES and content.strip() and content != revision.files.get(name)
                }
                notice = (
                    f"{problem}. The bot carried on from revision {version[:8]}, the last it "
                    f"can read, and kept the unreadable content in {', '.join(sorted(backups))}."
                )
                log.warning("%s", notice)
                return _Usable(revision, backups, (notice,))
            raise StateError(
                f"{problem}, and no earlier revision is readable either: fix the gist by hand"
            ) from None

    @staticmethod
    def _apply(batch: list[_Pending], state: BotState) -> BotState:
        for pending in batch:
            if pending.done.done():
                continue
            try:
                new = pending.fn(working_copy(state))
                if not isinstance(new, BotState):
                    raise TypeError(f"a state update returned {type(new).__name__}, not state")
                serialize(new)  # what cannot be written must fail here, for its caller only
            except Exception as error:  # one caller's broken update fails only that caller
                pending.done.set_exception(error)
                continue
            state = new
        return state

    async def _current(self) -> _Snapshot:
        # gidgethub's cache makes this a conditional GET: a 304 costs no rate limit.
        gist = await self._call("GET", "/gists/{gist_id}")
        return _Snapshot(str(gist["history"][0]["version"]), await self._files(gist))

    async def _revision(self, version: str) -> _Snapshot:
        gist = await self._call("GET", "/gists/{gist_id}/{sha}", sha=version)
        return _Snapshot(version, await self._files(gist))

    async def _patch(self, files: dict[str, str]) -> str:
        body = {"files": {name: {"content": content} for name, content in files.items()}}
        gist = await self._call("PATCH", "/gists/{gist_id}", data=body)
        self.patches += 1
        return str(gist["history"][0]["version"])

    async def _versions(self) -> list[str]:
        """The gist's recent versions, newest first."""
        commits = await self._call("GET", "/gists/{gist_id}/commits{?per_page}", per_page=100)
        return [str(commit["version"]) for commit in commits]

    async def _parent_of(self, written: str) -> str:
        """The version just before our write, from the gist's history (newest first)."""
        versions = await self._versions()
        if written not in versions:
            raise StateError(f"the state gist {self.gist_id} does not list our write {written}")
        position = versions.index(written) + 1
        if position == len(versions):
            raise StateError(f"the state gist {self.gist_id} shows no version before {written}")
        return versions[position]

    async def _files(self, gist: dict[str, Any]) -> dict[str, str]:
        files: dict[str, str] = {}
        for name, file in gist["files"].items():
            if file.get("truncated"):
                # GitHub cuts contents over 1 MB; the raw URL has all of it.
                files[name] = await self._raw(str(file["raw_url"]))
            else:
                files[name] = str(file.get("content") or "")
        return files

    async def _raw(self, url: str) -> str:
        try:
            async with self._session.get(url) as response:
                if response.status != 200:
                    raise StateError(f"could not read {url}: HTTP {response.status}")
                return await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise StateError(f"could not read {url}: {type(error).__name__}") from None

    async def _call(self, method: str, url: str, *, data: Any = None, **url_vars: Any) -> Any:
        url_vars = {"gist_id": self.gist_id, **url_vars}
        try:
            if method == "GET":
                return await self._api.getitem(url, url_vars, oauth_token=self._token)
            return await self._api.patch(url, url_vars, data=data, oauth_token=self._token)
        except GitHubException as error:
            raise StateError(
                f"GitHub answered {type(error).__name__} ({error}) on the state gist "
                f"{self.gist_id}: check GIST_ID and that GIST_TOKEN has the gist scope"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise StateError(
                f"could not reach GitHub for the state gist {self.gist_id} "
                f"({type(error).__name__}: {error})"
            ) from None


async def find_or_create_gist(api: GitHubAPI, token: str) -> str:
    """The id of the token owner's state gist (marked in its description), created if absent.

    Replicas starting together may each create one; all of them then keep the oldest and
    delete the others, so they converge on one gist before anything is written.
    """
    gist_id = await _oldest_marked(api, token)
    if gist_id is None:
        files = serialize(BotState())
        await api.post(
            "/gists",
            data={
                "description": f"{MARKER} state of the issue-queue-bot GitHub App",
                "public": False,
                "files": {name: {"content": content} for name, content in files.items()},
            },
            oauth_token=token,
        )
        gist_id = await _oldest_marked(api, token, delete_others=True)
    if gist_id is None:
        raise StateError("created the state gist, but GitHub does not list it: set GIST_ID")
    return gist_id


async def _oldest_marked(api: GitHubAPI, token: str, *, delete_others: bool = False) -> str | None:
    marked = [
        gist
        async for gist in api.getiter("/gists{?per_page}", {"per_page": 100}, oauth_token=token)
        if MARKER in str(gist.get("description") or "")
    ]
    if not marked:
        return None
    marked.sort(key=lambda gist: (str(gist["created_at"]), str(gist["id"])))
    if delete_others:
        for extra in marked[1:]:
            try:
                await api.delete("/gists/{gist_id}", {"gist_id": extra["id"]}, oauth_token=token)
            except BadRequest as error:
                if error.status_code != 404:  # another replica deleted it first: done
                    raise
    return str(marked[0]["id"])
