"""The gist operations: one handler per OpenAPI operationId, as in `handlers.py`.

Only user tokens reach these (the dispatcher answers anything else 401/403). A secret gist
is not private: anyone may read it by id; only its owner may change or delete it, and
GitHub answers everyone else 404, as it does a token without the `gist` scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.testing import gist_render
from bot.testing.calls import ApiError, Auth, Call, Reply, Route, not_found, paginate
from bot.testing.gists import DELETE, FileEdit, Gist, GistError
from bot.testing.world import User, UserToken

GIST_SCOPE = "gist"


def list_gists(call: Call) -> Reply:
    token = _token(call)
    gists = call.ctx.gists.of(token.user)
    if GIST_SCOPE not in token.scopes:
        # Without the scope a token sees only what the public sees.
        gists = [gist for gist in gists if gist.public]
    if "since" in call.params:
        since = _timestamp(call.params["since"])
        gists = [gist for gist in gists if gist.updated_at >= since]
    gists.sort(key=lambda gist: (gist.updated_at, gist.sequence), reverse=True)
    return paginate(call, gists, lambda gist: gist_render.listed(call.ctx.render, gist))


def create_gist(call: Call) -> Reply:
    user = _writer(call)
    body = call.body
    files = {name: str(spec["content"]) for name, spec in body["files"].items()}
    try:
        gist = call.ctx.gists.create(
            user,
            files,
            description=body.get("description"),
            # The description allows "true" and "false" as strings, too.
            public=body.get("public", False) in (True, "true"),
        )
    except GistError as error:
        raise _invalid(call, error) from None
    rendered = gist_render.full(call.ctx.render, gist)
    return Reply(201, rendered, {"Location": rendered["url"]})


def get_gist(call: Call) -> Reply:
    return Reply(200, gist_render.full(call.ctx.render, _gist(call)))


def update_gist(call: Call) -> Reply:
    gist_id = _owned(call).id
    body = call.body or {}
    edits = {name: _edit(spec) for name, spec in (body.get("files") or {}).items()}
    # A test's foreign writer goes here, between the bot's read and this write landing.
    call.ctx.gists.run_before_patch(gist_id)
    gist = _owned(call)  # the hook may have deleted it
    try:
        call.ctx.gists.update(gist, _token(call).user, edits, description=body.get("description"))
    except GistError as error:
        raise _invalid(call, error) from None
    # A PATCH that changes nothing is still a 200, with the gist as it is.
    return Reply(200, gist_render.full(call.ctx.render, gist))


def delete_gist(call: Call) -> Reply:
    call.ctx.gists.delete(_owned(call))
    return Reply(204, None)


def list_commits(call: Call) -> Reply:
    gist = _gist(call)
    newest_first = list(reversed(gist.history))
    return paginate(
        call, newest_first, lambda revision: gist_render.commit(call.ctx.render, gist, revision)
    )


def get_revision(call: Call) -> Reply:
    gist = _gist(call)
    revision = gist.revision(call.params["sha"])
    if revision is None:
        raise not_found()
    return Reply(200, gist_render.full(call.ctx.render, gist, revision))


def _token(call: Call) -> UserToken:
    if call.user_token is None:  # the route's Auth.USER makes this unreachable
        raise ApiError(401, "Requires authentication")
    return call.user_token


def _writer(call: Call) -> User:
    token = _token(call)
    if GIST_SCOPE not in token.scopes:
        # GitHub hides what a token may not touch: no scope, no gist, 404.
        raise not_found()
    return token.user


def _gist(call: Call) -> Gist:
    gist = call.ctx.gists.get(call.params["gist_id"])
    if gist is None:
        raise not_found()
    return gist


def _owned(call: Call) -> Gist:
    user = _writer(call)
    gist = _gist(call)
    if gist.owner is not user:
        raise not_found()
    return gist


def _edit(spec: Mapping[str, Any] | None) -> FileEdit:
    """One entry of a PATCH's `files`: `null` or `{}` deletes the file."""
    if spec is None:
        return DELETE
    content, new_name = spec.get("content"), spec.get("filename")
    if content is None and not new_name:
        return DELETE
    return FileEdit(content=content, new_name=new_name or None)


def _invalid(call: Call, error: GistError) -> ApiError:
    return ApiError(
        422,
        "Validation Failed",
        docs_url=call.operation.docs_url,
        errors=[{"resource": "Gist", "code": error.code, "field": "files", "message": str(error)}],
    )


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


GIST_ROUTES: Mapping[str, Route] = {
    "gists/list": Route(list_gists, Auth.USER),
    "gists/create": Route(create_gist, Auth.USER),
    "gists/get": Route(get_gist, Auth.USER),
    "gists/update": Route(update_gist, Auth.USER),
    "gists/delete": Route(delete_gist, Auth.USER),
    "gists/list-commits": Route(list_commits, Auth.USER),
    "gists/get-revision": Route(get_revision, Auth.USER),
}
