"""The status-label state machine (drawn in docs/labels.md).

An issue carries one status label: the status of its latest run. Moving it is an add and
a remove, since GitHub has no atomic swap; both are idempotent (adding a present label is a
no-op, removing an absent one is a 404 the GitHub layer ignores), so a retried transition
never breaks anything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
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


# How the bot's labels look when it creates them (people may restyle them afterwards).
STYLES: dict[RunStatus, tuple[str, str]] = {
    RunStatus.QUEUED: ("c5def5", "The bot took the request; its run waits for its turn"),
    RunStatus.RUNNING: ("fbca04", "The bot is running a command on this issue"),
    RunStatus.SUCCEEDED: ("0e8a16", "The bot's latest run here succeeded"),
    RunStatus.FAILED: ("d93f0b", "The bot's latest run here failed"),
    RunStatus.BLOCKED: ("e99695", "A hook blocked the bot's latest run here"),
    RunStatus.REFUSED: ("b60205", "The bot's latest run here was refused (permission)"),
    RunStatus.CANCELLED: ("cfd3d7", "The bot's latest run here was cancelled"),
}
TRIGGER_COLOR = "1d76db"


@dataclass(frozen=True, slots=True)
class LabelSpec:
    name: str
    color: str
    description: str


def bot_labels(labels: StatusLabels, triggers: Mapping[str, str]) -> list[LabelSpec]:
    """Every label the bot puts on issues or reacts to: its status labels, and the trigger
    labels (`triggers`: label -> the command it runs)."""
    specs = [
        LabelSpec(labels.for_status(status), color, description)
        for status, (color, description) in STYLES.items()
    ]
    specs.extend(
        LabelSpec(label, TRIGGER_COLOR, f"Apply to run /{command}"[:100])
        for label, command in sorted(triggers.items())
    )
    return specs


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
