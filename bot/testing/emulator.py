"""`GitHubEmulator`: GitHub's REST API and webhooks for one App, over real HTTP.

Point the bot at it with `GITHUB_API_URL=<emulator.url>` and `emulator.webhook_url` at the
bot's webhook endpoint; then build a world, drive it the way people would (comment,
label, install) and assert on what the bot did::

    keys = generate_key_pair()
    async with GitHubEmulator(
        app_id=1, app_slug="queue-bot", public_key_pem=keys.public_pem, webhook_secret="s"
    ) as github:
        github.add_installation(7, "octo-org")
        github.add_repo(7, "octo-org/app")
        number = github.add_issue("octo-org/app", "Nightly report")
        github.webhook_url = bot_url
        await github.comment("octo-org/app", number, "alice", "/generate-report")
        await github.settle()
        assert github.issue_view("octo-org/app", number).labels == ["bot:succeeded"]
        assert github.violations == []

Each issue keeps its events as GitHub lists them (`GET .../issues/{n}/events`,
`issue_events()`): `labeled` and `unlabeled` by the person (`label_issue`) or, with
`performed_via_github_app` set, by the App's bot user (its REST calls); an issue made by
`add_issue` starts with its author's `labeled` events and, if closed, a `closed` one.

The bot's state gist is written with a person's token (`add_user_token`); tests then look
at it (`gist_view`, `gist_history`) and disturb it: `foreign_write` edits it as someone
else, `on_next_gist_patch` does so between the bot's read and its write, `set_latency`
slows every answer down.

Every delivery attempt is recorded (`deliveries`), failed ones too: a refused connection,
a timeout, a non-2xx answer, and no `webhook_url` set for an event the bot's own writes
cause (the people's actions, `comment()` and the like, raise RuntimeError without one).
The App reads them as on GitHub, with its JWT: `GET /app/hook/deliveries` (newest first,
`cursor` pagination; `status=failure` selects status codes 400-599 as GitHub's
description says, so not a delivery that got no answer, whose `status_code` is 0),
`GET /app/hook/deliveries/{id}` and `POST /app/hook/deliveries/{id}/attempts`, which
redelivers with the same GUID after the 202 (422 for deliveries older than 3 days;
`backdate_deliveries` makes some that old).

Where it differs from GitHub (on purpose, for now): every API call needs a credential
(GitHub lets anyone read public repositories and gists); a JWT on a repository endpoint
is answered 403, a user token on one too (people's access to repositories is not
modelled); token permissions are reported but not enforced; there are no organizations,
teams, gist comments, stars or forks; secondary rate limits come only when injected
(`inject_faults`, which touches REST answers, not deliveries); failed deliveries are not
retried (GitHub does not retry either) and never throttled; the deliveries list keeps
every attempt (GitHub keeps them for a while) and its `Link` has `next` only; creating a
repository label sends no `label` event; issues are never closed or reopened after
`add_issue`, so the only state event is the `closed` of an issue added closed; an issue
event's `url` (`/repos/{owner}/{repo}/issues/events/{id}`) is not served.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from bot.testing.auth import load_public_key
from bot.testing.calls import Context, Event
from bot.testing.control import ControlApi
from bot.testing.dispatch import Dispatcher, RecordedRequest
from bot.testing.faults import Faults, Latency
from bot.testing.gists import DELETE, FileEdit, Gists
from bot.testing.openapi import load_openapi
from bot.testing.payloads import Payloads, load_examples
from bot.testing.ratelimit import RateLimits
from bot.testing.raw import RawFiles
from bot.testing.render import Renderer
from bot.testing.views import IssueEventView, IssueView, issue_event_views, issue_view
from bot.testing.webhooks import Delivery, WebhookSender
from bot.testing.world import Association, User, World

# The App's owner, as `GET /app` and ping deliveries show it.
APP_OWNER = "octocat"
# The largest request body served; enough for gists of several files over 1 MB each.
MAX_REQUEST_BYTES = 100 * 1024 * 1024


class GitHubEmulator:
    """GitHub for one App: REST API (validated against GitHub's OpenAPI description),
    JWT and installation-token auth, rate limits, ETags, and signed webhook deliveries.

    `token_ttl` is how long installation tokens live (GitHub: one hour).
    `deliver_own_events`: writes the bot makes (comments, labels) produce webhooks too, as
    on GitHub, sent in the background after the API response (recorded as failed while
    `webhook_url` is None); `settle()` waits for them.
    `rate_limit` is each installation's hourly request budget (a person's is 5000).
    `world` and `gists` are the underlying model (plain dataclasses), for looks beyond
    `issue_view()` and `gist_view()`.
    """

    def __init__(
        self,
        *,
        app_id: int,
        app_slug: str,
        public_key_pem: str | bytes,
        webhook_secret: str,
        webhook_url: str | None = None,
        token_ttl: timedelta = timedelta(hours=1),
        deliver_own_events: bool = True,
        rate_limit: int = 5000,
    ) -> None:
        self.app_id = app_id
        self.app_slug = app_slug
        self.webhook_url = webhook_url
        self.deliver_own_events = deliver_own_events
        self.world = World(app_slug)
        examples = load_examples()
        self._render = Renderer(
            # Replaced by the real address in start(); payloads built before carry this.
            api_url="http://127.0.0.1",
            app_id=app_id,
            app_slug=app_slug,
            repository_template=examples["issue_comment.created"]["repository"],
        )
        self._payloads = Payloads(self._render, examples)
        self._limits = RateLimits(rate_limit)
        self._latency = Latency()
        self.gists = Gists()
        self._hook_id = secrets.randbelow(10**9)
        self._sender = WebhookSender(secret=webhook_secret, hook_id=self._hook_id, app_id=app_id)
        self._app_owner = self.world.user(APP_OWNER)
        self._dispatcher = Dispatcher(
            Context(
                self.world,
                self._render,
                self._payloads,
                token_ttl,
                self._app_owner,
                self.gists,
                self._sender,
            ),
            openapi=load_openapi(),
            app_id=app_id,
            public_key=load_public_key(public_key_pem),
            rate_limits=self._limits,
            latency=self._latency,
            on_events=self._send_events,
        )
        # aiohttp refuses bodies over 1 MiB by default; GitHub takes far larger ones (a gist
        # file over 1 MB is written whole and only read back truncated).
        self.app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        self.app.add_routes(ControlApi(self).routes())
        self.app.add_routes(RawFiles(self.gists, self._latency).routes())
        self.app.router.add_route("*", "/{tail:.*}", self._dispatcher.handle)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base URL, e.g. `http://127.0.0.1:54321` (the bot's `GITHUB_API_URL`)."""
        if self._url is None:
            raise RuntimeError("the emulator is not running; await start() first")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (port 0: any free port) and return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        bound_port = self._runner.addresses[0][1]
        self._url = f"http://{host}:{bound_port}"
        self._render.api_url = self._url
        return self._url

    async def stop(self) -> None:
        """Finish in-flight deliveries, then stop listening."""
        await self._sender.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- inspection --------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every GitHub API request answered, in order (the control API is not included)."""
        return self._dispatcher.requests

    @property
    def violations(self) -> list[str]:
        """Requests GitHub's description rejects, e.g.
        `"POST /repos/o/r/issues/1/labels: body: 'labels' is a required property"`."""
        return self._dispatcher.violations

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt, failed ones and redeliveries included, in the
        order they completed (which is `api_id` order); a copy."""
        return list(self._sender.deliveries)

    def delivery(self, api_id: int) -> Delivery:
        """The delivery `GET /app/hook/deliveries/{api_id}` shows; KeyError if none."""
        found = self._sender.find(api_id)
        if found is None:
            raise KeyError(f"no delivery with api_id {api_id}")
        return found

    def backdate_deliveries(self, by: timedelta) -> None:
        """Make every delivery recorded so far `by` older (its `delivered_at` moves back),
        e.g. past the 3 days within which GitHub redelivers."""
        self._sender.backdate(by)

    def writes(self) -> list[RecordedRequest]:
        """The recorded requests that were not GETs."""
        return [r for r in self.requests if r.method != "GET"]

    def issue_view(self, repo: str, number: int) -> IssueView:
        """The issue's labels, comments and reactions as plain data."""
        return issue_view(self.world.require_issue(repo, number))

    def issue_events(self, repo: str, number: int) -> list[IssueEventView]:
        """The issue's events, oldest first, as `GET .../issues/{number}/events` lists them."""
        return issue_event_views(self.world.require_issue(repo, number).events)

    # -- building the world ------------------------------------------------------------

    def add_installation(self, installation_id: int, account_login: str) -> None:
        self.world.add_installation(installation_id, account_login)

    def add_repo(self, installation_id: int, full_name: str, *, private: bool = False) -> None:
        """Add `owner/name` to an installation (the owner is the repository's admin)."""
        self.world.add_repo(installation_id, full_name, private=private)

    def add_issue(
        self,
        repo: str,
        title: str,
        *,
        body: str = "",
        user: str = "octocat",
        labels: Sequence[str] = (),
        state: Literal["open", "closed"] = "open",
        created_at: datetime | None = None,
        closed_at: datetime | None = None,
        pull_request: bool = False,
    ) -> int:
        """Open an issue (or a pull request) without a webhook; returns its number. Its
        events: `user`'s `labeled` for each label at `created_at`, and `closed` at
        `closed_at` when closed."""
        issue = self.world.add_issue(
            self.world.require_repo(repo),
            title,
            body=body,
            user=self.world.user(user),
            state=state,
            created_at=created_at,
            closed_at=closed_at,
            pull_request=pull_request,
            labels=labels,
        )
        return issue.number

    def set_role(self, repo: str, login: str, role: str) -> None:
        """Give `login` a role on `repo`: admin, maintain, write, triage or read."""
        self.world.set_role(self.world.require_repo(repo), login, role)

    def set_rate_limit_remaining(self, installation_id: int, remaining: int) -> None:
        """Spend an installation's budget down to `remaining` for this hour."""
        budget = self._limits.budget(installation_id)
        budget.used = budget.limit - remaining

    def add_user_token(self, login: str, *, scopes: Sequence[str] = ("gist",)) -> str:
        """A classic personal access token (`ghp_...`) of `login`, the only credential the
        gist endpoints accept; without the `gist` scope it reads but cannot write gists."""
        return self.world.issue_user_token(login, scopes).value

    # -- gists -------------------------------------------------------------------------

    def add_gist(
        self,
        login: str,
        files: Mapping[str, str],
        *,
        description: str | None = None,
        public: bool = False,
    ) -> str:
        """Create a gist owned by `login` (one revision), without a request; returns its id."""
        gist = self.gists.create(
            self.world.user(login), files, description=description, public=public
        )
        return gist.id

    def gist_view(self, gist_id: str) -> dict[str, str]:
        """The gist's files now, name -> full content (never truncated)."""
        return dict(self.gists.require(gist_id).files)

    def gist_history(self, gist_id: str) -> list[str]:
        """The gist's versions, newest first, as `GET /gists/{id}/commits` lists them."""
        return [revision.version for revision in reversed(self.gists.require(gist_id).history)]

    def gists_of(self, login: str) -> list[str]:
        """The ids of `login`'s gists, oldest first."""
        return [gist.id for gist in self.gists.of(self.world.user(login))]

    def foreign_write(
        self, gist_id: str, files: Mapping[str, str | None], *, user: str = "someone-else"
    ) -> str:
        """`user` edits the gist right now, as a person would by hand: each named file gets
        the content, or is deleted for None; others stay. Returns the gist's version after
        the write (unchanged when the files already held that). Raises `GistError` (a
        ValueError) for a change GitHub refuses, such as deleting the last file."""
        gist = self.gists.require(gist_id)
        edits = {
            name: DELETE if content is None else FileEdit(content=content)
            for name, content in files.items()
        }
        self.gists.update(gist, self.world.user(user), edits)
        return gist.head.version

    def on_next_gist_patch(self, gist_id: str, callback: Callable[[GitHubEmulator], None]) -> None:
        """Run `callback(emulator)` once, just before the next `PATCH /gists/{gist_id}` that
        passes authentication and validation is applied: e.g. a `foreign_write` landing
        between the bot's read and its write. Several callbacks all run before that PATCH."""
        self.gists.before_next_patch(gist_id, lambda: callback(self))

    # -- faults ------------------------------------------------------------------------

    def inject_faults(self, faults: Faults | None) -> None:
        """Fail REST answers as `faults` says (server errors, secondary limits, 429s, dropped
        connections); None stops. A caller that comes back before the wait it was told is
        recorded in `violations`."""
        self._dispatcher.faults = faults

    def set_latency(self, seconds: float, *, jitter: float = 0.0, seed: int | None = None) -> None:
        """Delay every GitHub answer (API and raw gist files; not the control API) by
        `seconds` plus or minus a uniform `jitter`, drawn from `random.Random(seed)`.
        Half of it passes before the request is served, half before the answer leaves.
        `set_latency(0)` turns it off."""
        self._latency.set(seconds, jitter=jitter, seed=seed)

    # -- webhooks ----------------------------------------------------------------------

    async def deliver(
        self, event: str, payload: dict[str, Any], *, delivery_id: str | None = None
    ) -> Delivery:
        """POST a signed delivery to `webhook_url` and wait for the answer (10 s at most)."""
        return await self._sender.send(self._webhook_url(), event, payload, delivery_id)

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send an earlier delivery again with the same `X-GitHub-Delivery`, as GitHub does
        (recorded as a new delivery with `redelivery` true), and wait for the answer."""
        for earlier in reversed(self._sender.deliveries):
            if earlier.id == delivery_id:
                return await self._sender.send(
                    self._webhook_url(),
                    earlier.event,
                    earlier.payload,
                    delivery_id,
                    redelivery=True,
                )
        raise KeyError(f"no delivery {delivery_id!r}")

    async def settle(self) -> None:
        """Wait until no delivery is in flight (the bot's own events and redeliveries the
        App asked for included)."""
        await self._sender.settle()

    # -- people acting on GitHub (each changes the world, then delivers its event) ---------

    async def comment(
        self,
        repo: str,
        issue_number: int,
        user_login: str,
        body: str,
        *,
        association: Association | None = None,
    ) -> Delivery:
        """`user_login` comments (issue_comment.created). The author association defaults
        from the user's role: the owner OWNER, anyone with a role COLLABORATOR, else NONE."""
        issue = self.world.require_issue(repo, issue_number)
        user = self.world.user(user_login)
        comment = self.world.add_comment(issue, user, body, association)
        return await self.deliver(
            "issue_comment", self._payloads.issue_comment("created", comment, user)
        )

    async def edit_comment(self, comment_id: int, body: str, user_login: str) -> Delivery:
        """`user_login` edits a comment (issue_comment.edited, with `changes.body.from`)."""
        comment = self.world.require_comment(comment_id)
        previous = self.world.edit_comment(comment, body)
        payload = self._payloads.issue_comment(
            "edited", comment, self.world.user(user_login), previous_body=previous
        )
        return await self.deliver("issue_comment", payload)

    async def label_issue(
        self, repo: str, issue_number: int, label: str, user_login: str
    ) -> Delivery:
        """`user_login` adds a label, created if the repository lacks it (issues.labeled)."""
        issue = self.world.require_issue(repo, issue_number)
        user = self.world.user(user_login)
        added = self.world.add_labels(issue, [label], user)
        if not added:
            raise ValueError(f"{repo}#{issue_number} already has label {label!r}")
        payload = self._payloads.issue_label("labeled", issue, added[0], user)
        return await self.deliver("issues", payload)

    async def unlabel_issue(
        self, repo: str, issue_number: int, label: str, user_login: str
    ) -> Delivery:
        """`user_login` removes a label (issues.unlabeled)."""
        issue = self.world.require_issue(repo, issue_number)
        user = self.world.user(user_login)
        removed = self.world.remove_label(issue, label, user)
        if removed is None:
            raise ValueError(f"{repo}#{issue_number} has no label {label!r}")
        payload = self._payloads.issue_label("unlabeled", issue, removed, user)
        return await self.deliver("issues", payload)

    async def install(
        self,
        installation_id: int,
        account_login: str,
        repos: Sequence[str] = (),
        *,
        private: bool = False,
        sender: str | None = None,
    ) -> Delivery:
        """Install the App on `account_login`'s repositories (installation.created)."""
        installation = self.world.add_installation(installation_id, account_login)
        added = [self.world.add_repo(installation_id, name, private=private) for name in repos]
        payload = self._payloads.installation(
            "created", installation, added, self._sender_or(sender, installation.account)
        )
        return await self.deliver("installation", payload)

    async def uninstall(self, installation_id: int, *, sender: str | None = None) -> Delivery:
        """Remove the installation; its tokens stop working (installation.deleted)."""
        repos = self.world.installation_repos(installation_id)
        installation = self.world.remove_installation(installation_id)
        payload = self._payloads.installation(
            "deleted", installation, repos, self._sender_or(sender, installation.account)
        )
        return await self.deliver("installation", payload)

    async def add_repositories(
        self,
        installation_id: int,
        repos: Sequence[str],
        *,
        private: bool = False,
        sender: str | None = None,
    ) -> Delivery:
        """Grant the installation more repositories (installation_repositories.added)."""
        installation = self.world.require_installation(installation_id)
        added = [self.world.add_repo(installation_id, name, private=private) for name in repos]
        payload = self._payloads.installation_repositories(
            "added", installation, added, self._sender_or(sender, installation.account)
        )
        return await self.deliver("installation_repositories", payload)

    async def remove_repositories(
        self, installation_id: int, repos: Sequence[str], *, sender: str | None = None
    ) -> Delivery:
        """Withdraw repositories from the installation (installation_repositories.removed)."""
        installation = self.world.require_installation(installation_id)
        removed = [self.world.detach_repo(installation_id, name) for name in repos]
        payload = self._payloads.installation_repositories(
            "removed", installation, removed, self._sender_or(sender, installation.account)
        )
        return await self.deliver("installation_repositories", payload)

    async def ping(self) -> Delivery:
        """The `ping` GitHub sends when an App's webhook is set up."""
        payload = self._payloads.ping(self._hook_id, self._webhook_url(), self._app_owner)
        return await self.deliver("ping", payload)

    # -- internals ---------------------------------------------------------------------

    def _webhook_url(self) -> str:
        if self.webhook_url is None:
            raise RuntimeError("webhook_url is not set; point it at the bot's webhook endpoint")
        return self.webhook_url

    def _sender_or(self, login: str | None, default: User) -> User:
        return self.world.user(login) if login else default

    def _send_events(self, events: list[Event], answered: asyncio.Event) -> None:
        """Send what a request caused, after its answer. Without a `webhook_url` each is
        recorded as a failed delivery, as GitHub records what it could not deliver."""
        for event in events:
            if not (event.redelivery or self.deliver_own_events):
                continue
            self._sender.send_in_background(
                self.webhook_url,
                event.name,
                event.payload,
                after=answered,
                delivery_id=event.guid,
                redelivery=event.redelivery,
            )
