"""The emulated GitHub's state: plain dataclasses and the few operations that change them.

Nothing here knows about HTTP or JSON; `render.py` turns these objects into GitHub's
shapes and `api.py` maps requests onto the operations below.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

# GitHub's repository roles, least to most.
ROLES = ("read", "triage", "write", "maintain", "admin")
REACTION_CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
# The colour GitHub gives a label created implicitly by adding it to an issue.
DEFAULT_LABEL_COLOR = "ededed"
DEFAULT_PERMISSIONS = {"issues": "write", "metadata": "read", "pull_requests": "write"}
_TOKEN_ALPHABET = string.ascii_letters + string.digits

# The issue events the world records (`GET /repos/{owner}/{repo}/issues/{n}/events`).
IssueEventKind = Literal["labeled", "unlabeled", "closed", "reopened"]

# GitHub's `author_association` values; the world itself derives OWNER, COLLABORATOR, NONE.
Association = Literal[
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIMER",
    "FIRST_TIME_CONTRIBUTOR",
    "MANNEQUIN",
    "MEMBER",
    "NONE",
    "OWNER",
]


def now() -> datetime:
    """GitHub's timestamps have whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


def _aware(moment: datetime) -> datetime:
    """A naive datetime is taken as UTC, GitHub's zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(slots=True, eq=False)
class User:
    id: int
    login: str
    type: Literal["User", "Bot"] = "User"


@dataclass(slots=True, eq=False)
class Label:
    id: int
    name: str
    color: str = DEFAULT_LABEL_COLOR
    description: str | None = None


@dataclass(slots=True, eq=False)
class Reaction:
    id: int
    user: User
    content: str
    created_at: datetime


@dataclass(slots=True, eq=False)
class Comment:
    id: int
    issue: Issue
    user: User
    body: str
    association: Association
    created_at: datetime
    updated_at: datetime
    reactions: list[Reaction] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class IssueEvent:
    """Something that happened to an issue, as its events list shows it. `via_app`: the
    App did it (through its installation token), so `actor` is the App's bot user."""

    id: int
    issue: Issue
    event: IssueEventKind
    actor: User
    created_at: datetime
    # For `labeled` and `unlabeled`.
    label: Label | None = None
    via_app: bool = False


@dataclass(slots=True, eq=False)
class Issue:
    id: int
    repo: Repo
    number: int
    title: str
    body: str
    user: User
    association: Association
    state: Literal["open", "closed"]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    is_pull_request: bool = False
    labels: list[Label] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    reactions: list[Reaction] = field(default_factory=list)
    # Oldest first.
    events: list[IssueEvent] = field(default_factory=list)

    def has_label(self, name: str) -> bool:
        return any(label.name.lower() == name.lower() for label in self.labels)


