"""The REST operations the emulator serves: one small handler per OpenAPI operationId
(the gist ones live in `gist_handlers.py`, the webhook deliveries in `hook_handlers.py`).

Each gets a validated `Call` (typed parameters with defaults, the parsed body, the
caller's token) and returns a `Reply` or raises `ApiError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.testing.calls import ApiError, Auth, Call, Reply, Route, not_found, page_of, paginate
from bot.testing.gist_handlers import GIST_ROUTES
from bot.testing.hook_handlers import HOOK_ROUTES
from bot.testing.render import REPOSITORY_SELECTION, Json
from bot.testing.world import (
    DEFAULT_LABEL_COLOR,
    DEFAULT_PERMISSIONS,
    Installation,
    Issue,
    Reaction,
    Repo,
)

# GitHub refuses comment bodies longer than this.
MAX_COMMENT_LENGTH = 65536
# The `permission` field folds the finer roles into GitHub's classic three levels.
PERMISSION_OF_ROLE = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
}
_LEVELS = {"read": 1, "write": 2, "admin": 3}


# -- the App ------------------------------------------------------------------------------


def get_app(call: Call) -> Reply:
    world = call.ctx.world
    app = call.ctx.render.app(call.ctx.app_owner, len(world.installations), DEFAULT_PERMISSIONS)
    return Reply(200, app)


def list_installations(call: Call) -> Reply:
    installations = sorted(call.ctx.world.installations.values(), key=lambda i: i.id)
    return paginate(call, installations, call.ctx.render.installation)


def get_repo_installation(call: Call) -> Reply:
    world = call.ctx.world
    repo = world.repo(f"{call.params['owner']}/{call.params['repo']}")
    if repo is None or repo.installation_id is None:
        raise not_found()
    return Reply(
        200, call.ctx.render.installation(world.require_installation(repo.installation_id))
    )


def create_access_token(call: Call) -> Reply:
    world = call.ctx.world
    installation = world.installations.get(call.params["installation_id"])
    if installation is None:
        raise not_found()
    body = call.body or {}
    repos = _token_repos(world.installation_repos(installation.id), body)
    permissions = _token_permissions(installation, body.get("permissions"))
    repository_ids = None if repos is None else frozenset(repo.id for repo in repos)
    token = world.issue_token(installation, call.ctx.token_ttl, permissions, repository_ids)
    return Reply(201, call.ctx.render.token(token, repos or []))


def list_installation_repos(call: Call) -> Reply:
    token = call.token
    if token is None:  # the route's Auth.INSTALLATION makes this unreachable
        raise ApiError(401, "Requires authentication")
    installed = call.ctx.world.installation_repos(token.installation_id)
    repos = [repo for repo in installed if token.can_see(repo)]
    repos.sort(key=lambda repo: repo.full_name.lower())
    page, headers = page_of(call, repos)
    body = {
        "total_count": len(repos),
        "repository_selection": REPOSITORY_SELECTION,
        "repositories": [call.ctx.render.repository(repo) for repo in page],
    }
    return Reply(200, body, headers)


def _token_repos(installed: list[Repo], body: Json) -> list[Repo] | None:
    """The repositories a token is narrowed to; None when the request names none."""
    names, ids = body.get("repositories"), body.get("repository_ids")
    if names is None and ids is None:
        return None
    by_name = {repo.name.lower(): repo for repo in installed}
    by_id = {repo.id: repo for repo in installed}
    wanted_names = {name.lower() for name in names or []}
    wanted_ids = set(ids or [])
    if wanted_names - by_name.keys() or wanted_ids - by_id.keys():
        raise ApiError(
            422,
            "There is at least one repository that does not exist or is not accessible "
            "to the parent installation.",
        )
    chosen = {by_name[name].id for name in wanted_names} | wanted_ids
    return [repo for repo in installed if repo.id in chosen]


def _token_permissions(installation: Installation, requested: Json | None) -> dict[str, str]:
    granted = installation.permissions
    if requested is None:
        return dict(granted)
    for name, level in requested.items():
        if _LEVELS.get(level, 0) > _LEVELS.get(granted.get(name, ""), 0):
            raise ApiError(422, "The permissions requested are not granted to this installation.")
    return dict(requested)


# -- issues -------------------------------------------------------------------------------


def list_issues(call: Call) -> Reply:
    params = call.params
    issues = [issue for issue in call.repo().issues.values() if _issue_matches(issue, params)]
    sort_key: Callable[[Issue], Any] = {
        "created": lambda issue: issue.created_at,
        "updated": lambda issue: issue.updated_at,
        "comments": lambda issue: len(issue.comments),
    }[params["sort"]]
    issues.sort(key=lambda issue: (sort_key(issue), issue.number))
    if params["direction"] == "desc":
        issues.reverse()
    return paginate(call, issues, call.ctx.render.issue)


def _issue_matches(issue: Issue, params: Mapping[str, Any]) -> bool:
    # `milestone`, `assignee`, `type` and `mentioned` are accepted but match nothing the
    # world models, so they do not filter.
    if params["state"] != "all" and issue.state != params["state"]:
        return False
    if "labels" in params:
        wanted = [name.strip() for name in params["labels"].split(",") if name.strip()]
        if not all(issue.has_label(name) for name in wanted):
            return False
    if "creator" in params and issue.user.login.lower() != params["creator"].lower():
        return False
    return "since" not in params or issue.updated_at >= _timestamp(params["since"])


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def get_issue(call: Call) -> Reply:
    return Reply(200, call.ctx.render.issue(call.issue()))


def list_issue_events(call: Call) -> Reply:
    """Oldest first, as GitHub lists them."""
    render, owner = call.ctx.render, call.ctx.app_owner
    return paginate(call, call.issue().events, lambda event: render.issue_event(event, owner))


# -- comments -----------------------------------------------------------------------------


def list_comments(call: Call) -> Reply:
    comments = call.issue().comments
    if "since" in call.params:
        since = _timestamp(call.params["since"])
        comments = [comment for comment in comments if comment.updated_at >= since]
    return paginate(call, comments, call.ctx.render.comment)


def create_comment(call: Call) -> Reply:
    issue = call.issue()
    text = _comment_body(call.body["body"])
    world = call.ctx.world
    comment = world.add_comment(issue, world.bot, text)
    call.emit("issue_comment", call.ctx.payloads.issue_comment("created", comment, world.bot))
    rendered = call.ctx.render.comment(comment)
    return Reply(201, rendered, {"Location": rendered["url"]})


def get_comment(call: Call) -> Reply:
    return Reply(200, call.ctx.render.comment(call.comment()))


def update_comment(call: Call) -> Reply:
    comment = call.comment()
    world = call.ctx.world
    previous = world.edit_comment(comment, _comment_body(call.body["body"]))
    payload = call.ctx.payloads.issue_comment("edited", comment, world.bot, previous_body=previous)
    call.emit("issue_comment", payload)
    return Reply(200, call.ctx.render.comment(comment))


def _comment_body(text: str) -> str:
    if len(text) > MAX_COMMENT_LENGTH:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                {
                    "resource": "IssueComment",
                    "code": "custom",
                    "field": "body",
                    "message": f"body is too long (maximum is {MAX_COMMENT_LENGTH} characters)",
                }
            ],
        )
    return text


# -- reactions ----------------------------------------------------------------------------


def list_comment_reactions(call: Call) -> Reply:
    return _list_reactions(call, call.comment().reactions)


def create_comment_reaction(call: Call) -> Reply:
    return _react(call, call.comment().reactions)


def list_issue_reactions(call: Call) -> Reply:
    return _list_reactions(call, call.issue().reactions)


def create_issue_reaction(call: Call) -> Reply:
    return _react(call, call.issue().reactions)


def _list_reactions(call: Call, reactions: list[Reaction]) -> Reply:
    content = call.params.get("content")
    chosen = [r for r in reactions if content is None or r.content == content]
    return paginate(call, chosen, call.ctx.render.reaction)


def _react(call: Call, reactions: list[Reaction]) -> Reply:
    world = call.ctx.world
    reaction, created = world.react(reactions, world.bot, call.body["content"])
    # 201 for a new reaction, 200 when this user already reacted with that content.
    return Reply(201 if created else 200, call.ctx.render.reaction(reaction))


# -- labels -------------------------------------------------------------------------------


def list_issue_labels(call: Call) -> Reply:
    issue = call.issue()
    return paginate(call, issue.labels, lambda label: call.ctx.render.label(issue.repo, label))


def add_issue_labels(call: Call) -> Reply:
    issue = call.issue()
    world = call.ctx.world
    for label in world.add_labels(issue, _label_names(call.body), world.bot, via_app=True):
        call.emit("issues", call.ctx.payloads.issue_label("labeled", issue, label, world.bot))
    return Reply(200, [call.ctx.render.label(issue.repo, label) for label in issue.labels])


def _label_names(body: Any) -> list[str]:
    items = body.get("labels", []) if isinstance(body, dict) else []
    return [item if isinstance(item, str) else item["name"] for item in items]


def remove_issue_label(call: Call) -> Reply:
    issue = call.issue()
    world = call.ctx.world
    label = world.remove_label(issue, call.params["name"], world.bot, via_app=True)
    if label is None:
        raise ApiError(404, "Label does not exist", docs_url=call.operation.docs_url)
    call.emit("issues", call.ctx.payloads.issue_label("unlabeled", issue, label, world.bot))
    return Reply(200, [call.ctx.render.label(issue.repo, label) for label in issue.labels])


def list_repo_labels(call: Call) -> Reply:
    repo = call.repo()
    return paginate(
        call, list(repo.labels.values()), lambda label: call.ctx.render.label(repo, label)
    )


def create_label(call: Call) -> Reply:
    repo = call.repo()
    body = call.body
    label = call.ctx.world.create_label(
        repo,
        body["name"],
        color=body.get("color", DEFAULT_LABEL_COLOR).removeprefix("#"),
        description=body.get("description"),
    )
    if label is None:
        raise ApiError(
            422,
            "Validation Failed",
            docs_url=call.operation.docs_url,
            errors=[{"resource": "Label", "code": "already_exists", "field": "name"}],
        )
    return Reply(201, call.ctx.render.label(repo, label))


def get_label(call: Call) -> Reply:
    repo = call.repo()
    label = repo.label(call.params["name"])
    if label is None:
        raise not_found()
    return Reply(200, call.ctx.render.label(repo, label))


# -- permissions and limits ---------------------------------------------------------------


def get_permission(call: Call) -> Reply:
    repo = call.repo()
    login = call.params["username"]
    # Anyone may read a public repository; a private one is closed to non-collaborators.
    role = repo.role_of(login) or (None if repo.private else "read")
    return Reply(
        200,
        {
            "permission": PERMISSION_OF_ROLE.get(role or "", "none"),
            "role_name": role or "none",
            "user": call.ctx.render.collaborator(call.ctx.world.user(login), role),
        },
    )


def get_rate_limit(call: Call) -> Reply:
    core = call.budget.as_json()
    reset = int(datetime.now(UTC).timestamp()) + 60
    search = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
    return Reply(200, {"resources": {"core": core, "search": search}, "rate": core})


ROUTES: Mapping[str, Route] = {
    "apps/get-authenticated": Route(get_app, Auth.JWT),
    "apps/list-installations": Route(list_installations, Auth.JWT),
    "apps/get-repo-installation": Route(get_repo_installation, Auth.JWT),
    "apps/create-installation-access-token": Route(create_access_token, Auth.JWT),
    "apps/list-repos-accessible-to-installation": Route(list_installation_repos, Auth.INSTALLATION),
    "issues/list-for-repo": Route(list_issues, Auth.INSTALLATION),
    "issues/get": Route(get_issue, Auth.INSTALLATION),
    "issues/list-events": Route(list_issue_events, Auth.INSTALLATION),
    "issues/list-comments": Route(list_comments, Auth.INSTALLATION),
    "issues/create-comment": Route(create_comment, Auth.INSTALLATION),
    "issues/get-comment": Route(get_comment, Auth.INSTALLATION),
    "issues/update-comment": Route(update_comment, Auth.INSTALLATION),
    "reactions/list-for-issue-comment": Route(list_comment_reactions, Auth.INSTALLATION),
    "reactions/create-for-issue-comment": Route(create_comment_reaction, Auth.INSTALLATION),
    "reactions/list-for-issue": Route(list_issue_reactions, Auth.INSTALLATION),
    "reactions/create-for-issue": Route(create_issue_reaction, Auth.INSTALLATION),
    "issues/list-labels-on-issue": Route(list_issue_labels, Auth.INSTALLATION),
    "issues/add-labels": Route(add_issue_labels, Auth.INSTALLATION),
    "issues/remove-label": Route(remove_issue_label, Auth.INSTALLATION),
    "issues/list-labels-for-repo": Route(list_repo_labels, Auth.INSTALLATION),
    "issues/create-label": Route(create_label, Auth.INSTALLATION),
    "issues/get-label": Route(get_label, Auth.INSTALLATION),
    "repos/get-collaborator-permission-level": Route(get_permission, Auth.INSTALLATION),
    "rate-limit/get": Route(get_rate_limit, Auth.ANY, counted=False),
    **HOOK_ROUTES,
    **GIST_ROUTES,
}
