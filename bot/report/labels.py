"""The status-label state machine (drawn in docs/labels.md).

An issue carries one status label: the status of its latest run. Moving it is an add and
a remove, since GitHub has no atomic swap; both are idempotent (adding a present label is a
no-op, removing an absent one is a 404 the GitHub layer ignores), so a retried transition
never breaks anything.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.config import StatusLabels
from bot.domain import RunStatus

# Which status may follow which. None is "no run yet".
TRANSITIONS: dict[RunStatus | None, frozenset[RunStatus]] = {
    None: frozenset({RunStatus.QUEUED, RunStatus.RUNNING}),
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.BLOCKED,
            RunStatus.REFUSED,
            RunStatus.CANCELLED,
        }
    ),
    **{status: frozenset() for status in RunStatus if status.is_final},
}


class IllegalTransition(ValueError):
    """A run was moved to a status that cannot follow its current one (a bug, not input)."""


@dataclass(frozen=True, slots=True)
class LabelChange:
    add: tuple[str, ...]
    remove: tuple[str, ...]


def check_transition(current: RunStatus | None, new: RunStatus) -> None:
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"a run cannot go from {current} to {new}")


def label_change(present: Collection[str], new: RunStatus, labels: StatusLabels) -> LabelChange:
    """What to add and remove so that the issue shows `new` and no other status label.

    GitHub's label names are case-insensitive, so `Bot:Running` is the running label too.
    """
    target = labels.for_status(new).casefold()
    ours = {name.casefold() for name in labels.all()}
    stale = tuple(
        sorted(name for name in present if name.casefold() in ours and name.casefold() != target)
    )
    has_target = any(name.casefold() == target for name in present)
    return LabelChange(add=() if has_target else (labels.for_status(new),), remove=stale)
