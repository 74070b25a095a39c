"""The webhook payloads the bot acts on, as pydantic models: only the fields it reads.

Everything else in GitHub's payloads is ignored (`extra="ignore"`), so new fields GitHub
adds never break intake; a payload missing a field the bot needs is a PayloadError.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class PayloadError(ValueError):
    """A signed payload lacks what its event must carry; the message names the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Model):
    login: str
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        return self.type == "Bot"


class Label(_Model):
    name: str


class Issue(_Model):
    number: int
    labels: tuple[Label, ...] = ()


class Comment(_Model):
    id: int
    body: str | None = None
    user: User
    author_association: str | None = None


class Repository(_Model):
    full_name: str


class Installation(_Model):
    id: int


class BodyChange(_Model):
    # GitHub's field is `from`, a Python keyword.
    from_: str | None = Field(default=None, alias="from")


class Changes(_Model):
    body: BodyChange | None = None


class IssueEvent(_Model):
    """The parts every issue-scoped event shares."""

    action: str
    issue: Issue
    repository: Repository
    sender: User
    installation: Installation


class IssueCommentEvent(IssueEvent):
    comment: Comment
    changes: Changes | None = None


class IssuesLabeledEvent(IssueEvent):
    label: Label | None = None


class InstallationEvent(_Model):
    """installation.* and installation_repositories.*: the repositories it concerns."""

    action: str
    installation: Installation
    sender: User
    repositories: tuple[Repository, ...] = ()
    repositories_added: tuple[Repository, ...] = ()
    repositories_removed: tuple[Repository, ...] = ()


ModelT = TypeVar("ModelT", bound=_Model)


def parse(model: type[ModelT], event: str, payload: Any) -> ModelT:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise PayloadError(f"{event} payload: {where}: {first['msg']}") from None
