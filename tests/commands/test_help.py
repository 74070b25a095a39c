"""`/help`: the listing filtered by permission, and one command's details."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from bot.commands.catalogue import Catalogue, CommandSpec, load_catalogue
from bot.commands.context import CommandContext
from bot.commands.handlers import HANDLERS
from bot.commands.handlers.help import details, handle, listing
from bot.domain import Permission, RepoRef, Request, Source
from bot.pipeline.runner import _SEAL as PIPELINE_SEAL
from tests.markdown_tables import rows_under

PROJECT_COMMANDS = Path(__file__).resolve().parents[2] / ".claude" / "commands"
NONE_TO_RUN = "There is no command you can run here."

# id -> (permission line in the file, or None for the default, and whether it has a handler)
COMMANDS: dict[str, tuple[str | None, bool]] = {
    "look": ("read", True),
    "sort": ("triage", True),
    "ship": (None, True),  # the default: write
    "tidy": ("maintain", True),
    "wipe": ("admin", True),
    "muse": ("read", False),  # a Claude Code prompt: listed nowhere by the bot
}
REQUIRED = {
    name: Permission.parse(perm) if perm else Permission.WRITE
    for name, (perm, _) in COMMANDS.items()
}


def write(root: Path, name: str, text: str) -> None:
    path = root / "commands" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def catalogue(tmp_path: Path) -> Catalogue:
    for name, (permission, runnable) in COMMANDS.items():
        lines = [f"description: {name.capitalize()} things"]
        if permission:
            lines.append(f"permission: {permission}")
        if runnable:
            lines.append(f"handler: {name}_handler")
        if name == "look":
            lines.append('argument-hint: "[what]"')
        write(tmp_path, name, "---\n" + "\n".join(lines) + "\n---\nBody.\n")
    loaded = load_catalogue(tmp_path / "commands")
    assert [str(problem) for problem in loaded.problems] == []
    assert {spec.id for spec in loaded} == set(COMMANDS)
    return loaded


def listed(text: str) -> list[str]:
    """The command ids a listing shows, in order."""
    return [
        line.split("`/")[1].split("`")[0].split()[0]
        for line in text.splitlines()
        if line.startswith("- ")
    ]


@pytest.mark.parametrize("permission", list(Permission), ids=str)
def test_listing_shows_the_runnable_commands_the_permission_allows(
    catalogue: Catalogue, permission: Permission
) -> None:
    expected = sorted(
        name
        for name, (_, runnable) in COMMANDS.items()
        if runnable and REQUIRED[name].value <= permission.value
    )
    text = listing(catalogue, permission)
    if not expected:
        assert text == NONE_TO_RUN
        return
    assert listed(text) == expected
    assert text.splitlines()[0] == "Commands you can run here:"
    assert "muse" not in text
    assert "`/help NAME`" in text


def test_a_listing_line_shows_the_argument_hint_and_description(catalogue: Catalogue) -> None:
    lines = listing(catalogue, Permission.READ).splitlines()
    assert "- `/look [what]`: Look things" in lines


def test_an_empty_catalogue_has_nothing_to_run() -> None:
    assert listing(Catalogue(), Permission.ADMIN) == NONE_TO_RUN


# --- Details -----------------------------------------------------------------------------

REPORT = """\
---
description: Summarise the repository's issues
argument-hint: "[since] [label]"
handler: generate_report
permission: triage
trigger-labels: [report:requested, Report:Weekly]
parameters:
  since: {type: since, default: 30d, description: how far back to look}
  label: string
  repo: {type: string, required: true, description: owner/name}
  format: {type: string, choices: [markdown, csv], default: markdown}
  dry-run: {type: boolean, description: only show what would change}
