"""Which label application a trigger-label run claims (pure: the issue's label events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain import RepoRef, Request, Source
from bot.pipeline.runner import claim_key, label_application

LABEL = "report:requested"
PERSON = {"login": "alice", "type": "User"}
BOT = {"login": "queue-bot[bot]", "type": "Bot"}


def event(
    kind: str, id_: int, actor: dict[str, str] = PERSON, *, app: bool = False
) -> dict[str, Any]:
    return {
        "id": id_,
        "event": kind,
        "actor": actor,
        "label": {"name": LABEL},
        "performed_via_github_app": {"slug": "queue-bot"} if app else None,
    }


def request() -> Request:
    return Request(
        source=Source.LABEL,
        command="generate-report",
        args_text="",
        actor="alice",
        repo=RepoRef("o", "r"),
        issue=3,
        installation_id=1,
        delivery_id="d",
        received_at=datetime.now(UTC),
        command_line="/generate-report",
        trigger_label="Report:Requested",  # GitHub's names are case-insensitive
    )


def test_the_latest_application_is_claimed_whoever_asks() -> None:
    history = [event("labeled", 1), event("unlabeled", 2, BOT, app=True), event("labeled", 3)]
    assert claim_key(history, request()) == "label:o/r#3:3:generate-report"
    # The bot taking the label off (a claim) leaves the application claimable by its run.
    taken = [*history, event("unlabeled", 4, BOT, app=True)]
    assert claim_key(taken, request()) == "label:o/r#3:3:generate-report"


def test_a_label_a_person_took_off_is_withdrawn() -> None:
    assert claim_key([event("labeled", 1), event("unlabeled", 2)], request()) is None


def test_a_label_a_bot_applied_never_runs() -> None:
    assert label_application([event("labeled", 1, BOT)], LABEL) is None
    assert label_application([event("labeled", 1, PERSON, app=True)], LABEL) is None


def test_no_application_no_claim() -> None:
    assert claim_key([], request()) is None
    other = {**event("labeled", 1), "label": {"name": "bug"}}
    assert claim_key([other], request()) is None
