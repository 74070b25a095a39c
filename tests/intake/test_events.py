"""Intake: which webhook deliveries carry which requests (GitHub's real example payloads)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.commands.catalogue import Catalogue, load_catalogue
from bot.commands.handlers import HANDLERS
from bot.domain import RepoRef, Source
from bot.intake.events import Accepted, Decision, Ignored, Installed, Uninstalled, interpret
from bot.intake.payloads import PayloadError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "bot" / "testing" / "data" / "github" / "webhook-examples.json"
RECEIVED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

REPO = "octo-org/widgets"
ISSUE = 31
INSTALLATION = 4242
COMMENT_ID = 987654321
ACTOR = "mona"
ISSUE_LABELS = ["bug", "good first issue"]


@cache
def _examples() -> dict[str, Any]:
    examples: dict[str, Any] = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    return examples


def example(key: str) -> dict[str, Any]:
    """A deep copy of GitHub's example, moved to our repository, issue and installation."""
    payload: dict[str, Any] = copy.deepcopy(_examples()[key])
    payload["repository"]["full_name"] = REPO
    payload["repository"]["name"] = REPO.split("/")[1]
    payload["issue"]["number"] = ISSUE
    template = payload["issue"]["labels"][0]
    payload["issue"]["labels"] = [{**template, "name": name} for name in ISSUE_LABELS]
    payload["sender"]["login"] = ACTOR
    # An App's deliveries always name the installation; repository-hook examples may not.
    payload["installation"] = {"id": INSTALLATION, "node_id": "MDIzOkludGVncmF0aW9uNDI0Mg=="}
    return payload


def comment_payload(
    body: str, action: str = "created", *, previous: str | None = None
) -> dict[str, Any]:
    payload = example(f"issue_comment.{action}")
    payload["comment"]["id"] = COMMENT_ID
    payload["comment"]["body"] = body
    payload["comment"]["user"] = copy.deepcopy(payload["sender"])
    payload["comment"]["author_association"] = "COLLABORATOR"
    if action == "edited":
        payload["changes"]["body"]["from"] = previous
    return payload


def labeled_payload(label: str) -> dict[str, Any]:
    payload = example("issues.labeled")
    payload["label"]["name"] = label
    payload["issue"]["labels"].append(copy.deepcopy(payload["label"]))
    return payload


def decide(event: str, payload: dict[str, Any], catalogue: Catalogue | None = None) -> Decision:
    return interpret(
        event,
        payload,
        delivery_id=DELIVERY,
        catalogue=catalogue if catalogue is not None else project_catalogue(),
        received_at=RECEIVED,
    )


@cache
def project_catalogue() -> Catalogue:
    catalogue = load_catalogue(ROOT / ".claude" / "commands", known_handlers=HANDLERS)
    assert catalogue.problems == ()
    return catalogue


def accepted(decision: Decision) -> Accepted:
    assert isinstance(decision, Accepted), decision
    return decision


def ignored(decision: Decision) -> str:
    assert isinstance(decision, Ignored), decision
    return decision.reason


def rerun_catalogue(tmp_path: Path) -> Catalogue:
    """The project's report command, but opting in to re-runs on edit."""
    source = (ROOT / ".claude" / "commands" / "generate-report.md").read_text(encoding="utf-8")
    text = source.replace(
        "handler: generate_report\n", "handler: generate_report\nrerun-on-edit: true\n", 1
    )
    assert text != source
    (tmp_path / "commands").mkdir()
    (tmp_path / "commands" / "generate-report.md").write_text(text, encoding="utf-8")
    catalogue = load_catalogue(tmp_path / "commands", known_handlers=HANDLERS)
    spec = catalogue.get("generate-report")
    assert spec is not None
    assert spec.rerun_on_edit
    return catalogue


# --- New comments ------------------------------------------------------------------------


def test_a_command_comment_is_one_request_with_everything_from_the_payload() -> None:
    decision = accepted(decide("issue_comment", comment_payload("/generate-report since=30d")))
    assert decision.suggestions is None
    (request,) = decision.requests
    assert request.source is Source.COMMENT
    assert request.command == "generate-report"
    assert request.args_text == "since=30d"
    assert request.command_line == "/generate-report since=30d"
    assert request.comment_id == COMMENT_ID
    assert request.actor == ACTOR
    assert request.repo == RepoRef.parse(REPO)
    assert request.issue == ISSUE
    assert request.installation_id == INSTALLATION
    assert request.issue_labels == frozenset(ISSUE_LABELS)
    assert request.actor_association == "COLLABORATOR"
    assert request.delivery_id == DELIVERY
    assert request.received_at == RECEIVED
    assert request.index == 0


