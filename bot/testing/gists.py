"""The emulated GitHub's gists: plain dataclasses and the operations that change them.

A gist is a tiny git repository: each change of its files is a revision with a 40-hex
version and a line count of what changed, and every revision keeps the full file map, so
any version can be read back. The description and visibility live outside the repository,
as on GitHub: changing them creates no revision. Nothing here knows about HTTP or JSON.
"""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.testing.world import User, now


class GistError(ValueError):
    """A change GitHub refuses (answered 422 Validation Failed); the message says why and
    `code` is GitHub's error code for it."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class ChangeStatus:
    """Lines added and deleted by one revision, as git counts them."""

    additions: int
    deletions: int

    @property
    def total(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True, slots=True)
class Revision:
    version: str
    committed_at: datetime
    user: User
    change_status: ChangeStatus
    # The whole gist at this revision, name -> content.
    files: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class FileEdit:
    """What a PATCH asks of one named file: new content, a new name, or deletion."""

    content: str | None = None
    new_name: str | None = None
    delete: bool = False


DELETE = FileEdit(delete=True)


@dataclass(slots=True, eq=False)
class Gist:
    id: str
    owner: User
    description: str | None
    public: bool
    created_at: datetime
    updated_at: datetime
    # Oldest first; never empty.
    history: list[Revision]
    # Orders gists changed within the same second (timestamps have whole seconds).
    sequence: int = 0

    @property
    def head(self) -> Revision:
        return self.history[-1]

    @property
    def files(self) -> Mapping[str, str]:
        return self.head.files

    def revision(self, version: str) -> Revision | None:
        return next((r for r in self.history if r.version == version), None)


class Gists:
    """Every gist, by id, and the hooks tests set to run before a gist's next PATCH."""

    def __init__(self) -> None:
        self.by_id: dict[str, Gist] = {}
        self._sequence = 0
        self._before_patch: dict[str, list[Callable[[], None]]] = {}

    def get(self, gist_id: str) -> Gist | None:
        return self.by_id.get(gist_id)

    def require(self, gist_id: str) -> Gist:
        try:
            return self.by_id[gist_id]
        except KeyError:
            raise KeyError(f"no gist {gist_id!r}") from None

    def of(self, user: User) -> list[Gist]:
        """The user's gists, oldest first."""
        return [gist for gist in self.by_id.values() if gist.owner is user]

    def create(
        self, owner: User, files: Mapping[str, str], *, description: str | None, public: bool
    ) -> Gist:
        _check_files(files)
        stamp = now()
        first = _revision(owner, {}, dict(files), {})
        gist = Gist(
            id=secrets.token_hex(16),
            owner=owner,
            description=description,
            public=public,
            created_at=stamp,
            updated_at=stamp,
            history=[first],
            sequence=self._next(),
        )
        self.by_id[gist.id] = gist
        return gist

    def update(
        self,
        gist: Gist,
        user: User,
        edits: Mapping[str, FileEdit],
        *,
        description: str | None = None,
    ) -> bool:
        """Apply a PATCH; returns whether anything changed. Raises GistError.

        Files not named are untouched; a new revision is made only when files change.
        """
        files, renamed_from = _apply(gist.files, edits)
        _check_files(files)
        changed = False
        if description is not None and description != gist.description:
            gist.description = description
            changed = True
        if files != gist.files:
            gist.history.append(_revision(user, gist.files, files, renamed_from))
            changed = True
        if changed:
            gist.updated_at = now()
            gist.sequence = self._next()
        return changed

    def delete(self, gist: Gist) -> None:
        del self.by_id[gist.id]
        self._before_patch.pop(gist.id, None)

    def before_next_patch(self, gist_id: str, callback: Callable[[], None]) -> None:
        self.require(gist_id)
        self._before_patch.setdefault(gist_id, []).append(callback)

    def run_before_patch(self, gist_id: str) -> None:
        """Run (once) whatever a test set up to happen just before this PATCH."""
        for callback in self._before_patch.pop(gist_id, []):
            callback()

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence


def _apply(
    current: Mapping[str, str], edits: Mapping[str, FileEdit]
) -> tuple[dict[str, str], dict[str, str]]:
    """The files after `edits`, and for each renamed file the name it had before."""
    files = {name: content for name, content in current.items() if name not in edits}
    renamed_from: dict[str, str] = {}
    for name, edit in edits.items():
        if edit.delete:
            continue  # deleting a file the gist lacks changes nothing
        content = edit.content if edit.content is not None else current.get(name)
        if content is None:
            continue  # a rename of a file the gist lacks: nothing to rename
        target = edit.new_name or name
        if target in files:
            raise GistError(f"files: {target!r} is named twice")
        files[target] = content
        if name in current and target != name:
            renamed_from[target] = name
    return files, renamed_from


def _check_files(files: Mapping[str, str]) -> None:
    if not files:
        raise GistError("files: a gist needs at least one file", "missing_field")
    for name, content in files.items():
        if not name.strip() or "/" in name:
            raise GistError(f"files: {name!r} is not a valid file name")
        if content == "":
            # GitHub keeps no empty files: "contents can't be blank".
            raise GistError(f"files: {name!r} contents can't be blank")


def _revision(
    user: User,
    before: Mapping[str, str],
    after: Mapping[str, str],
    renamed_from: Mapping[str, str],
) -> Revision:
    # A random sha, not git's content hash: only uniqueness and shape matter to clients.
    return Revision(
        version=secrets.token_hex(20),
        committed_at=now(),
        user=user,
        change_status=change_status(before, after, renamed_from),
        files=dict(after),
    )


def change_status(
    before: Mapping[str, str], after: Mapping[str, str], renamed_from: Mapping[str, str]
) -> ChangeStatus:
    """Lines added and deleted from `before` to `after`; a renamed file is diffed against
    its old self, as git's rename detection would."""
    additions = deletions = 0
    sources = set()
    for name, content in after.items():
        source = renamed_from.get(name, name)
        sources.add(source)
        added, deleted = _line_changes(before.get(source, ""), content)
        additions += added
        deletions += deleted
    for name, content in before.items():
        if name not in sources:
            deletions += len(content.splitlines())
    return ChangeStatus(additions, deletions)


def _line_changes(old: str, new: str) -> tuple[int, int]:
    if old == new:
        return 0, 0
    a, b = old.splitlines(), new.splitlines()
    # The common head and tail are cheap to skip and keep the diff small on large files.
    head = _common_prefix(a, b)
    tail = _common_prefix(reversed(a[head:]), reversed(b[head:]))
    a, b = a[head : len(a) - tail], b[head : len(b) - tail]
    added = deleted = 0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            deleted += i2 - i1
            added += j2 - j1
    return added, deleted


def _common_prefix(a: Iterable[str], b: Iterable[str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
