"""Gists in GitHub's REST shapes (`gist-simple`, `base-gist`, `gist-commit`).

API URLs point at the emulator; `raw_url` too, since the bot follows it to read a
truncated file; web URLs (`html_url`, the git URLs) point at gist.github.com.
"""

from __future__ import annotations

import base64
from pathlib import PurePosixPath
from urllib.parse import quote

from bot.testing.gists import Gist, Revision
from bot.testing.render import Json, Renderer, iso

GIST_HTML_URL = "https://gist.github.com"
# GitHub cuts a file's `content` at 1 MiB in API answers; `raw_url` serves all of it.
MAX_CONTENT_BYTES = 1024 * 1024
RAW_PREFIX = "/raw/gists"

# Extension -> (MIME type, linguist language), for the few kinds a bot keeps in a gist.
# Anything else is plain text, which GitHub reports as language "Text".
_KINDS = {
    ".json": ("application/json", "JSON"),
    ".md": ("text/markdown", "Markdown"),
    ".yml": ("application/x-yaml", "YAML"),
    ".yaml": ("application/x-yaml", "YAML"),
    ".toml": ("application/toml", "TOML"),
    ".py": ("application/x-python", "Python"),
    ".csv": ("text/csv", "CSV"),
}
_PLAIN = ("text/plain", "Text")


def gist_url(render: Renderer, gist: Gist) -> str:
    return f"{render.api_url}/gists/{gist.id}"


def raw_url(render: Renderer, gist: Gist, revision: Revision, filename: str) -> str:
    return f"{render.api_url}{RAW_PREFIX}/{gist.id}/{revision.version}/{quote(filename, safe='')}"


def full(render: Renderer, gist: Gist, revision: Revision | None = None) -> Json:
    """The full gist (`GET /gists/{id}`, create, update), or as it was at `revision`:
    file contents (cut at 1 MiB) and the history up to that revision, newest first."""
    shown = revision or gist.head
    upto = gist.history[: gist.history.index(shown) + 1]
    return {
        **_base(render, gist),
        "files": {
            name: _file(render, gist, shown, name, with_content=True) for name in shown.files
        },
        "forks": [],
        "history": [commit(render, gist, r) for r in reversed(upto)],
    }


def listed(render: Renderer, gist: Gist) -> Json:
    """A gist in a list (`GET /gists`): its files without content, as GitHub lists them."""
    return {
        **_base(render, gist),
        "files": {
            name: _file(render, gist, gist.head, name, with_content=False) for name in gist.files
        },
    }


def commit(render: Renderer, gist: Gist, revision: Revision) -> Json:
    status = revision.change_status
    return {
        "url": f"{gist_url(render, gist)}/{revision.version}",
        "version": revision.version,
        "user": render.user(revision.user),
        "change_status": {
            "total": status.total,
            "additions": status.additions,
            "deletions": status.deletions,
        },
        "committed_at": iso(revision.committed_at),
    }


def _base(render: Renderer, gist: Gist) -> Json:
    url = gist_url(render, gist)
    return {
        "url": url,
        "forks_url": f"{url}/forks",
        "commits_url": f"{url}/commits",
        "id": gist.id,
        "node_id": _node_id(gist.id),
        "git_pull_url": f"{GIST_HTML_URL}/{gist.id}.git",
        "git_push_url": f"{GIST_HTML_URL}/{gist.id}.git",
        "html_url": f"{GIST_HTML_URL}/{gist.id}",
        "public": gist.public,
        "created_at": iso(gist.created_at),
        "updated_at": iso(gist.updated_at),
        "description": gist.description,
        "comments": 0,
        "comments_enabled": True,
        "user": None,
        "comments_url": f"{url}/comments",
        "owner": render.user(gist.owner),
        "truncated": False,
    }


def _file(
    render: Renderer, gist: Gist, revision: Revision, name: str, *, with_content: bool
) -> Json:
    content = revision.files[name]
    encoded = content.encode("utf-8")
    mime, language = _KINDS.get(PurePosixPath(name).suffix.lower(), _PLAIN)
    rendered: Json = {
        "filename": name,
        "type": mime,
        "language": language,
        "raw_url": raw_url(render, gist, revision, name),
        "size": len(encoded),
    }
    if with_content:
        truncated = len(encoded) > MAX_CONTENT_BYTES
        if truncated:
            # Cut on a character boundary, so the content stays valid UTF-8.
            content = encoded[:MAX_CONTENT_BYTES].decode("utf-8", "ignore")
        rendered.update({"truncated": truncated, "content": content, "encoding": "utf-8"})
    return rendered


def _node_id(gist_id: str) -> str:
    # GitHub's legacy global id shape: base64 of `<len(kind)>:<kind><id>`.
    return base64.b64encode(f"04:Gist{gist_id}".encode()).decode("ascii")