def test_two_commands_in_one_comment_are_two_requests_in_order() -> None:
    body = (
        "Please:\r\n\r\n/help generate-report\r\n"
        "and then\r\n/generate-report since=2w label=bug\r\n"
    )
    requests = accepted(decide("issue_comment", comment_payload(body))).requests
    assert [(r.command, r.args_text, r.index) for r in requests] == [
        ("help", "generate-report", 0),
        ("generate-report", "since=2w label=bug", 1),
    ]
    assert {r.comment_id for r in requests} == {COMMENT_ID}


@pytest.mark.parametrize(
    ("sender_type", "author_type"),
    [("Bot", "Bot"), ("User", "Bot"), ("Bot", "User")],
)
def test_a_comment_by_a_bot_is_ignored(sender_type: str, author_type: str) -> None:
    payload = comment_payload("/generate-report")
    payload["sender"]["type"] = sender_type
    payload["comment"]["user"]["type"] = author_type
    if "Bot" in (sender_type, author_type):
        payload["sender"]["login"] = "issue-queue-bot[bot]"
    assert "bot" in ignored(decide("issue_comment", payload))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("> /generate-report", id="quote"),
        pytest.param("> > /generate-report since=1d", id="nested-quote"),
        pytest.param("```\n/generate-report\n```", id="backtick-fence"),
        pytest.param("~~~ text\n/generate-report\n~~~", id="tilde-fence"),
        pytest.param("<!-- /generate-report -->", id="html-comment"),
        pytest.param("<!--\n/generate-report\n-->", id="multi-line-html-comment"),
        pytest.param("Run `/generate-report` to get one.", id="inline-mention"),
        pytest.param("", id="empty"),
    ],
)
def test_hidden_or_inline_commands_are_ignored(body: str) -> None:
    assert ignored(decide("issue_comment", comment_payload(body))) == "no command in the comment"


def test_a_comment_without_a_body_is_ignored() -> None:
    payload = comment_payload("")
    payload["comment"]["body"] = None
    assert ignored(decide("issue_comment", payload)) == "no command in the comment"


def test_a_typo_is_accepted_with_a_suggestion_and_no_request() -> None:
    decision = accepted(decide("issue_comment", comment_payload("/generate-reprot since=30d")))
    assert decision.requests == ()
    assert decision.suggestions is not None
    assert decision.suggestions.pairs == (("generate-reprot", "generate-report"),)
    assert decision.suggestions.repo == RepoRef.parse(REPO)
    assert decision.suggestions.issue == ISSUE
    assert decision.suggestions.installation_id == INSTALLATION


def test_a_command_and_a_typo_give_both() -> None:
    decision = accepted(decide("issue_comment", comment_payload("/hlep\n/generate-report")))
    assert [r.command for r in decision.requests] == ["generate-report"]
    assert decision.suggestions is not None
    assert decision.suggestions.pairs == (("hlep", "help"),)


# --- Edited comments ---------------------------------------------------------------------


def test_an_edit_adding_a_command_that_does_not_opt_in_is_ignored() -> None:
    payload = comment_payload("Thanks!\n/generate-report", "edited", previous="Thanks!")
    assert ignored(decide("issue_comment", payload)) == "no command in the comment"


def test_an_edit_adding_an_opted_in_command_is_one_request(tmp_path: Path) -> None:
    payload = comment_payload("Thanks!\n/generate-report since=7d", "edited", previous="Thanks!")
    (request,) = accepted(decide("issue_comment", payload, rerun_catalogue(tmp_path))).requests
    assert (request.command, request.args_text, request.index) == ("generate-report", "since=7d", 0)
    assert request.source is Source.COMMENT
    assert request.comment_id == COMMENT_ID


@pytest.mark.parametrize(
    ("previous", "body"),
    [
        pytest.param("/generate-report since=7d", "/generate-report since=7d\n\nthanks", id="same"),
        pytest.param("/generate-report", "Edited:\n/generate-report", id="moved"),
        pytest.param("/generate-report x", "> /generate-report y", id="replaced-by-a-quote"),
    ],
)
def test_an_edit_leaving_the_command_unchanged_is_ignored(
    tmp_path: Path, previous: str, body: str
) -> None:
    payload = comment_payload(body, "edited", previous=previous)
    assert ignored(decide("issue_comment", payload, rerun_catalogue(tmp_path)))


def test_an_edit_changing_the_arguments_runs_again(tmp_path: Path) -> None:
    payload = comment_payload("/generate-report since=30d", "edited", previous="/generate-report")
    (request,) = accepted(decide("issue_comment", payload, rerun_catalogue(tmp_path))).requests
    assert request.args_text == "since=30d"


