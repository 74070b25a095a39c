"""The command catalogue: naming, bot fields, problems, parameters and `since` windows."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.commands.catalogue import (
    Catalogue,
    CommandSpec,
    ParameterError,
    bind_arguments,
    check_since,
    load_catalogue,
    parameters_model,
    parse_since,
    usage,
)
from bot.domain import Permission

NOW = datetime(2026, 11, 15, 12, 30, tzinfo=UTC)

REPORT = """\
---
description: Summarise the repository's issues
argument-hint: "[since] [label]"
handler: generate_report
permission: triage
trigger-labels: [report:requested, Report:Weekly]
timeout: 120
rerun-on-edit: yes
concurrency: repository
parameters:
  since: {type: since, default: 30d, description: how far back to look}
  label: string
  limit: {type: integer, default: 10}
  ratio: number
  dry-run: {type: boolean, default: false, description: only show what would change}
  format: {type: string, choices: [markdown, csv], default: markdown}
---
Write the report.
"""


def write(root: Path, relative: str, text: str) -> Path:
    path = root / "commands" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(root: Path, **kwargs: object) -> Catalogue:
    return load_catalogue(root / "commands", **kwargs)  # type: ignore[arg-type]


def only(root: Path, text: str, relative: str = "cmd.md") -> CommandSpec:
    write(root, relative, text)
    catalogue = load(root)
    assert [str(problem) for problem in catalogue.problems] == []
    (spec,) = catalogue
    return spec


def problem_of(root: Path, frontmatter: str) -> str:
    """Load a broken file beside a good one; the good one loads, the broken one is reported."""
    write(root, "good.md", "---\ndescription: fine\n---\n")
    write(root, "bad.md", f"---\nhandler: h\n{frontmatter}\n---\nbody\n")
    catalogue = load(root)
    assert [spec.id for spec in catalogue] == ["good"]
    (problem,) = catalogue.problems
    assert problem.path == Path("commands/bad.md")
    return str(problem)


@pytest.fixture
def report(tmp_path: Path) -> CommandSpec:
    return only(tmp_path, REPORT, "generate-report.md")


# Naming --------------------------------------------------------------------------------


def test_runnable_names_are_the_ids_and_aliases_of_commands_with_a_handler(
    tmp_path: Path,
) -> None:
    write(tmp_path, "ops/deploy.md", "---\nhandler: deploy\n---\nDeploy.\n")
    write(tmp_path, "frontend/component.md", "Make a component.\n")
    catalogue = load(tmp_path)

    assert catalogue.runnable_names() == {"ops:deploy", "deploy"}
    assert "component" in catalogue.names()


def test_ids_namespaces_and_aliases(tmp_path: Path) -> None:
    write(tmp_path, "deploy.md", "Deploy.\n")
    write(tmp_path, "frontend/component.md", "Make a component.\n")
    write(tmp_path, "security/test-examples/test-css-hiding.md", "Test CSS hiding.\n")
    catalogue = load(tmp_path)
    assert [(s.id, s.aliases, s.namespace, s.label) for s in catalogue] == [
        ("deploy", (), None, "(project)"),
        ("frontend:component", ("component",), "frontend", "(project:frontend)"),
        (
            "security:test-examples:test-css-hiding",
            ("test-css-hiding",),
            "security:test-examples",
            "(project:security:test-examples)",
        ),
    ]
    assert catalogue.names() == {
        "deploy",
        "frontend:component",
        "component",
        "security:test-examples:test-css-hiding",
        "test-css-hiding",
    }
    assert catalogue.get("component") is catalogue.get("frontend:component")
    assert catalogue.get("/deploy") is None
    assert len(catalogue) == 3


def test_an_id_beats_a_basename_alias(tmp_path: Path) -> None:
    write(tmp_path, "component.md", "Top level.\n")
    write(tmp_path, "frontend/component.md", "Namespaced.\n")
    catalogue = load(tmp_path)
    top = catalogue.get("component")
    assert top is not None
    assert top.description == "Top level."
    assert catalogue.get("frontend:component") is not None
    assert all(spec.aliases == () for spec in catalogue)
    assert catalogue.ambiguous == {}


def test_a_basename_shared_by_two_namespaces_is_ambiguous(tmp_path: Path) -> None:
    write(tmp_path, "frontend/test.md", "Front.\n")
    write(tmp_path, "backend/test.md", "Back.\n")
    write(tmp_path, "backend/migrate.md", "Migrate.\n")
    catalogue = load(tmp_path)
    assert catalogue.get("test") is None
    assert "test" not in catalogue.names()
    assert catalogue.ambiguous == {"test": ("backend:test", "frontend:test")}
    migrate = catalogue.get("migrate")
    assert migrate is not None
    assert migrate.id == "backend:migrate"


def test_readme_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# Commands\n")
    write(tmp_path, "dev/readme.md", "# Dev commands\n")
    write(tmp_path, "dev/ReadMe.md", "# Dev commands\n")
    write(tmp_path, "dev/code-review.md", "# Code review\n")
    write(tmp_path, "notes.txt", "not a command\n")
    catalogue = load(tmp_path)
    assert [spec.id for spec in catalogue] == ["dev:code-review"]
    assert catalogue.problems == ()


def test_frontmatter_name_is_ignored_but_kept(tmp_path: Path) -> None:
    text = "---\nname: gsd:plan-phase\ndescription: Plan a phase\n---\nbody\n"
    write(tmp_path, "gsd/plan-phase.md", text)
    write(tmp_path, "gsd/other.md", "---\nname: something-else\n---\nOther.\n")
    catalogue = load(tmp_path)
    assert [spec.id for spec in catalogue] == ["gsd:other", "gsd:plan-phase"]
    assert catalogue.get("something-else") is None
    spec = catalogue.get("plan-phase")
    assert spec is not None
    assert spec.metadata["name"] == "gsd:plan-phase"


def test_a_file_name_with_spaces_is_a_problem(tmp_path: Path) -> None:
    write(tmp_path, "my command.md", "x\n")
    write(tmp_path, "ok.md", "x\n")
    catalogue = load(tmp_path)
    assert [spec.id for spec in catalogue] == ["ok"]
    assert [str(p) for p in catalogue.problems] == [
        "commands/my command.md: a command's file and folder names cannot contain spaces or ':'"
    ]


def test_a_missing_directory_is_an_empty_catalogue(tmp_path: Path) -> None:
    catalogue = load(tmp_path)
    assert len(catalogue) == 0
    assert catalogue.names() == frozenset()
    assert catalogue.problems == ()


# Claude Code files ---------------------------------------------------------------------


def test_qdhenry_style_file_without_frontmatter(tmp_path: Path) -> None:
    text = "# Code Review\n\nReview the code for quality and security.\n\n$ARGUMENTS\n"
    spec = only(tmp_path, text, "dev/code-review.md")
    assert spec.description == "Code Review"
    assert spec.body == text
    assert spec.metadata == {}
    assert spec.argument_hint == ""
    assert not spec.runnable
    assert spec.permission is Permission.WRITE
    assert (spec.timeout_s, spec.rerun_on_edit, spec.concurrency) == (60.0, False, "none")


def test_description_defaults_to_the_first_line_of_the_body(tmp_path: Path) -> None:
    text = "---\nallowed-tools: Read\ndescription:\n---\n\n\n  Explain the diff.\nMore.\n"
    assert only(tmp_path, text).description == "Explain the diff."


def test_pitfall_files_all_load(tmp_path: Path) -> None:
    write(
        tmp_path,
        "plan_w_team.md",
        "---\ndescription: Plan\nargument-hint: [user prompt] [orchestration prompt]\n"
        "model: opus\ndisallowed-tools: Task, EnterPlanMode\n---\nbody\n",
    )
    write(tmp_path, "implement.md", "---\nargument-hint: [path-to-plan]\n---\nImplement it.\n")
    write(tmp_path, "skill.md", "---\ndescription: Triggers include: X, Y\n---\nbody\n")
    write(
        tmp_path,
        "commit.md",
        "---\nallowed-tools: Bash(git add:*), Bash(git status:*) Read\n---\nCommit.\n",
    )
    write(tmp_path, "gsd/plan-phase.md", "---\nallowed-tools:\n  - Read\n  - Bash\n---\nPlan.\n")
    catalogue = load(tmp_path)
    assert catalogue.problems == ()

    def spec(name: str) -> CommandSpec:
        found = catalogue.get(name)
        assert found is not None
        return found

    assert spec("plan_w_team").argument_hint == "[user prompt] [orchestration prompt]"
    assert spec("plan_w_team").metadata["model"] == "opus"
    assert spec("implement").argument_hint == "[path-to-plan]"
    assert spec("implement").description == "Implement it."
    assert spec("skill").description == "Triggers include: X, Y"
    assert spec("commit").metadata["allowed-tools"] == "Bash(git add:*), Bash(git status:*) Read"
    assert spec("plan-phase").metadata["allowed-tools"] == ["Read", "Bash"]


def test_odd_claude_code_fields_do_not_break_a_file(tmp_path: Path) -> None:
    text = (
        "---\nallowed-tools: 42\nmodel: [a, b]\ndisable-model-invocation: maybe\nhooks: nope\n"
        "context: 7\neffort: extreme\narguments: {x: 1}\n---\nbody\n"
    )
    spec = only(tmp_path, text)
    assert spec.metadata["effort"] == "extreme"


def test_metadata_is_read_only(tmp_path: Path) -> None:
    spec = only(tmp_path, "---\nmodel: opus\n---\n")
    with pytest.raises(TypeError):
        spec.metadata["model"] = "haiku"  # type: ignore[index]


def test_specs_are_hashable(tmp_path: Path) -> None:
    spec = only(tmp_path, REPORT)
    assert {spec: 1}[spec] == 1


# Bot fields ----------------------------------------------------------------------------


def test_every_bot_field(report: CommandSpec) -> None:
    assert report.runnable
    assert report.handler == "generate_report"
    assert report.permission is Permission.TRIAGE
    assert report.trigger_labels == ("report:requested", "Report:Weekly")
    assert report.timeout_s == 120.0
    assert report.rerun_on_edit is True
    assert report.concurrency == "repository"
    assert report.argument_hint == "[since] [label]"
    assert report.description == "Summarise the repository's issues"
    assert [(p.name, p.type, p.default, p.required, p.choices) for p in report.parameters] == [
        ("since", "since", "30d", False, ()),
        ("label", "string", None, False, ()),
        ("limit", "integer", 10, False, ()),
        ("ratio", "number", None, False, ()),
        ("dry-run", "boolean", False, False, ()),
        ("format", "string", "markdown", False, ("markdown", "csv")),
    ]
    assert report.parameters[0].description == "how far back to look"


def test_bot_fields_in_the_fallback_parser_are_strings_and_still_read(tmp_path: Path) -> None:
    text = (
        "---\nargument-hint: [a] [b]\nhandler: h\npermission: Admin\ntimeout: 2.5\n"
        "rerun-on-edit: on\nconcurrency: Issue\ntrigger-labels: bug, help wanted\n"
        "parameters:\n  a: integer\n  b: {type: boolean}\n---\n"
    )
    spec = only(tmp_path, text)
    assert spec.argument_hint == "[a] [b]"
    assert spec.permission is Permission.ADMIN
    assert (spec.timeout_s, spec.rerun_on_edit, spec.concurrency) == (2.5, True, "issue")
    assert spec.trigger_labels == ("bug", "help wanted")
    assert [p.type for p in spec.parameters] == ["integer", "boolean"]


def test_empty_bot_fields_are_defaults(tmp_path: Path) -> None:
    spec = only(tmp_path, "---\nhandler:\npermission:\ntimeout:\nparameters:\n---\n")
    assert not spec.runnable
    assert (spec.permission, spec.timeout_s, spec.parameters) == (Permission.WRITE, 60.0, ())


def test_default_permission_is_write_for_handlers(tmp_path: Path) -> None:
    assert only(tmp_path, "---\nhandler: h\n---\n").permission is Permission.WRITE


def test_caller_defaults_per_command(tmp_path: Path) -> None:
    write(tmp_path, "help.md", "---\nhandler: help\n---\n")
    write(tmp_path, "ops/deploy.md", "---\nhandler: deploy\npermission: admin\n---\n")
    defaults = {"help": Permission.READ, "ops:deploy": Permission.READ}
    catalogue = load(tmp_path, default_permissions=defaults)
    assert [(s.id, s.permission) for s in catalogue] == [
        ("help", Permission.READ),
        ("ops:deploy", Permission.ADMIN),  # the file's own field wins
    ]


def test_known_handlers(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "---\nhandler: help\n---\n")
    write(tmp_path, "b.md", "---\nhandler: generat_report\n---\n")
    write(tmp_path, "c.md", "A prompt command.\n")
    catalogue = load(tmp_path, known_handlers={"help": None, "generate_report": None})
    assert [spec.id for spec in catalogue] == ["a", "c"]
    assert [str(p) for p in catalogue.problems] == [
        "commands/b.md: handler: the bot has no handler 'generat_report'; "
        "it has: generate_report, help"
    ]


def test_trigger_labels_are_matched_case_insensitively(tmp_path: Path) -> None:
    write(tmp_path, "b.md", "---\nhandler: h\ntrigger-labels: report:requested\n---\n")
    write(tmp_path, "a.md", "---\nhandler: h\ntrigger-labels: [Report:Requested, other]\n---\n")
    catalogue = load(tmp_path)
    assert [s.id for s in catalogue.by_trigger_label("REPORT:requested")] == ["a", "b"]
    assert [s.id for s in catalogue.by_trigger_label("other")] == ["a"]
    assert catalogue.by_trigger_label("nothing") == ()


@pytest.mark.parametrize(
    ("frontmatter", "reason"),
    [
        (
            "permission: superuser",
            "permission: unknown permission 'superuser'; "
            "use one of: none, read, triage, write, maintain, admin",
        ),
        ("timeout: -1", "timeout: expected a number of seconds greater than 0, got -1"),
        ("timeout: 0", "timeout: expected a number of seconds greater than 0, got 0"),
        ("timeout: soon", "timeout: expected a number, got 'soon'"),
        ("timeout: .inf", "timeout: expected a number, got inf"),
        ("rerun-on-edit: sometimes", "rerun-on-edit: expected true/false"),
        ("concurrency: cluster", "concurrency: use one of issue, repository, global, none"),
        ("trigger-labels: {a: 1}", "trigger-labels: expected a label name or a list of them"),
        ("trigger-labels: " + "x" * 51, "trigger-labels: GitHub label names have at most 50"),
        ("parameters: [since]", "parameters: expected a mapping of name: type"),
        (
            "parameters: {since: duration}",
            "parameters: since: unknown type 'duration'; "
            "use one of string, integer, number, boolean, since",
        ),
        ("parameters: {n: {type: integer, dflt: 3}}", "parameters: n: unknown key 'dflt'"),
        (
            "parameters: {n: {type: integer, default: x}}",
            "parameters: n: expected a whole number, got 'x'",
        ),
        ("parameters: {s: {type: since, default: banana}}", "parameters: s: expected a window"),
        (
            "parameters: {f: {choices: [md, csv], default: pdf}}",
            "parameters: f: expected one of md, csv; got 'pdf'",
        ),
        (
            "parameters: {n: {type: integer, choices: [1, two]}}",
            "parameters: n: expected a whole number, got 'two'",
        ),
        ("parameters: {n: {type: integer, choices: 3}}", "parameters: n: choices: expected a list"),
        (
            "parameters: {b: {type: boolean, choices: [true]}}",
            "parameters: b: a boolean parameter cannot have choices",
        ),
        (
            "parameters: {n: {required: true, default: 1}}",
            "parameters: n: a required parameter cannot have a",
        ),
        ("parameters: {n: {required: perhaps}}", "parameters: n: expected true/false"),
        ("parameters: {'bad name': string}", "parameters: bad name: a parameter name has"),
        ("parameters: {n: [integer]}", "parameters: n: expected a type name or a mapping"),
        ("handler: [a, b]", "handler: expected the handler's name"),
        ("handler: two words", "handler: expected one name without spaces"),
    ],
)
def test_an_invalid_bot_field_is_a_problem(tmp_path: Path, frontmatter: str, reason: str) -> None:
    message = problem_of(tmp_path, frontmatter)
    assert message.startswith(f"commands/bad.md: {reason}")


def test_every_reason_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    message = problem_of(tmp_path, "permission: root\ntimeout: -5")
    assert message == (
        "commands/bad.md: permission: unknown permission 'root'; use one of: none, read, "
        "triage, write, maintain, admin; timeout: expected a number of seconds greater "
        "than 0, got -5"
    )


def test_unreadable_files_are_problems(tmp_path: Path) -> None:
    (tmp_path / "commands" / "sub").mkdir(parents=True)
    (tmp_path / "commands" / "sub" / "latin1.md").write_bytes(b"caf\xe9\n")
    (tmp_path / "commands" / "gone.md").symlink_to(tmp_path / "nowhere.md")
    write(tmp_path, "ok.md", "fine\n")
    catalogue = load(tmp_path)
    assert [spec.id for spec in catalogue] == ["ok"]
    assert [str(p) for p in catalogue.problems] == [
        "commands/gone.md: cannot read the file: No such file or directory",
        "commands/sub/latin1.md: not UTF-8 text; save the file as UTF-8",
    ]


def test_an_unreadable_folder_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "ok.md", "fine\n")
    write(tmp_path, "locked/hidden.md", "unseen\n")
    locked = tmp_path / "commands" / "locked"
    real_scandir = os.scandir

    def scandir(path: Path) -> Iterator[os.DirEntry[str]]:
        if Path(path) == locked:  # root ignores file modes, so refuse the way the OS would
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    catalogue = load(tmp_path)
    assert [spec.id for spec in catalogue] == ["ok"]
    assert [str(p) for p in catalogue.problems] == [
        "commands/locked: cannot read the folder: Permission denied"
    ]


def test_a_yaml_date_default_is_kept_as_text(tmp_path: Path) -> None:
    text = "---\nhandler: h\nparameters:\n  since: {type: since, default: 2026-11-01}\n---\n"
    assert only(tmp_path, text).parameters[0].default == "2026-11-01"


# parse_since ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("30d", NOW - timedelta(days=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 2W ", NOW - timedelta(weeks=2)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-15", datetime(2026, 11, 15, tzinfo=UTC)),
        ("521w", NOW - timedelta(weeks=521)),
    ],
)
def test_parse_since(text: str, start: datetime) -> None:
    parsed = parse_since(text, NOW)
    assert parsed == start
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("banana", "expected a window such as 7d, 12h or 2w, or a date such as 2026-11-01"),
        ("", "expected a window"),
        ("7", "expected a window"),
        ("7 days", "expected a window"),
        ("1.5d", "expected a window"),
        ("7m", "expected a window"),
        ("0d", "the window must be longer than zero"),
        ("-7d", "the window must be longer than zero"),
        ("3654d", "the window must be at most ten years"),
        ("99999999999999999999w", "the window must be at most ten years"),
        ("2026-11-16", "2026-11-16 is in the future"),
        ("2030-01-01", "is in the future"),
        ("2016-11-01", "2016-11-01 is more than ten years ago"),
        ("2026-02-30", "no such date: '2026-02-30'"),
        ("2026-11-01T00:00", "expected a window"),
    ],
)
def test_parse_since_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_since(text, NOW)


def test_parse_since_converts_now_to_utc() -> None:
    naive = datetime(2026, 11, 15, 12, 30)
    assert parse_since("1d", naive) == NOW - timedelta(days=1)
    other_zone = NOW.astimezone(datetime.now().astimezone().tzinfo)
    assert parse_since("1d", other_zone).tzinfo is UTC


def test_check_since_checks_against_today() -> None:
    assert check_since(" 30d ") == "30d"
    # Arguments are validated when the run starts, so the future is refused there.
    with pytest.raises(ValueError, match="is in the future"):
        check_since("2099-01-01")
    with pytest.raises(ValueError, match="expected a window"):
        check_since("banana")


# Parameters ----------------------------------------------------------------------------


def test_bind_positional_and_options(report: CommandSpec) -> None:
    bound = bind_arguments(report, ["7d", "bug"], {"limit": "30", "dry-run": "yes"})
    assert bound == {
        "since": "7d",
        "label": "bug",
        "limit": 30,
        "ratio": None,
        "dry-run": True,
        "format": "markdown",
    }


def test_bind_defaults_and_coercions(report: CommandSpec) -> None:
    bound = bind_arguments(report, [], {"ratio": "0.5", "dry-run": True, "format": "csv"})
    assert bound["since"] == "30d"
    assert bound["ratio"] == 0.5
    assert bound["dry-run"] is True
    assert bound["format"] == "csv"
    assert bind_arguments(report, [], {"dry-run": False})["dry-run"] is False


def test_bind_required_parameters(tmp_path: Path) -> None:
    spec = only(
        tmp_path, "---\nhandler: h\nparameters:\n  n: {type: integer, required: yes}\n---\n"
    )
    assert bind_arguments(spec, ["3"], {}) == {"n": 3}
    with pytest.raises(ParameterError) as caught:
        bind_arguments(spec, [], {})
    assert caught.value.errors == ["n: required"]
    assert caught.value.usage == "/cmd <n>\n  n (integer, required)"


@pytest.mark.parametrize(
    ("positional", "options", "errors"),
    [
        (
            ["7d", "bug", "1", "2", "yes", "csv", "extra"],
            {},
            ["too many arguments: expected at most 6 (since, label, limit, ratio, dry-run, "
             "format), got 7"],
        ),
        (
            [],
            {"colour": "red"},
            ["colour: unknown parameter; use one of since, label, limit, ratio, dry-run, format"],
        ),
        ([], {"limit": "ten"}, ["limit: expected a whole number, got 'ten'"]),
        ([], {"limit": True}, ["limit: expected a whole number, got True"]),
        ([], {"ratio": "nan"}, ["ratio: expected a number, got 'nan'"]),
        ([], {"dry-run": "perhaps"}, ["dry-run: expected true/false (or yes/no, on/off, 1/0), "
                                     "got 'perhaps'"]),
        ([], {"format": "pdf"}, ["format: expected one of markdown, csv; got 'pdf'"]),
        ([], {"label": True}, ["label: expected text, got True"]),
        (
            ["banana"],
            {},
            ["since: expected a window such as 7d, 12h or 2w, or a date such as 2026-11-01; "
             "got 'banana'"],
        ),
        (["0d"], {}, ["since: the window must be longer than zero, got '0d'"]),
        (
            ["7d"],
            {"since": "30d", "limit": "x"},
            ["since: given twice, as an argument and as an option",
             "limit: expected a whole number, got 'x'"],
        ),
    ],
)  # fmt: skip
def test_bind_errors(
    report: CommandSpec,
    positional: list[str],
    options: dict[str, str | bool],
    errors: list[str],
) -> None:
    with pytest.raises(ParameterError) as caught:
        bind_arguments(report, positional, options)
    assert caught.value.errors == errors
    assert str(caught.value) == "; ".join(errors)
    assert caught.value.usage == usage(report)
    assert isinstance(caught.value, ValueError)


def test_a_command_without_parameters(tmp_path: Path) -> None:
    spec = only(tmp_path, "---\nhandler: h\n---\n")
    assert bind_arguments(spec, [], {}) == {}
    with pytest.raises(ParameterError) as caught:
        bind_arguments(spec, ["x"], {"y": "1"})
    assert caught.value.errors == [
        "this command takes no arguments, got 1",
        "y: unknown parameter; this command takes none",
    ]


def test_usage(report: CommandSpec) -> None:
    assert usage(report) == (
        "/generate-report [since] [label]\n"
        "  since (since, default 30d): how far back to look\n"
        "  label (string)\n"
        "  limit (integer, default 10)\n"
        "  ratio (number)\n"
        "  dry-run (boolean, default false): only show what would change\n"
        "  format (string, one of markdown, csv, default markdown)"
    )


def test_parameters_model_is_built_once_and_forbids_extras(report: CommandSpec) -> None:
    model = parameters_model(report)
    assert parameters_model(report) is model
    assert model.model_validate({"limit": 5}).model_dump(by_alias=True)["limit"] == 5
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({"unknown": 1})
    assert model.model_json_schema()["properties"]["limit"]["type"] == "integer"


def test_parameter_names_cannot_clash_with_the_model(tmp_path: Path) -> None:
    text = "---\nhandler: h\nparameters:\n  json: string\n  model_config: integer\n---\n"
    spec = only(tmp_path, text)
    assert bind_arguments(spec, ["x", "2"], {}) == {"json": "x", "model_config": 2}


# Scale ---------------------------------------------------------------------------------


def _real_world_tree(root: Path, count: int) -> None:
    shapes = [
        REPORT,
        "# Code Review\n\nReview the code.\n\n$ARGUMENTS\n",
        "---\nallowed-tools: Bash(git add:*), Bash(git status:*)\ndescription: Commit\n---\n"
        "!`git status`\n",
        "---\ndescription: Plan\nargument-hint: [user prompt] [orchestration prompt]\n"
        "model: opus\n---\nPlan $ARGUMENTS\n",
        '---\nname: gsd:x\ndescription: GSD\nargument-hint: "[phase]"\nallowed-tools:\n'
        "  - Read\n  - Bash\n---\n<objective>$ARGUMENTS</objective>\n",
    ]
    for index in range(count):
        folder = ("", "dev/", "gsd/", "security/test-examples/")[index % 4]
        write(root, f"{folder}command-{index}.md", shapes[index % len(shapes)] + "text\n" * 40)


def test_loading_150_files_is_fast(tmp_path: Path) -> None:
    _real_world_tree(tmp_path, 150)
    durations = []
    for _ in range(3):
        started = time.perf_counter()
        catalogue = load(tmp_path)
        durations.append(time.perf_counter() - started)
    assert len(catalogue) == 150
    assert catalogue.problems == ()
    assert min(durations) < 0.1, durations
