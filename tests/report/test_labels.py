"""The status-label state machine: legal and illegal transitions, and the label diff."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import StatusLabels
from bot.domain import RunStatus
from bot.report.labels import (
    TRANSITIONS,
    IllegalTransition,
    LabelChange,
    check_transition,
    label_change,
)

DEFAULT = StatusLabels()
CUSTOM = StatusLabels(running="x:run", succeeded="done ✅", failed="Failed")
PROJECT_LABELS = frozenset({"bug", "help wanted", "report:requested", "bot", "bot:"})

FAST = settings(max_examples=150, deadline=None)

LEGAL = [(current, new) for current, targets in TRANSITIONS.items() for new in sorted(targets)]
FINAL = [status for status in RunStatus if status.is_final]


def apply(present: frozenset[str], change: LabelChange) -> frozenset[str]:
    """What GitHub shows after the change: the removals, then the addition."""
    return (present - set(change.remove)) | set(change.add)


# --- Transitions -------------------------------------------------------------------------


def test_every_status_and_no_run_has_an_entry() -> None:
    assert set(TRANSITIONS) == {None, *RunStatus}


def test_final_statuses_lead_nowhere_and_the_others_lead_somewhere() -> None:
    for status in RunStatus:
        assert (TRANSITIONS[status] == frozenset()) is status.is_final, status


@pytest.mark.parametrize(("current", "new"), LEGAL, ids=[f"{c}->{n}" for c, n in LEGAL])
def test_a_legal_transition_passes(current: RunStatus | None, new: RunStatus) -> None:
    check_transition(current, new)


ILLEGAL = [
    *[(final, new) for final in FINAL for new in RunStatus],
    (None, RunStatus.SUCCEEDED),
    (None, RunStatus.FAILED),
    (None, RunStatus.CANCELLED),
    (RunStatus.RUNNING, RunStatus.QUEUED),
    (RunStatus.RUNNING, RunStatus.RUNNING),
    (RunStatus.QUEUED, RunStatus.QUEUED),
    (RunStatus.QUEUED, RunStatus.SUCCEEDED),
]


@pytest.mark.parametrize(("current", "new"), ILLEGAL, ids=[f"{c}->{n}" for c, n in ILLEGAL])
def test_an_illegal_transition_raises_naming_both_ends(
    current: RunStatus | None, new: RunStatus
) -> None:
    with pytest.raises(IllegalTransition) as raised:
        check_transition(current, new)
    assert str(current) in str(raised.value)
    assert str(new) in str(raised.value)


def test_illegal_transition_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cannot go from"):
        check_transition(RunStatus.SUCCEEDED, RunStatus.RUNNING)


# --- The label diff ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("present", "new", "add", "remove"),
    [
        pytest.param(set(), RunStatus.QUEUED, ("bot:queued",), (), id="bare-issue"),
        pytest.param({"bug"}, RunStatus.RUNNING, ("bot:running",), (), id="project-label-kept"),
        pytest.param(
            {"bug", "bot:queued"},
            RunStatus.RUNNING,
            ("bot:running",),
            ("bot:queued",),
            id="queued-to-running",
        ),
        pytest.param(
            {"bot:running", "bot:failed", "bot:queued", "help wanted"},
            RunStatus.SUCCEEDED,
            ("bot:succeeded",),
            ("bot:failed", "bot:queued", "bot:running"),
            id="several-stale-removed-sorted",
        ),
        pytest.param(
            {"bot:succeeded", "bot:running"},
            RunStatus.SUCCEEDED,
            (),
            ("bot:running",),
            id="target-present-not-readded",
        ),
        pytest.param({"bot:blocked"}, RunStatus.BLOCKED, (), (), id="already-there"),
    ],
)
def test_label_change_examples(
    present: set[str], new: RunStatus, add: tuple[str, ...], remove: tuple[str, ...]
) -> None:
    assert label_change(present, new, DEFAULT) == LabelChange(add=add, remove=remove)


def test_configured_names_are_honoured() -> None:
    present = {"bot:running", "x:run", "bug"}
    change = label_change(present, RunStatus.SUCCEEDED, CUSTOM)
    # "bot:running" is not a status label under this configuration: a project label now.
    assert change == LabelChange(add=("done ✅",), remove=("x:run",))
    assert label_change(apply(frozenset(present), change), RunStatus.RUNNING, CUSTOM) == (
        LabelChange(add=("x:run",), remove=("done ✅",))
    )


def test_configured_name_is_what_a_status_maps_to() -> None:
    assert CUSTOM.for_status(RunStatus.RUNNING) == "x:run"
    assert "bot:running" not in CUSTOM.all()
    assert len(CUSTOM.all()) == len(RunStatus)


def test_a_status_label_spelled_in_another_case_is_still_removed() -> None:
    change = label_change({"Bot:Running"}, RunStatus.SUCCEEDED, DEFAULT)
    assert change.remove == ("Bot:Running",)


# --- Properties --------------------------------------------------------------------------

label_names = st.text(st.characters(codec="utf-8"), max_size=12)
label_sets = st.frozensets(
    st.one_of(st.sampled_from(sorted(DEFAULT.all() | CUSTOM.all() | PROJECT_LABELS)), label_names),
    max_size=10,
)
configurations = st.sampled_from([DEFAULT, CUSTOM])


@FAST
@given(present=label_sets, new=st.sampled_from(list(RunStatus)), labels=configurations)
def test_label_change_leaves_exactly_the_target_and_project_labels(
    present: frozenset[str], new: RunStatus, labels: StatusLabels
) -> None:
    change = label_change(present, new, labels)
    target = labels.for_status(new)
    after = apply(present, change)

    assert after & labels.all() == {target}
    assert after - labels.all() == present - labels.all()  # project labels untouched
    assert set(change.add) <= {target}
    assert set(change.remove) <= present & labels.all()
    assert target not in change.remove
    assert list(change.remove) == sorted(set(change.remove))
    # Nothing is asked that is already so.
    assert (target in present) is (change.add == ())
    assert set(change.remove) == (present & labels.all()) - {target}


@FAST
@given(present=label_sets, new=st.sampled_from(list(RunStatus)), labels=configurations)
def test_label_change_is_idempotent(
    present: frozenset[str], new: RunStatus, labels: StatusLabels
) -> None:
    after = apply(present, label_change(present, new, labels))
    assert label_change(after, new, labels) == LabelChange(add=(), remove=())


@FAST
@given(
    present=label_sets,
    path=st.lists(st.sampled_from(list(RunStatus)), min_size=1, max_size=5),
)
def test_any_sequence_of_changes_ends_with_one_status_label(
    present: frozenset[str], path: list[RunStatus]
) -> None:
    labels = present
    for status in path:
        labels = apply(labels, label_change(labels, status, DEFAULT))
    assert labels & DEFAULT.all() == {DEFAULT.for_status(path[-1])}
    assert labels - DEFAULT.all() == present - DEFAULT.all()