@dataclass(slots=True, eq=False)
class Repo:
    id: int
    owner: User
    name: str
    private: bool
    installation_id: int | None
    created_at: datetime
    # Keyed by lower-case name: GitHub matches label names case-insensitively.
    labels: dict[str, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    # Keyed by lower-case login.
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def label(self, name: str) -> Label | None:
        return self.labels.get(name.lower())

    def role_of(self, login: str) -> str | None:
        """The user's role, `None` when they have none; a user-owned repo's owner is admin."""
        if login.lower() == self.owner.login.lower():
            return "admin"
        return self.roles.get(login.lower())

    def association(self, login: str) -> Association:
        if login.lower() == self.owner.login.lower():
            return "OWNER"
        return "COLLABORATOR" if login.lower() in self.roles else "NONE"


@dataclass(slots=True, eq=False)
class Installation:
    id: int
    account: User
    created_at: datetime
    permissions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    installation_id: int
    expires_at: datetime
    permissions: dict[str, str]
    # None: every repository of the installation.
    repository_ids: frozenset[int] | None = None

    def can_see(self, repo: Repo) -> bool:
        if repo.installation_id != self.installation_id:
            return False
        return self.repository_ids is None or repo.id in self.repository_ids


@dataclass(frozen=True, slots=True)
class UserToken:
    """A person's token (a classic PAT): it acts as `user`, within `scopes`."""

    value: str
    user: User
    scopes: frozenset[str]


class World:
    """Everything the emulated GitHub knows. Ids come from one counter, so they never clash."""

    def __init__(self, app_slug: str) -> None:
        self._last_id = 1000
        self.users: dict[str, User] = {}
        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, Repo] = {}
        self.comments: dict[int, Comment] = {}
        self.tokens: dict[str, Token] = {}
        self.user_tokens: dict[str, UserToken] = {}
        self.bot = User(self.next_id(), f"{app_slug}[bot]", "Bot")
        self.users[self.bot.login.lower()] = self.bot

    def next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    # -- people and places -------------------------------------------------------------

    def user(self, login: str) -> User:
        """The user with this login, created on first mention: every login exists here."""
        key = login.lower()
        if key not in self.users:
            self.users[key] = User(self.next_id(), login)
        return self.users[key]

    def add_installation(self, installation_id: int, account_login: str) -> Installation:
        if installation_id in self.installations:
            raise ValueError(f"installation {installation_id} already exists")
        installation = Installation(installation_id, self.user(account_login), now())
        self.installations[installation_id] = installation
        return installation

    def remove_installation(self, installation_id: int) -> Installation:
        installation = self.require_installation(installation_id)
        del self.installations[installation_id]
        for repo in self.installation_repos(installation_id):
            repo.installation_id = None
        self.tokens = {
            value: token
            for value, token in self.tokens.items()
            if token.installation_id != installation_id
        }
        return installation

    def require_installation(self, installation_id: int) -> Installation:
        try:
            return self.installations[installation_id]
        except KeyError:
            raise KeyError(f"no installation {installation_id}") from None

    def installation_repos(self, installation_id: int) -> list[Repo]:
        return [repo for repo in self.repos.values() if repo.installation_id == installation_id]

    def add_repo(self, installation_id: int, full_name: str, *, private: bool) -> Repo:
        """Create a repository, or move an existing one into the installation."""
        self.require_installation(installation_id)
        existing = self.repo(full_name)
        if existing is not None:
            existing.installation_id = installation_id
            return existing
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"expected 'owner/name', got {full_name!r}")
        repo = Repo(self.next_id(), self.user(owner), name, private, installation_id, now())
        self.repos[full_name.lower()] = repo
        return repo

    def detach_repo(self, installation_id: int, full_name: str) -> Repo:
        """Take a repository out of its installation; the repository itself stays."""
        repo = self.require_repo(full_name)
        if repo.installation_id != installation_id:
            raise ValueError(f"{repo.full_name} is not in installation {installation_id}")
        repo.installation_id = None
        return repo

    def repo(self, full_name: str) -> Repo | None:
        """GitHub's owner and repository names are case-insensitive."""
        return self.repos.get(full_name.lower())

    def require_repo(self, full_name: str) -> Repo:
        repo = self.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name!r}; add it with add_repo()")
        return repo

    def set_role(self, repo: Repo, login: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
        self.user(login)
        repo.roles[login.lower()] = role

    # -- issues and comments -----------------------------------------------------------

    def add_issue(
        self,
        repo: Repo,
        title: str,
        *,
        body: str,
        user: User,
        state: Literal["open", "closed"],
        created_at: datetime | None,
        closed_at: datetime | None,
        pull_request: bool,
        labels: Sequence[str] = (),
    ) -> Issue:
        created = _aware(created_at) if created_at else now()
        closed_at = _aware(closed_at) if closed_at else None
        if state == "closed" and closed_at is None:
            closed_at = created
        # Issues and pull requests share one sequence of numbers, as on GitHub.
        number = len(repo.issues) + 1
        issue = Issue(
            id=self.next_id(),
            repo=repo,
            number=number,
            title=title,
            body=body,
            user=user,
            association=repo.association(user.login),
            state=state,
            created_at=created,
            updated_at=closed_at or created,
            closed_at=closed_at,
            is_pull_request=pull_request,
        )
        # Set directly rather than through add_labels: a new issue's updated_at stays put.
        # Its history is what GitHub would show: its author labelled it as they opened it,
        # and closed it at `closed_at`.
        for name in labels:
            if not issue.has_label(name):
                label = self.ensure_label(repo, name)
                issue.labels.append(label)
                self.record_event(issue, "labeled", user, label=label, at=created)
        if closed_at is not None:
            self.record_event(issue, "closed", user, at=closed_at)
        repo.issues[number] = issue
        return issue

    def record_event(
        self,
        issue: Issue,
        kind: IssueEventKind,
        actor: User,
        *,
        label: Label | None = None,
        via_app: bool = False,
        at: datetime | None = None,
    ) -> IssueEvent:
        """Append to the issue's events (`at`: when it happened, default now)."""
        event = IssueEvent(
            id=self.next_id(),
            issue=issue,
            event=kind,
            actor=actor,
            created_at=_aware(at) if at else now(),
            label=label,
            via_app=via_app,
        )
        issue.events.append(event)
        return event

    def require_issue(self, full_name: str, number: int) -> Issue:
        repo = self.require_repo(full_name)
        try:
            return repo.issues[number]
        except KeyError:
            raise KeyError(f"no issue #{number} in {repo.full_name}") from None

    def add_comment(
        self, issue: Issue, user: User, body: str, association: Association | None = None
    ) -> Comment:
        stamp = now()
        comment = Comment(
            id=self.next_id(),
            issue=issue,
            user=user,
            body=body,
            association=association or issue.repo.association(user.login),
            created_at=stamp,
            updated_at=stamp,
        )
        issue.comments.append(comment)
        issue.updated_at = stamp
        self.comments[comment.id] = comment
        return comment

    def require_comment(self, comment_id: int) -> Comment:
        try:
            return self.comments[comment_id]
        except KeyError:
            raise KeyError(f"no comment {comment_id}") from None

    def edit_comment(self, comment: Comment, body: str) -> str:
        """Change the body; returns the previous one (webhooks carry it in `changes`)."""
        previous = comment.body
        comment.body = body
        comment.updated_at = now()
        return previous

    def react(self, reactions: list[Reaction], user: User, content: str) -> tuple[Reaction, bool]:
        """Add a reaction unless the user already has it; returns it and whether it is new."""
        for reaction in reactions:
            if reaction.user is user and reaction.content == content:
                return reaction, False
        reaction = Reaction(self.next_id(), user, content, now())
        reactions.append(reaction)
        return reaction, True

    # -- labels ------------------------------------------------------------------------

    def create_label(
        self, repo: Repo, name: str, *, color: str, description: str | None
    ) -> Label | None:
        """Create a repository label; `None` when one with that name exists."""
        if repo.label(name) is not None:
            return None
        label = Label(self.next_id(), name, color, description)
        repo.labels[name.lower()] = label
        return label

    def ensure_label(self, repo: Repo, name: str) -> Label:
        existing = repo.label(name)
        if existing is not None:
            return existing
        label = Label(self.next_id(), name)
        repo.labels[name.lower()] = label
        return label

    def add_labels(
        self, issue: Issue, names: list[str], actor: User, *, via_app: bool = False
    ) -> list[Label]:
        """`actor` attaches labels, creating unknown ones; returns only those newly
        attached, each recorded as a `labeled` event."""
        stamp = now()
        added: list[Label] = []
        for name in names:
            if not issue.has_label(name):
                label = self.ensure_label(issue.repo, name)
                issue.labels.append(label)
                added.append(label)
                self.record_event(issue, "labeled", actor, label=label, via_app=via_app, at=stamp)
        if added:
            issue.updated_at = stamp
        return added

    def remove_label(
        self, issue: Issue, name: str, actor: User, *, via_app: bool = False
    ) -> Label | None:
        """`actor` detaches a label (an `unlabeled` event); None when the issue lacks it."""
        for label in issue.labels:
            if label.name.lower() == name.lower():
                issue.labels.remove(label)
                stamp = now()
                issue.updated_at = stamp
                self.record_event(issue, "unlabeled", actor, label=label, via_app=via_app, at=stamp)
                return label
        return None

    # -- credentials -------------------------------------------------------------------

    def issue_token(
        self,
        installation: Installation,
        ttl: timedelta,
        permissions: dict[str, str],
        repository_ids: frozenset[int] | None,
    ) -> Token:
        value = "ghs_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))
        token = Token(
            value,
            installation.id,
            datetime.now(UTC) + ttl,
            permissions,
            repository_ids,
        )
        self.tokens[value] = token
        return token

    def valid_token(self, value: str) -> Token | None:
        """The token if it exists and has not expired."""
        token = self.tokens.get(value)
        if token is None or token.expires_at <= datetime.now(UTC):
            return None
        return token

    def issue_user_token(self, login: str, scopes: Sequence[str]) -> UserToken:
        # Classic PATs never expire unless their owner sets a date, so these do not either.
        value = "ghp_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))
        token = UserToken(value, self.user(login), frozenset(scopes))
        self.user_tokens[value] = token
        return token