---
Write the report.
"""


def spec_from(tmp_path: Path, text: str, name: str = "generate-report") -> CommandSpec:
    write(tmp_path, name, text)
    loaded = load_catalogue(tmp_path / "commands")
    assert [str(problem) for problem in loaded.problems] == []
    spec = loaded.get(name)
    assert spec is not None
    return spec


def table_rows(text: str) -> list[str]:
    return rows_under(text.splitlines(), "| parameter | type | default | description |")


def test_details_show_the_parameter_table(tmp_path: Path) -> None:
    spec = spec_from(tmp_path, REPORT)
    text = details(spec, Permission.ADMIN)
    assert (
        text.splitlines()[0]
        == "`/generate-report [since] [label]`: Summarise the repository's issues"
    )
    assert table_rows(text) == [
        "| `since` | since | `30d` | how far back to look |",
        "| `label` | string |  |  |",
        "| `repo` | string | required | owner/name |",
        "| `format` | string (markdown, csv) | `markdown` |  |",
        "| `dry-run` | boolean |  | only show what would change |",
    ]
    assert len(table_rows(text)) == len(spec.parameters)


@pytest.mark.parametrize(
    ("permission", "can_run"),
    [(p, p.value >= Permission.TRIAGE.value) for p in Permission],
    ids=str,
)
def test_details_name_the_permission_and_whether_you_have_it(
    tmp_path: Path, permission: Permission, can_run: bool
) -> None:
    text = details(spec_from(tmp_path, REPORT), permission)
    assert "Needs `triage` permission on the repository." in text.splitlines()
    refusal = f"You have `{permission}`, so you cannot run it here."
    assert (refusal in text.splitlines()) is not can_run
    assert ("cannot run it here" in text) is not can_run


def test_details_say_read_is_too_low_for_the_default_permission(tmp_path: Path) -> None:
    spec = spec_from(tmp_path, "---\nhandler: ship\n---\nShip it.\n", "ship")
    text = details(spec, Permission.READ)
    assert "Needs `write` permission on the repository." in text
    assert "You have `read`, so you cannot run it here." in text
    assert "| parameter |" not in text  # no parameters, no table
    assert "Applying" not in text  # no trigger labels


def test_details_list_the_trigger_labels(tmp_path: Path) -> None:
    text = details(spec_from(tmp_path, REPORT), Permission.WRITE)
    assert (
        text.splitlines()[-1]
        == "Applying `report:requested`, `Report:Weekly` to an issue runs it too."
    )


def test_details_of_the_projects_own_report_command() -> None:
    catalogue = load_catalogue(PROJECT_COMMANDS, known_handlers=HANDLERS)
    spec = catalogue.get("generate-report")
    assert spec is not None
    text = details(spec, Permission.READ)
    assert [row.split(" | ")[0] for row in table_rows(text)] == [
        f"| `{p.name}`" for p in spec.parameters
    ]
    assert f"Needs `{spec.permission}` permission on the repository." in text
    assert "You have `read`, so you cannot run it here." in text
    for label in spec.trigger_labels:
        assert f"`{label}`" in text


@pytest.mark.parametrize(
    "description",
    [
        pytest.param("plain words", id="plain"),
        pytest.param(
            "'markdown | csv'",
            id="pipe",
        ),
        pytest.param(
            "|-\n      first line\n      second line",
            id="multi-line",
        ),
    ],
)
def test_a_description_cannot_break_the_parameter_table(tmp_path: Path, description: str) -> None:
    text = (
        "---\nhandler: h\nparameters:\n"
        f"  format:\n    type: string\n    description: {description}\n"
        "  limit: integer\n---\n"
    )
    rows = table_rows(details(spec_from(tmp_path, text, "export"), Permission.ADMIN))
    assert len(rows) == 2
    assert rows[1].startswith("| `limit` |")
    for row in rows:
        assert row.replace("\\|", "").count("|") == 5, row


# --- The handler, which needs nothing from GitHub ----------------------------------------


def context(catalogue: Catalogue, permission: Permission, command: str | None) -> CommandContext:
    spec = catalogue.get("look")
    assert spec is not None
    request = Request(
        source=Source.COMMENT,
        command="help",
        args_text=command or "",
        actor="mona",
        repo=RepoRef("o", "r"),
        issue=1,
        installation_id=1,
        delivery_id="d",
        received_at=datetime(2026, 11, 15, tzinfo=UTC),
        command_line=f"/help {command or ''}".strip(),
    )
    return CommandContext(
        request=request,
        spec=spec,
        params={"command": command},
        github=cast(Any, None),
        catalogue=catalogue,
        actor_permission=permission,
        now=request.received_at,
        saved=None,
        past_runs=(),
        # A handler's unit test stands where the pipeline stands (tests only).
        seal=PIPELINE_SEAL,
    )


async def test_help_without_a_name_lists(catalogue: Catalogue) -> None:
    outcome = await handle(context(catalogue, Permission.TRIAGE, None))
    assert outcome.markdown == listing(catalogue, Permission.TRIAGE)
    assert outcome.keep is None


@pytest.mark.parametrize("name", ["ship", "/ship"])
async def test_help_with_a_name_explains_it(catalogue: Catalogue, name: str) -> None:
    outcome = await handle(context(catalogue, Permission.READ, name))
    spec = catalogue.get("ship")
    assert spec is not None
    assert outcome.markdown == details(spec, Permission.READ)


@pytest.mark.parametrize(("name", "hint"), [("shpi", "/ship"), ("muse", None), ("zzz", None)])
async def test_help_for_an_unknown_or_prompt_only_name(
    catalogue: Catalogue, name: str, hint: str | None
) -> None:
    text = (await handle(context(catalogue, Permission.ADMIN, name))).markdown
    assert text.startswith(f"There is no command `/{name}` here.")
    assert (f"Did you mean `{hint}`?" in text) if hint else ("Did you mean" not in text)
    assert text.endswith(listing(catalogue, Permission.ADMIN))
