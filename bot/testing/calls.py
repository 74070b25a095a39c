"""What a request handler works with: a validated `Call` in, a `Reply` (or `ApiError`) out.

Handlers live in `handlers.py`; HTTP, authentication, rate limits, ETags and recording
live in `dispatch.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlencode

from bot.testing.gists import Gists
from bot.testing.openapi import Operation
from bot.testing.payloads import Payloads
from bot.testing.ratelimit import Budget
from bot.testing.render import Json, Renderer
from bot.testing.webhooks import WebhookSender
from bot.testing.world import Comment, Issue, Repo, Token, User, UserToken, World

DOCS_URL = "https://docs.github.com/rest"
MAX_PER_PAGE = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer in GitHub's shape: `message`, `documentation_url`, `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        docs_url: str = DOCS_URL,
        errors: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.docs_url = docs_url
        self.errors = errors

    def reply(self) -> Reply:
        body: Json = {"message": self.message, "documentation_url": self.docs_url}
        if self.errors is not None:
            body["errors"] = self.errors
        body["status"] = str(self.status)
        return Reply(self.status, body)


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


@dataclass(frozen=True, slots=True)
class Event:
    """A webhook event to send after the reply: one the world produced while serving the
    request, or a redelivery (`guid` set, `redelivery` true) the App asked for."""

    name: str
    payload: Json
    # The `X-GitHub-Delivery` to send with; None: a new one.
    guid: str | None = None
    redelivery: bool = False


@dataclass(frozen=True, slots=True)
class Context:
    """What every request shares."""

    world: World
    render: Renderer
    payloads: Payloads
    token_ttl: timedelta
    app_owner: User
    gists: Gists
    webhooks: WebhookSender


@dataclass(slots=True)
class Call:
    """One validated request, as a handler sees it."""

    ctx: Context
    operation: Operation
    params: dict[str, Any]
    body: Any
    token: Token | None
    budget: Budget
    raw_path: str
    query: list[tuple[str, str]]
    events: list[Event] = field(default_factory=list)
    # The person calling with a user token (gist endpoints); None for an installation.
    user_token: UserToken | None = None

    def repo(self) -> Repo:
        """The path's repository, if the caller's token may see it (else 404, as GitHub)."""
        repo = self.ctx.world.repo(f"{self.params['owner']}/{self.params['repo']}")
        if repo is None or self.token is None or not self.token.can_see(repo):
            raise not_found()
        return repo

    def issue(self) -> Issue:
        issue = self.repo().issues.get(self.params["issue_number"])
        if issue is None:
            raise not_found()
        return issue

    def comment(self) -> Comment:
        repo = self.repo()
        comment = self.ctx.world.comments.get(self.params["comment_id"])
        if comment is None or comment.issue.repo is not repo:
            raise not_found()
        return comment

    def emit(
        self, name: str, payload: Json, *, guid: str | None = None, redelivery: bool = False
    ) -> None:
        self.events.append(Event(name, payload, guid, redelivery))


class Auth(Enum):
    """Which credential an operation takes."""

    JWT = "jwt"
    INSTALLATION = "installation"
    USER = "user"
    ANY = "any"


Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    auth: Auth
    # Whether a call spends rate-limit budget (`GET /rate_limit` does not).
    counted: bool = True


# -- pagination ---------------------------------------------------------------------------


def paginate(call: Call, items: Sequence[T], render: Callable[[T], Json]) -> Reply:
    """One page of `items`, with GitHub's `Link` header (prev, next, last, first)."""
    chunk, headers = page_of(call, items)
    return Reply(200, [render(item) for item in chunk], headers)


def per_page(call: Call) -> int:
    """The call's `per_page`, within GitHub's 1 to 100."""
    return min(max(int(call.params.get("per_page", 30)), 1), MAX_PER_PAGE)


def page_of(call: Call, items: Sequence[T]) -> tuple[Sequence[T], dict[str, str]]:
    """The call's page of `items`, and the headers with its `Link` (prev, next, last,
    first), for answers that wrap the page in an object."""
    size = per_page(call)
    page = max(int(call.params.get("page", 1)), 1)
    last = max(math.ceil(len(items) / size), 1)
    chunk = items[(page - 1) * size : page * size]
    links = []
    if page > 1:
        links.append((page - 1, "prev"))
    if page < last:
        links += [(page + 1, "next"), (last, "last")]
    if page > 1:
        links.append((1, "first"))
    headers = (
        {"Link": ", ".join(link(call, "page", str(n), rel) for n, rel in links)} if links else {}
    )
    return chunk, headers


def link(call: Call, name: str, value: str, rel: str) -> str:
    """One entry of a `Link` header: this call's URL with query parameter `name` set."""
    query = [(k, v) for k, v in call.query if k != name] + [(name, value)]
    return f'<{call.ctx.render.api_url}{call.raw_path}?{urlencode(query)}>; rel="{rel}"'
