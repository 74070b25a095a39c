"""From a webhook event to the requests it carries: pure decisions, no I/O.

What runs: a known, runnable command on its own line of a new comment, or a trigger label
applied to an issue. Installation events change where the bot works: repositories added
get the bot's labels, repositories removed have their work stopped.

What never runs (invariant 7): commands inside code blocks, quotes or HTML comments (the
grammar's rules), re-edited comments unless the command opts in, and anything a bot
wrote, this one included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.commands.catalogue import Catalogue
from bot.commands.grammar import CommandLine, added_commands, scan
from bot.domain import RepoRef, Request, Source
from bot.intake.payloads import (
    Comment,
    InstallationEvent,
    IssueCommentEvent,
    IssueEvent,
    IssuesLabeledEvent,
    parse,
)


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


@dataclass(frozen=True, slots=True)
class Suggestions:
    """Near-miss command names to answer with "did you mean"."""

    repo: RepoRef
    issue: int
    installation_id: int
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Accepted:
    requests: tuple[Request, ...]
    suggestions: Suggestions | None = None


@dataclass(frozen=True, slots=True)
class Installed:
    """The App was installed on, or given, these repositories."""

    installation_id: int
    repos: tuple[RepoRef, ...]


@dataclass(frozen=True, slots=True)
class Uninstalled:
    """The App lost these repositories (all of the installation's when `repos` is None)."""

    installation_id: int
    repos: tuple[RepoRef, ...] | None


Decision = Ignored | Accepted | Installed | Uninstalled

_INSTALLED = {("installation", "created"), ("installation_repositories", "added")}
_UNINSTALLED = {("installation", "deleted"), ("installation_repositories", "removed")}


def interpret(
    event: str,
    payload: Mapping[str, Any],
    *,
    delivery_id: str,
    catalogue: Catalogue,
    received_at: datetime,
) -> Decision:
    """Decide what a delivery asks for. Raises PayloadError for a malformed payload."""
    action = payload.get("action")
    if event == "issue_comment" and action in ("created", "edited"):
        if _sent_by_a_bot(payload):
            return Ignored("comment written by a bot")
        comment_event = parse(IssueCommentEvent, event, payload)
        return _comment(comment_event, delivery_id, catalogue, received_at)
    if event == "issues" and action == "labeled":
        if _sent_by_a_bot(payload):
            return Ignored("label applied by a bot")
        labeled = parse(IssuesLabeledEvent, event, payload)
        return _labeled(labeled, delivery_id, catalogue, received_at)
    if (event, action) in _INSTALLED | _UNINSTALLED:
        return _installation(event, parse(InstallationEvent, event, payload))
    return Ignored(f"{event}{'.' + str(action) if action else ''} is not handled")


def _sent_by_a_bot(payload: Mapping[str, Any]) -> bool:
    """Read before the rest: most such deliveries are the bot's own comments and labels,
    which GitHub sends back to it, and they need no more reading."""
    sender = payload.get("sender")
    return isinstance(sender, dict) and sender.get("type") == "Bot"


def _comment(
    event: IssueCommentEvent, delivery_id: str, catalogue: Catalogue, received_at: datetime
) -> Decision:
    if event.comment.user.is_bot:  # an edit by a person of a comment a bot wrote
        return Ignored("comment written by a bot")
    names = catalogue.runnable_names()
    body = event.comment.body or ""
    if event.action == "created":
        found = scan(body, names)
        lines, near = found.commands, found.near_misses
    else:
        old = event.changes.body.from_ if event.changes and event.changes.body else None
        lines = tuple(
            line
            for line in added_commands(old or "", body, names)
            if (spec := catalogue.get(line.name)) is not None and spec.rerun_on_edit
        )
        near = ()
    base = _base(event, Source.COMMENT, delivery_id, received_at)
    requests = tuple(
        _request(base, catalogue, line, index, event.comment) for index, line in enumerate(lines)
    )
    suggestions = None
    if near:
        suggestions = Suggestions(
            repo=base.repo,
            issue=base.issue,
            installation_id=base.installation_id,
            pairs=tuple((miss.typed, miss.suggestion) for miss in near),
        )
    if not requests and suggestions is None:
        return Ignored("no command in the comment")
    return Accepted(requests, suggestions)


def _labeled(
    event: IssuesLabeledEvent, delivery_id: str, catalogue: Catalogue, received_at: datetime
) -> Decision:
    label = event.label.name if event.label else ""
    specs = [spec for spec in catalogue.by_trigger_label(label) if spec.runnable]
    if not specs:
        return Ignored(f"label {label!r} triggers no command")
    base = _base(event, Source.LABEL, delivery_id, received_at)
    requests = tuple(
        replace(base, command=spec.id, command_line=f"/{spec.id}", index=index, trigger_label=label)
        for index, spec in enumerate(specs)
    )
    return Accepted(requests)


def _installation(event: str, payload: InstallationEvent) -> Decision:
    installation_id = payload.installation.id
    if event == "installation":
        repos = tuple(RepoRef.parse(r.full_name) for r in payload.repositories)
        if payload.action == "created":
            return Installed(installation_id, repos)
        return Uninstalled(installation_id, None)
    if payload.action == "added":
        return Installed(
            installation_id, tuple(RepoRef.parse(r.full_name) for r in payload.repositories_added)
        )
    return Uninstalled(
        installation_id, tuple(RepoRef.parse(r.full_name) for r in payload.repositories_removed)
    )


def _base(event: IssueEvent, source: Source, delivery_id: str, received_at: datetime) -> Request:
    """What every command of one delivery shares; each command fills in its own part."""
    return Request(
        source=source,
        command="",
        args_text="",
        command_line="",
        actor=event.sender.login,
        repo=RepoRef.parse(event.repository.full_name),
        issue=event.issue.number,
        installation_id=event.installation.id,
        delivery_id=delivery_id,
        received_at=received_at,
        issue_labels=frozenset(label.name for label in event.issue.labels),
    )


def _request(
    base: Request, catalogue: Catalogue, line: CommandLine, index: int, comment: Comment
) -> Request:
    spec = catalogue.get(line.name)
    assert spec is not None  # the grammar only returns names the catalogue knows
    # The association describes the comment's author; on an edit by someone else it says
    # nothing about the editor, who is the actor.
    authored = comment.user.login == base.actor
    return replace(
        base,
        command=spec.id,
        args_text=line.args_text,
        command_line=line.line,
        actor_association=comment.author_association if authored else None,
        comment_id=comment.id,
        index=index,
    )
