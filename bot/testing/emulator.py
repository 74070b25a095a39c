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

Where it differs from GitHub (on purpose, for now): every API call needs a credential
(GitHub lets anyone read public repositories); a JWT on a repository endpoint is answered
403; token permissions are reported but not enforced; there are no organizations, teams,
secondary rate limits, gists, deliveries list or fault injection; creating a repository
label sends no `label` event.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from bot.testing.auth import load_public_key
from bot.testing.calls import Context, Event
from bot.testing.control import ControlApi
from bot.testing.dispatch import Dispatcher, RecordedRequest
from bot.testing.openapi import load_openapi
from bot.testing.payloads import Payloads, load_examples
from bot.testing.ratelimit import RateLimits
from bot.testing.render import Renderer
from bot.testing.views import IssueView, issue_view
from bot.testing.webhooks import Delivery, WebhookSender
from bot.testing.world import Association, User, World

# The App's owner, as `GET /app` and ping deliveries show it.
APP_OWNER = "octocat"


class GitHubEmulator:
    """GitHub for one App: REST API (validated against GitHub's OpenAPI description),
    JWT and installation-token auth, rate limits, ETags, and signed webhook deliveries.

    `token_ttl` is how long installation tokens live (GitHub: one hour).
    `deliver_own_events`: writes the bot makes (comments, labels) produce webhooks too, as
    on GitHub, sent in the background after the API response; `settle()` waits for them.
    `rate_limit` is each installation's hourly request budget.
    `world` is the underlying model (plain dataclasses), for looks beyond `issue_view()`.
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
        self._hook_id = secrets.randbelow(10**9)
        self._sender = WebhookSender(secret=webhook_secret, hook_id=self._hook_id, app_id=app_id)
        self._app_owner = self.world.user(APP_OWNER)
        self._dispatcher = Dispatcher(
            Context(self.world, self._render, self._payloads, token_ttl, self._app_owner),
            openapi=load_openapi(),
            app_id=app_id,
            public_key=load_public_key(public_key_pem),
            rate_limits=self._limits,
            on_events=self._send_own_events,
        )
        self.app = web.Application()
        self.app.add_routes(ControlApi(self).routes())
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
        """Every webhook delivery attempt, in the order they completed."""
        return self._sender.deliveries

    def writes(self) -> list[RecordedRequest]:
        """The recorded requests that were not GETs."""
        return [r for r in self.requests if r.method != "GET"]

    def issue_view(self, repo: str, number: int) -> IssueView:
        """The issue's labels, comments and reactions as plain data."""
        return issue_view(self.world.require_issue(repo, number))

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
        """Open an issue (or a pull request) without a webhook; returns its number."""
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

    # -- webhooks ----------------------------------------------------------------------

    async def deliver(
        self, event: str, payload: dict[str, Any], *, delivery_id: str | None = None
    ) -> Delivery:
        """POST a signed delivery to `webhook_url` and wait for the answer (10 s at most)."""
        return await self._sender.send(self._webhook_url(), event, payload, delivery_id)

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send an earlier delivery again with the same `X-GitHub-Delivery`, as GitHub does."""
        for earlier in reversed(self.deliveries):
            if earlier.id == delivery_id:
                return await self.deliver(earlier.event, earlier.payload, delivery_id=delivery_id)
        raise KeyError(f"no delivery {delivery_id!r}")

    async def settle(self) -> None:
        """Wait until no delivery is in flight (the bot's own events included)."""
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
        added = self.world.add_labels(issue, [label])
        if not added:
            raise ValueError(f"{repo}#{issue_number} already has label {label!r}")
        payload = self._payloads.issue_label(
            "labeled", issue, added[0], self.world.user(user_login)
        )
        return await self.deliver("issues", payload)

    async def unlabel_issue(
        self, repo: str, issue_number: int, label: str, user_login: str
    ) -> Delivery:
        """`user_login` removes a label (issues.unlabeled)."""
        issue = self.world.require_issue(repo, issue_number)
        removed = self.world.remove_label(issue, label)
        if removed is None:
            raise ValueError(f"{repo}#{issue_number} has no label {label!r}")
        payload = self._payloads.issue_label(
            "unlabeled", issue, removed, self.world.user(user_login)
        )
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

    def _send_own_events(self, events: list[Event], answered: asyncio.Event) -> None:
        if not self.deliver_own_events or self.webhook_url is None:
            return
        for event in events:
            self._sender.send_in_background(
                self.webhook_url, event.name, event.payload, after=answered
            )
