"""Plain snapshots of the world for assertions: what a person would see on the issue."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.testing.world import Issue, IssueEvent, Reaction


@dataclass(frozen=True, slots=True)
class ReactionView:
    content: str
    user: str


@dataclass(frozen=True, slots=True)
class CommentView:
    id: int
    user: str
    body: str
    reactions: list[ReactionView]


@dataclass(frozen=True, slots=True)
class IssueView:
    repo: str
    number: int
    title: str
    state: str
    labels: list[str]
    comments: list[CommentView]
    reactions: list[ReactionView]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class IssueEventView:
    """One entry of the issue's events: e.g. `IssueEventView(1042, "labeled", "alice",
    "bug", via_app=False)`; `label` is None for events without one (`closed`)."""

    id: int
    event: str
    actor: str
    label: str | None
    via_app: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def issue_event_views(events: list[IssueEvent]) -> list[IssueEventView]:
    return [
        IssueEventView(e.id, e.event, e.actor.login, e.label.name if e.label else None, e.via_app)
        for e in events
    ]


def issue_view(issue: Issue) -> IssueView:
    return IssueView(
        repo=issue.repo.full_name,
        number=issue.number,
        title=issue.title,
        state=issue.state,
        labels=[label.name for label in issue.labels],
        comments=[
            CommentView(c.id, c.user.login, c.body, _reactions(c.reactions)) for c in issue.comments
        ],
        reactions=_reactions(issue.reactions),
    )


def _reactions(reactions: list[Reaction]) -> list[ReactionView]:
    return [ReactionView(r.content, r.user.login) for r in reactions]