def test_a_typo_in_an_edit_gets_no_suggestion(tmp_path: Path) -> None:
    payload = comment_payload("/generate-reprot", "edited", previous="hi")
    assert ignored(decide("issue_comment", payload, rerun_catalogue(tmp_path)))


def test_an_edit_by_someone_else_does_not_borrow_the_authors_association(
    tmp_path: Path,
) -> None:
    payload = comment_payload("/generate-report", "edited", previous="I'll look later.")
    payload["comment"]["user"]["login"] = "the-owner"
    payload["comment"]["author_association"] = "OWNER"
    payload["sender"]["login"] = "a-writer"
    (request,) = accepted(decide("issue_comment", payload, rerun_catalogue(tmp_path))).requests
    assert request.actor == "a-writer"
    assert request.actor_association != "OWNER"


# --- Labels ------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["report:requested", "Report:Requested"])
def test_a_trigger_label_is_a_label_request(label: str) -> None:
    (request,) = accepted(decide("issues", labeled_payload(label))).requests
    assert request.source is Source.LABEL
    assert request.command == "generate-report"
    assert request.command_line == "/generate-report"
    assert request.args_text == ""
    assert request.comment_id is None
    assert request.actor == ACTOR
    assert (request.repo, request.issue) == (RepoRef.parse(REPO), ISSUE)
    assert request.installation_id == INSTALLATION
    assert request.issue_labels == frozenset([*ISSUE_LABELS, label])


def test_another_label_is_ignored_naming_it() -> None:
    assert "'bug'" in ignored(decide("issues", labeled_payload("bug")))


def test_a_label_applied_by_a_bot_is_ignored() -> None:
    payload = labeled_payload("report:requested")
    payload["sender"]["type"] = "Bot"
    assert "bot" in ignored(decide("issues", payload))


# --- Everything else ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "event", "named"),
    [
        ("issues.unlabeled", "issues", "issues.unlabeled"),
        ("ping", "ping", "ping"),
    ],
)
def test_other_events_and_actions_are_ignored_naming_them(key: str, event: str, named: str) -> None:
    payload = copy.deepcopy(_examples()[key])
    assert named in ignored(decide(event, payload))


def test_installation_events_name_the_repositories_gained_and_lost() -> None:
    examples = _examples()
    created = decide("installation", copy.deepcopy(examples["installation.created"]))
    assert created == Installed(957387, (RepoRef("Codertocat", "Hello-World"),))
    added = decide(
        "installation_repositories", copy.deepcopy(examples["installation_repositories.added"])
    )
    assert added == Installed(957387, (RepoRef("Codertocat", "Space"),))
    deleted = decide("installation", copy.deepcopy(examples["installation.deleted"]))
    assert deleted == Uninstalled(2, None)
    removed = decide(
        "installation_repositories", copy.deepcopy(examples["installation_repositories.removed"])
    )
    assert removed == Uninstalled(2, (RepoRef("octocat", "Hello-World"),))


@pytest.mark.parametrize("action", ["deleted", "pinned"])
def test_other_comment_actions_are_ignored_naming_them(action: str) -> None:
    payload = comment_payload("/generate-report")
    payload["action"] = action
    assert ignored(decide("issue_comment", payload)) == f"issue_comment.{action} is not handled"


def test_an_unknown_event_is_ignored_naming_it() -> None:
    payload = comment_payload("/generate-report")
    assert "pull_request_review_comment" in ignored(decide("pull_request_review_comment", payload))


def drop(payload: dict[str, Any], path: str) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node[part]
    del node[last]
    return payload


BUILDERS = {
    "issue_comment": lambda: comment_payload("/generate-report"),
    "issues": lambda: labeled_payload("report:requested"),
}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ("issue_comment", "issue.number"),
        ("issue_comment", "comment.id"),
        ("issue_comment", "comment.user"),
        ("issue_comment", "installation"),
        ("issue_comment", "sender.login"),
        ("issues", "issue.number"),
        ("issues", "repository"),
    ],
)
def test_a_payload_missing_a_field_raises_naming_it(event: str, field: str) -> None:
    payload = drop(BUILDERS[event](), field)
    with pytest.raises(PayloadError) as raised:
        decide(event, payload)
    message = str(raised.value)
    assert message.startswith(f"{event} payload: ")
    assert f" {field}: " in message


def test_the_raw_edited_example_lacks_an_installation() -> None:
    """GitHub's example is a repository hook's delivery: to the App it is malformed."""
    payload = copy.deepcopy(_examples()["issue_comment.edited"])
    with pytest.raises(PayloadError, match="installation"):
        decide("issue_comment", payload)
